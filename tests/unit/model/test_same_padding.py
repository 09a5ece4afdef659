"""--padding same: the original benchmark's graph (tensorpack's ResNet example, TensorFlow's SAME
padding), checked against a ResNet-50 forward written here in plain TensorFlow ops, from a
checkpoint holding the original's variable names (conv0/W, group0/block0/conv1/bn/mean/EMA, linear/W...)."""
import numpy as np
import pytest
import tensorflow as tf
from tensorpack.predict import OfflinePredictor, PredictConfig
from tensorpack.tfutils.tower import TowerContext

from webvision.core.constants import IMAGE_MEAN_RGB, IMAGE_STD_RGB
from webvision.model.resnet import ResNetModel
from webvision.weights.checkpoints import WeightLoader

EPS = 1e-5          # tensorpack's BatchNorm


def original_variables(size):
    """name -> shape of the original's ResNet-50 variables (the names are the checkpoint format)."""
    with tf.Graph().as_default(), TowerContext('', is_training=False):
        model = ResNetModel(50, num_classes=10, data_format='NHWC', image_size=size, padding='same')
        model.get_logits(tf.compat.v1.placeholder(tf.float32, [None, size, size, 3]))
        return {v.op.name: v.shape.as_list() for v in tf.compat.v1.global_variables()}


def random_weights(shapes, seed=0):
    rng = np.random.RandomState(seed)
    out = {}
    for name, shape in shapes.items():
        if name.endswith('/W') and len(shape) == 4:
            v = rng.normal(0, (2. / np.prod(shape[:3])) ** 0.5, shape)
        elif name.endswith('variance/EMA'):
            v = rng.uniform(0.5, 1.5, shape)
        elif name.endswith('/gamma'):
            v = rng.uniform(0.75, 1.25, shape)
        else:
            v = rng.normal(0, 0.1, shape)
        out[name] = v.astype(np.float32)
    return out


def reference_logits(w, x):
    """ResNet-50 v1.5 as the original's graph computes it: SAME padding everywhere (the odd pixel
    after), max-pool 3/2 SAME, batch norm from the moving averages."""
    def bn(n, y):
        return tf.nn.batch_normalization(y, w[n + '/bn/mean/EMA'], w[n + '/bn/variance/EMA'], w[n + '/bn/beta'],
                                         w[n + '/bn/gamma'], EPS)

    def conv(n, y, stride):
        return tf.nn.conv2d(y, w[n + '/W'], stride, 'SAME')
    y = tf.nn.max_pool2d(tf.nn.relu(bn('conv0', conv('conv0', x, 2))), 3, 2, 'SAME')
    for g, (blocks, stride) in enumerate(zip((3, 4, 6, 3), (1, 2, 2, 2))):
        for b in range(blocks):
            p, s = 'group{}/block{}/'.format(g, b), stride if b == 0 else 1
            z = tf.nn.relu(bn(p + 'conv1', conv(p + 'conv1', y, 1)))
            z = tf.nn.relu(bn(p + 'conv2', conv(p + 'conv2', z, s)))
            z = bn(p + 'conv3', conv(p + 'conv3', z, 1))
            short = bn(p + 'convshortcut', conv(p + 'convshortcut', y, s)) if p + 'convshortcut/W' in w else y
            y = tf.nn.relu(z + short)
    return tf.matmul(tf.reduce_mean(y, [1, 2]), w['linear/W']) + w['linear/b']


def write_checkpoint(weights, prefix):
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in weights.items()]
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(variables).save(sess, prefix, write_meta_graph=False)


@pytest.mark.slow
def test_the_original_graph_gives_the_original_checkpoints_logits(tmp_path):
    """At 64 px SAME pads the stem 2 before and 3 after (the symmetric graph 3 and 3): only 'same'
    gives the original's logits. (At odd sizes such as 97, 49, 25, 13, 7, SAME pads evenly at every
    stride and the two graphs agree.)"""
    size = 64
    weights = random_weights(original_variables(size))
    prefix = str(tmp_path / 'model-1055000')
    write_checkpoint(weights, prefix)
    images = np.random.RandomState(1).randint(0, 256, (2, size, size, 3)).astype(np.uint8)
    x = ((images.astype(np.float32) - IMAGE_MEAN_RGB[::-1]) / IMAGE_STD_RGB[::-1]).astype(np.float32)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        expected = sess.run(reference_logits({k: tf.constant(v) for k, v in weights.items()}, tf.constant(x)))
    for padding, close in (('same', True), ('symmetric', False)):
        model = ResNetModel(50, num_classes=10, data_format='NHWC', image_size=size, padding=padding)
        pred = OfflinePredictor(PredictConfig(model=model, session_init=WeightLoader(prefix, strict=True),
                                              input_names=['input'], output_names=['logits']))
        got = pred(images)[0]
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert (error < 1e-4) == close, (padding, error)


def test_an_unknown_padding_is_refused():
    with pytest.raises(ValueError, match="padding 'valid' is not one of symmetric, same"):
        ResNetModel(18, padding='valid')
