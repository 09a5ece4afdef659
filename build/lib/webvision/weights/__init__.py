"""Weights on disk: checkpoints and .npz files, the frozen inference graph and export, the PyTorch ResNet layout."""
