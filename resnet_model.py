# -*- coding: UTF-8 -*-
# File: resnet_model.py
"""The architectures, as the original benchmark named them: webvision.model.resnet (ResNet-18..152,
pre-activation, SE, ResNeXt 32x4d..32x48d; the layer names are the checkpoint format). Import the
package in new code."""
from webvision.model.resnet import *  # noqa: F401,F403
