#!/usr/bin/env python3
"""webvision-preview-transform (webvision/commands/preview_transform.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('preview_transform')
