#!/usr/bin/env python3
"""webvision-submit (webvision/commands/json2sub.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('json2sub')
