"""tensorpack DataFlows over a prepared root: its layout, the file lists, the training and evaluation loaders, LMDB."""
