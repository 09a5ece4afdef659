#!/usr/bin/env python3
"""webvision-report (webvision/commands/report.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('report')
