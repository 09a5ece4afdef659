"""Errors, file input and output, command-line helpers, constants, process settings: what everything shares (no TensorFlow)."""
