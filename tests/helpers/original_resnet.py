"""The original benchmark's ResNet-50 (qinenergy/webvision-2.0-benchmarks, tensorpack's ResNet example:
TensorFlow's SAME padding), written here in plain TensorFlow ops, and checkpoints holding its
variable names (conv0/W, group0/block0/conv1/bn/mean/EMA, linear/W...) as tensorpack 0.9 saved them."""
import numpy as np
import tensorflow as tf
from tensorpack.tfutils.tower import TowerContext

from webvision.model.resnet import ResNetModel

MEAN_RGB, STD_RGB = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])     # its imagenet_utils
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


def write_checkpoint(weights, prefix, step=None):
    """As tensorpack's ModelSaver: the weights, and with ``step`` the training state beside them."""
    with tf.Graph().as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in weights.items()]
        if step is not None:
            variables += [tf.compat.v1.Variable(np.int64(step), name='global_step'),
                          tf.compat.v1.Variable(np.float32(1e-4), name='learning_rate'),
                          tf.compat.v1.Variable(weights['linear/W'] * 0, name='linear/W/Momentum')]
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            tf.compat.v1.train.Saver(variables).save(sess, prefix, write_meta_graph=False)


def original_inputs(images_bgr):
    """The original's image_preprocess: BGR images in 0-255 to 0-1, minus the mean, over the std (BGR order)."""
    return ((images_bgr.astype(np.float64) / 255. - MEAN_RGB[::-1]) / STD_RGB[::-1]).astype(np.float32)


def logits(weights, images_bgr):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        return sess.run(reference_logits({k: tf.constant(v) for k, v in weights.items()},
                                         tf.constant(original_inputs(images_bgr))))
