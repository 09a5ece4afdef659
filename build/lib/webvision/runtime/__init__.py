"""TensorFlow's runtime as the toolkit uses it: the import-order switch for tensorpack, sessions, stopping on signals."""
