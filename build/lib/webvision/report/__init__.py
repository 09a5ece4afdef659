"""The analysis report page and its figures (no TensorFlow)."""
