#!/usr/bin/env python3
"""webvision-score (webvision/commands/eval_score.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('eval_score')
