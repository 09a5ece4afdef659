"""What the model is trained with beside its architecture: losses, mixing, the recipe."""
