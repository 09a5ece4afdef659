#!/usr/bin/env python3
"""webvision-convert-caffe (webvision/commands/convert_caffe.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('convert_caffe')
