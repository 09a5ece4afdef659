"""Assembling a training run: callbacks, trainers (one machine or many), the learning-rate schedule, the weight average."""
