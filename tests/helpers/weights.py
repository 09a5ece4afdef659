"""Random weights for graphs, the same in every graph that has the variables."""
import numpy as np
import tensorflow as tf
from tensorpack.tfutils.sessinit import SessionInit


class RandomWeights(SessionInit):
    """The same random weights in every graph, batch norm statistics included (a freshly
    initialised model's are 0 and 1, which would leave folding nothing to get wrong)."""

    def _run_init(self, sess):
        rng = np.random.RandomState(0)
        for v in sorted(tf.compat.v1.global_variables(), key=lambda v: v.op.name):
            shape = v.shape.as_list()
            if v.op.name.endswith(('/gamma', '/variance/EMA')):
                value = rng.uniform(0.5, 1.5, shape)
            elif v.op.name.endswith('/W'):
                value = rng.normal(0, np.sqrt(2. / np.prod(shape[:-1])), shape)
            else:
                value = rng.normal(0, 0.2, shape)
            v.load(value.astype(v.dtype.as_numpy_dtype), sess)
