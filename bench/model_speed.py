#!/usr/bin/env python3
"""ResNet training and inference images/s on this machine: ours (tensorpack graph, the driver's
CPU settings) beside Keras 3's keras.applications model with the same input and classes, each in
its own process, measured in the same run. Prints a table with the ratios.

  bench/model_speed.py [--depth 50] [--batch 32] [--steps 10] [--repeats 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KERAS_MODELS = {50: 'ResNet50', 101: 'ResNet101', 152: 'ResNet152'}


def _timed(step, steps, warmup=2):
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t


def run_ours(kind, depth, batch, steps, size, classes):
    sys.path.insert(0, ROOT)
    import numpy as np
    import tfcompat  # noqa: F401
    from tensorpack import QueueInput, SimpleTrainer, TrainConfig, launch_train_with_config
    from tensorpack.callbacks import RunUpdateOps
    from tensorpack.predict import OfflinePredictor, PredictConfig
    import imagenet_utils as iu
    import webvision_dataset as wd
    from resnet_model import ResNetModel

    model = ResNetModel(depth, 'resnet', num_classes=classes, data_format='NHWC', image_size=size)
    creator = iu.CPUSessionCreator()
    if kind == 'infer':
        pred = OfflinePredictor(PredictConfig(model=model, session_creator=creator,
                                              input_names=['input'], output_names=['prob']))
        x = np.random.RandomState(0).randint(0, 256, (batch, size, size, 3), dtype=np.uint8)
        return _timed(lambda: pred(x), steps)
    meter = iu.Throughput(batch, warmup_steps=2)
    launch_train_with_config(TrainConfig(
        model=model, data=QueueInput(wd.FakeImageData(batch, size, classes)), session_creator=creator,
        callbacks=[meter], extra_callbacks=[RunUpdateOps()], monitors=[], steps_per_epoch=steps + 2,
        max_epoch=1), SimpleTrainer())
    return batch * steps / meter.images_per_sec


def run_keras(kind, depth, batch, steps, size, classes, jit):
    os.environ.pop('TF_USE_LEGACY_KERAS', None)
    import numpy as np
    import keras
    model = getattr(keras.applications, KERAS_MODELS[depth])(weights=None, input_shape=(size, size, 3),
                                                             classes=classes)
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype('float32')
    y = rng.randint(0, classes, (batch,))
    if kind == 'infer':
        fn = keras.ops.convert_to_tensor
        xt = fn(x)
        import tensorflow as tf
        call = tf.function(lambda t: model(t, training=False), jit_compile=jit)
        return _timed(lambda: call(xt).numpy(), steps)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss='sparse_categorical_crossentropy', jit_compile=jit)
    return _timed(lambda: model.train_on_batch(x, y), steps)


def measure(args, who, kind, extra=()):
    """images/s from a fresh process, so that the two frameworks never share one."""
    cmd = [sys.executable, os.path.abspath(__file__), '--child', who, kind, '--depth', str(args.depth),
           '--batch', str(args.batch), '--steps', str(args.steps), '--size', str(args.size)] + list(extra)
    env = dict(os.environ)
    if who == 'keras':
        env.pop('TF_USE_LEGACY_KERAS', None)
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError('{} {} failed:\n{}'.format(who, kind, out.stderr[-3000:]))
    seconds = json.loads(out.stdout.strip().splitlines()[-1])['seconds']
    return args.batch * args.steps / seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depth', type=int, default=50, choices=sorted(KERAS_MODELS))
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    p.add_argument('--jit', choices=('auto', 'on', 'off'), default='auto', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        who, kind = args.child
        if who == 'ours':
            sec = run_ours(kind, args.depth, args.batch, args.steps, args.size, args.classes)
        else:
            jit = {'auto': 'auto', 'on': True, 'off': False}[args.jit]
            if kind == 'infer' and jit == 'auto':
                jit = False
            sec = run_keras(kind, args.depth, args.batch, args.steps, args.size, args.classes, jit)
        print(json.dumps({'seconds': sec}))
        return
    from common import figure, report
    rows, peak, how = [], *peak_flops()
    for kind in ('train', 'infer'):
        ours = [measure(args, 'ours', kind) for _ in range(args.repeats)]
        # Keras 3 "best settings": XLA on or off, whichever is faster here.
        keras = max(([measure(args, 'keras', kind, ['--jit', j]) for _ in range(args.repeats)]
                     for j in ('on', 'off')), key=statistics.median)
        flops = FORWARD_FLOPS[args.depth] * (args.size / 224.) ** 2 * (3 if kind == 'train' else 1)
        rows.append(figure('ResNet-{} {} batch {} ({} px)'.format(args.depth, kind, args.batch, args.size), 'images/s',
                           ours, "Keras 3 keras.applications, best of XLA on/off", keras,
                           note='ours at {:.0%} of peak, Keras at {:.0%}'.format(
                               statistics.median(ours) * flops / peak, statistics.median(keras) * flops / peak)))
    report(__file__, rows, extra={'peak float32 rate': how,
                                  'work per image': 'forward {:.1f} GFLOP (2 x {:.2f} G multiply-adds), training '
                                  '3x forward'.format(FORWARD_FLOPS[args.depth] / 1e9, FORWARD_FLOPS[args.depth] / 2e9)})


# multiply-adds x 2 of one 224x224 forward pass (He et al. 2016, Table 1)
FORWARD_FLOPS = {50: 2 * 4.1e9, 101: 2 * 7.8e9, 152: 2 * 11.5e9}


def peak_flops():
    """(FLOP/s, how it was worked out): cores x clock x float32 FLOP per cycle, counting two FMA
    units of 8 (AVX2) or 16 (AVX-512) lanes, 2 FLOP each; the clock is the highest cpu MHz listed."""
    flags, mhz = set(), []
    with open('/proc/cpuinfo') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key.strip() == 'flags':
                flags = set(value.split())
            elif key.strip() == 'cpu MHz':
                mhz.append(float(value))
    cores = len(os.sched_getaffinity(0))
    lanes = 16 if 'avx512f' in flags else 8 if 'avx2' in flags else 4
    per_cycle = 2 * lanes * (2 if 'fma' in flags else 1)
    ghz = max(mhz) / 1000. if mhz else float('nan')
    peak = cores * ghz * 1e9 * per_cycle
    return peak, '{} cores x {:.3f} GHz x {} FLOP/cycle ({}, 2 FMA units assumed) = {:.0f} GFLOP/s'.format(
        cores, ghz, per_cycle, 'AVX-512' if lanes == 16 else 'AVX2' if lanes == 8 else 'SSE', peak / 1e9)


if __name__ == '__main__':
    main()
