#!/usr/bin/env python3
"""webvision-split-noisy (webvision/commands/split_noisy.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('split_noisy')
