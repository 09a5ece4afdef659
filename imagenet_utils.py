# -*- coding: UTF-8 -*-
# File: imagenet_utils.py
"""The model contract, as the original benchmark named it: webvision.model.contract (ImageNetModel:
input, normalisation, in-graph colour augmentation, loss, metrics, weight decay, optimizer; and
fb.resnet.torch's reference augmentors). Import the package in new code."""
from webvision.model.contract import *  # noqa: F401,F403
