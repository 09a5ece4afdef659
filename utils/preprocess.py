#!/usr/bin/env python3
"""webvision-prepare (webvision/commands/preprocess.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('preprocess')
