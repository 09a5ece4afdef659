#!/usr/bin/env python3
"""webvision-demo-data (webvision/commands/make_demo_data.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('make_demo_data')
