"""What runs produce and tools read: the challenge metric and scoring, predictions and probability files, per-image losses and the noisy-label split, a run's statistics (no TensorFlow)."""
