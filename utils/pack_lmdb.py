#!/usr/bin/env python3
"""webvision-pack-lmdb (webvision/commands/pack_lmdb.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('pack_lmdb')
