#!/usr/bin/env python3
"""webvision-extract (webvision/commands/safe_extract.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('safe_extract')
