#!/usr/bin/env python3
"""webvision-imagenet-val (webvision/commands/prepare_imagenet_val.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('prepare_imagenet_val')
