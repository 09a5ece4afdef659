#!/usr/bin/env python3
"""webvision-check-data (webvision/commands/check_data.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('check_data')
