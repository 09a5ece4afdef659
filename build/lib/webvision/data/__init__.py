"""Datasets on disk: the WebVision layouts, lists and their bulk scan, decoding and evaluation transforms, bad images, the data checker, the demo set (no TensorFlow)."""
