"""Predicting with a model over a whole list: towers, the frozen graph, predictions and probabilities written."""
