#!/usr/bin/env python3
"""webvision-plot-log (webvision/commands/plot_log.py) at the seed's path; --help lists its flags."""
from _entry import run

if __name__ == '__main__':
    run('plot_log')
