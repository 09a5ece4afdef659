#!/usr/bin/env python3
"""webvision-convert (webvision/commands/convert_torch.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('convert_torch')
