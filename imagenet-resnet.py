#!/usr/bin/env python3
# File: imagenet-resnet.py
"""The seed's command line at its path: webvision-train (webvision/commands/train.py).

  python3 imagenet-resnet.py --data ROOT --gpu 0,1,2,3 -d 50 --mode resnet
  python3 imagenet-resnet.py --data ROOT -d 50 --mode resnet --eval --load train_log/RUN/model-N
  python3 imagenet-resnet.py --help
"""
from webvision.commands.train import run_command

if __name__ == '__main__':
    run_command()
