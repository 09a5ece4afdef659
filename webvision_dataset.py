# -*- coding: UTF-8 -*-
# File: webvision_dataset.py
"""The data layout and DataFlows, as the original benchmark named them: webvision.dataflow.dataset
(WebVisionMeta, the file lists, the training and evaluation DataFlows, LMDB). Import the package in
new code."""
from webvision.dataflow.dataset import *  # noqa: F401,F403
