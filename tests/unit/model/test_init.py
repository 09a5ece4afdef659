"""webvision/model/init.py and the graph options it sets: the initial values and the decayed
variables of a built ResNet-18, read from a session, for each flag."""
import numpy as np
import pytest
import tensorflow as tf
from tensorpack.tfutils.tower import TowerContext

from webvision.model import init
from webvision.model.resnet import ResNetModel


def initial_values(**options):
    """{variable name: initial value} and the names the weight decay covers, of ResNet-18 (10 classes)."""
    with tf.Graph().as_default():
        tf.compat.v1.set_random_seed(0)
        model = ResNetModel(18, num_classes=10, image_size=32, **options)
        with TowerContext('', is_training=True):
            inputs = [tf.compat.v1.placeholder(s.dtype, s.shape, s.name) for s in model.inputs()]
            model.build_graph(*inputs)
        decayed = [op.name for op in tf.compat.v1.get_default_graph().get_operations()
                   if op.name.startswith('l2_regularize_loss_internals/') and op.type == 'L2Loss']
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            values = {v.op.name: sess.run(v) for v in tf.compat.v1.trainable_variables()}
            # tensorpack's moving-average update: moving -= (moving - batch) * (1 - momentum)
            momenta = {round(1 - float(sess.run(name + '/bn/AssignMovingAvg/sub:0')), 6)
                       for name in ('conv0', 'group1/block0/conv1', 'group3/block1/conv2')}
    return values, decayed, momenta


def last_gammas(values):
    return [v for k, v in values.items() if k.endswith('conv2/bn/gamma')]


def test_the_originals_initialisation_on_request():
    values, decayed, momenta = initial_values(zero_init_residual=True, head_init='normal')
    assert momenta == {0.9}
    assert len(last_gammas(values)) == 8 and all((g == 0).all() for g in last_gammas(values))
    head = values['linear/W']
    assert abs(head.std() - 0.01) < 0.001 and (values['linear/b'] == 0).all()
    assert len(decayed) == 21          # 20 convolutions and the classifier's weights, no gamma, beta or bias


def test_pytorchs_initialisation_is_the_default():
    values, decayed, momenta = initial_values(bn_weight_decay=True, bn_momentum=0.99)
    assert momenta == {0.99}
    assert all((g == 1).all() for g in last_gammas(values))
    bound = 512 ** -0.5                                # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    w, b = values['linear/W'], values['linear/b']
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound and abs(w.std() - bound / 3 ** 0.5) < 0.001
    assert np.abs(b).max() <= bound and len(np.unique(b)) == 10
    assert len(decayed) == len(values) == 21 + 2 * 20 + 1      # and every gamma, beta and the bias


def test_weight_decay_zero_builds_no_decay():
    _, decayed, _ = initial_values(weight_decay=0.)
    assert decayed == []


def test_flags_reach_the_model_and_bad_values_are_refused(driver):
    assert init.init_options(driver.get_args_parser().parse_args([])) == dict(
        zero_init_residual=False, head_init='uniform', weight_decay=1e-4, bn_weight_decay=False, bn_momentum=0.9)
    args = driver.get_args_parser().parse_args(['--zero-init-residual', '--head-init', 'normal',
                                               '--bn-weight-decay', '--weight-decay', '5e-5', '--bn-momentum', '0.99'])
    assert init.init_options(args) == dict(zero_init_residual=True, head_init='normal', weight_decay=5e-5,
                                           bn_weight_decay=True, bn_momentum=0.99)
    for flag, value, message in (('--weight-decay', '-1', r'--weight-decay must be in \[0, 1\), got -1.0'),
                                 ('--weight-decay', 'nan', '--weight-decay must be in'),
                                 ('--bn-momentum', '1', r'--bn-momentum must be in \(0, 1\), got 1.0')):
        with pytest.raises(init.InitError, match=message):
            init.check_init(driver.get_args_parser().parse_args([flag, value]))
