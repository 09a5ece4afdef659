#!/usr/bin/env python3
"""Building a deep graph and loading weights into it, the two costs every run pays before its first
step: building ResNet-152-SE with TF1's tensor equality (webvision.runtime.tfcompat sets it) beside
TF2's (TensorFlow's default), and loading ResNeXt-101 32x8d's arrays in one session call
(webvision.runtime.session.load_values) beside one Variable.load per array. Each measurement runs in
a fresh process; the two sides alternate.

  bench/graph_load.py [--repeats 2] [--build-depth 152 --build-mode se] [--load-arch 101 resnext 8]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build(depth, mode, group_width=4):
    import tensorflow as tf
    from tensorpack.tfutils.tower import TowerContext
    from webvision.model.resnet import ResNetModel
    with TowerContext('', is_training=False):
        model = ResNetModel(depth, mode, num_classes=1000, group_width=group_width, data_format='NHWC', image_size=64)
        image = tf.compat.v1.placeholder(tf.uint8, [None, 64, 64, 3])
        model.get_logits(model.image_preprocess(image))


def child(args):
    import webvision.runtime.tfcompat  # noqa: F401
    import numpy as np
    import tensorflow as tf
    if args.child == 'build-tf2':
        tf.compat.v1.enable_tensor_equality()
    if args.child.startswith('build'):
        start = time.time()
        build(args.build_depth, args.build_mode)
        return time.time() - start
    depth, mode, width = args.load_arch
    build(int(depth), mode, int(width))
    from webvision.runtime.session import load_values
    variables = tf.compat.v1.global_variables()
    values = [np.random.RandomState(0).standard_normal(v.shape.as_list()).astype(np.float32) for v in variables]
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        start = time.time()
        if args.child == 'load-each':
            for v, value in zip(variables, values):
                v.load(value, sess)
        else:
            load_values(sess, variables, values)
        return time.time() - start


def measure(args, side):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', side] + sys.argv[1:]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit('{} failed:\n{}'.format(side, proc.stderr[-3000:]))
    return float(proc.stdout.split()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--repeats', type=int, default=2)
    p.add_argument('--build-depth', type=int, default=152)
    p.add_argument('--build-mode', default='se')
    p.add_argument('--load-arch', nargs=3, default=['101', 'resnext', '8'], metavar=('DEPTH', 'MODE', 'WIDTH'))
    p.add_argument('--child', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(child(args))
        return
    from common import figure, report
    times = {side: [] for side in ('build-tf1', 'build-tf2', 'load-one-call', 'load-each')}
    for _ in range(args.repeats):
        for side in times:
            times[side].append(measure(args, side))
            print('  {} {:.1f} s'.format(side, times[side][-1]), file=sys.stderr)
    depth, mode, width = args.load_arch
    rows = [
        figure('building ResNet-{}-{} (64 px)'.format(args.build_depth, args.build_mode), 's', times['build-tf1'],
               "TF2's tensor equality (TensorFlow's default)", times['build-tf2'], higher_is_better=False),
        figure('loading the weights of ResNet-{} {} width {}'.format(depth, mode, width), 's', times['load-one-call'],
               'one Variable.load per array', times['load-each'], higher_is_better=False),
    ]
    report('graph_load', rows)


if __name__ == '__main__':
    main()
