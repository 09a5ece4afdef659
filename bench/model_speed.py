#!/usr/bin/env python3
"""ResNet training and inference images/s on this machine: ours (the driver's CPU settings; inference
through the folded, frozen graph that --eval, --predict and --export use) beside Keras 3's
keras.applications model with the same input and classes, each framework in its own process,
measured in the same run; our inference also beside our own graph without batch-norm folding.

Each process builds its model once, runs warm-up steps, then times --repeats segments of --steps
steps each: the figures are the median and spread of those segments.

  bench/model_speed.py [--depth 50] [--batch 32] [--steps 2] [--repeats 3]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KERAS_MODELS = {50: 'ResNet50', 101: 'ResNet101', 152: 'ResNet152'}
WARMUP = 2
KERNEL_SHARE = {}


def _clock():
    """(wall, user CPU, kernel CPU) seconds of this process so far."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter(), r.ru_utime, r.ru_stime


def _segments(step, steps, repeats, warmup=WARMUP):
    """The _clock() readings around ``repeats`` runs of ``steps`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    marks = [_clock()]
    for _ in range(repeats):
        for _ in range(steps):
            step()
        marks.append(_clock())
    return marks


def _trained_like_weights():
    """A SessionInit: random weights whose batch-norm statistics are not a fresh model's 0 and 1
    (those fold to zero biases, which TensorFlow drops, changing which ops it fuses)."""
    import numpy as np
    import tensorflow as tf
    from tensorpack.tfutils.sessinit import SessionInit

    class Init(SessionInit):
        def _run_init(self, sess):
            sess.run(tf.compat.v1.global_variables_initializer())
            rng = np.random.RandomState(0)
            for v in tf.compat.v1.global_variables():
                if v.op.name.endswith(('/beta', '/mean/EMA')):
                    v.load(rng.normal(0, 0.1, v.shape.as_list()).astype('float32'), sess)
    return Init()


def run_ours(kind, args):
    import numpy as np
    from webvision.core.memory import keep_freed_memory
    from webvision.core.process import configure_tensorflow
    configure_tensorflow()          # as the driver does
    keep_freed_memory()
    import webvision.runtime.tfcompat  # noqa: F401
    from tensorpack import QueueInput, SimpleTrainer, TrainConfig, launch_train_with_config
    from tensorpack.callbacks import Callback, RunUpdateOps
    from tensorpack.predict import OfflinePredictor, PredictConfig
    from webvision.dataflow import dataset as wd
    from webvision.eval.inference import inference_predictor
    from webvision.runtime.session import CPUSessionCreator
    from webvision.model.resnet import ResNetModel

    model = ResNetModel(args.depth, 'resnet', num_classes=args.classes, data_format='NHWC', image_size=args.size)
    creator = CPUSessionCreator()
    if kind in ('infer', 'infer-unfolded'):
        config = PredictConfig(model=model, session_creator=creator, session_init=_trained_like_weights(),
                               input_names=['input'], output_names=['prob'])
        pred = inference_predictor(config) if kind == 'infer' else OfflinePredictor(config)
        x = np.random.RandomState(0).randint(0, 256, (args.batch, args.size, args.size, 3), dtype=np.uint8)
        return _segments(lambda: pred(x), args.steps, args.repeats)

    class StepTimes(Callback):
        def _before_train(self):
            self.times = []

        def _trigger_step(self):
            self.times.append(_clock())
    clock = StepTimes()
    launch_train_with_config(TrainConfig(
        model=model, data=QueueInput(wd.FakeImageData(args.batch, args.size, args.classes)),
        session_creator=creator, callbacks=[clock], extra_callbacks=[RunUpdateOps()], monitors=[],
        steps_per_epoch=WARMUP + args.steps * args.repeats, max_epoch=1), SimpleTrainer())
    return clock.times[WARMUP - 1::args.steps]


def run_keras(kind, args, jit):
    os.environ.pop('TF_USE_LEGACY_KERAS', None)
    import numpy as np
    import keras
    import tensorflow as tf
    size, classes = args.size, args.classes
    model = getattr(keras.applications, KERAS_MODELS[args.depth])(weights=None, input_shape=(size, size, 3),
                                                                  classes=classes)
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 255, (args.batch, size, size, 3)).astype('float32')
    y = rng.randint(0, classes, (args.batch,))
    if kind == 'infer':
        xt = keras.ops.convert_to_tensor(x)
        call = tf.function(lambda t: model(t, training=False), jit_compile=jit)
        return _segments(lambda: call(xt).numpy(), args.steps, args.repeats)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True),
                  loss='sparse_categorical_crossentropy', jit_compile=jit)
    return _segments(lambda: model.train_on_batch(x, y), args.steps, args.repeats)


def measure(args, who, kind, extra=()):
    """images/s of each timed segment, from a fresh process, so that the two frameworks never
    share one. Records the kernel's share of the CPU time of those segments in KERNEL_SHARE."""
    cmd = [sys.executable, os.path.abspath(__file__), '--child', who, kind] + [
        '--{}={}'.format(k, getattr(args, k)) for k in ('depth', 'batch', 'steps', 'size', 'classes', 'repeats')]
    env = dict(os.environ)
    if who == 'keras':
        env.pop('TF_USE_LEGACY_KERAS', None)
    out = subprocess.run(cmd + list(extra), env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError('{} {} failed:\n{}'.format(who, kind, out.stderr[-3000:]))
    result = json.loads(out.stdout.strip().splitlines()[-1])
    KERNEL_SHARE[' '.join((who, kind) + tuple(extra))] = round(result['kernel_share'], 3)
    return [args.batch * args.steps / s for s in result['seconds']]


def keras_best(args, kind):
    """Keras 3 at its best setting here: XLA on or off, whichever has the higher median."""
    runs = {jit: measure(args, 'keras', kind, ['--jit', jit]) for jit in ('on', 'off')}
    jit = max(runs, key=lambda j: statistics.median(runs[j]))
    return runs[jit], 'XLA ' + jit, {j: round(statistics.median(v), 2) for j, v in runs.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--depth', type=int, default=50, choices=sorted(KERAS_MODELS))
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--steps', type=int, default=2, help='steps per timed segment')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--classes', type=int, default=1000)
    p.add_argument('--repeats', type=int, default=3, help='timed segments per process')
    p.add_argument('--child', nargs=2, help=argparse.SUPPRESS)
    p.add_argument('--jit', choices=('on', 'off'), default='off', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        who, kind = args.child
        marks = run_ours(kind, args) if who == 'ours' else run_keras(kind, args, args.jit == 'on')
        (_, user0, sys0), (_, user1, sys1) = marks[0], marks[-1]
        print(json.dumps({'seconds': [b[0] - a[0] for a, b in zip(marks, marks[1:])],
                          'kernel_share': (sys1 - sys0) / max(user1 - user0 + sys1 - sys0, 1e-9)}))
        return
    from common import figure, report
    peak, how = peak_flops()
    name = 'ResNet-{} {} batch {} ({} px)'
    rows, keras_settings, ours_runs = [], {}, {}
    sgemm = []
    for kind in ('train', 'infer'):
        sgemm.append(sgemm_rate())
        ours = ours_runs[kind] = measure(args, 'ours', kind)
        keras, setting, keras_settings[kind] = keras_best(args, kind)
        sgemm.append(sgemm_rate())
        flops = FORWARD_FLOPS[args.depth] * (args.size / 224.) ** 2 * (3 if kind == 'train' else 1)
        o, k, m = statistics.median(ours) * flops, statistics.median(keras) * flops, statistics.median(sgemm)
        rows.append(figure(name.format(args.depth, kind, args.batch, args.size), 'images/s', ours,
                           'Keras 3 keras.applications, its best: ' + setting, keras,
                           note='ours at {:.0%} of peak and {:.0%} of the sgemm rate, Keras at {:.0%} and '
                           '{:.0%}'.format(o / peak, o / m, k / peak, k / m)))
    unfolded = measure(args, 'ours', 'infer-unfolded')
    rows.append(figure(name.format(args.depth, 'infer', args.batch, args.size), 'images/s',
                       ours_runs['infer'], 'ours, batch norm not folded', unfolded))
    report(__file__, rows, extra={
        'peak float32 rate': how,
        'measured float32 matrix product (numpy, 4096x4096, all cores)': ', '.join(
            '{:.0f}'.format(r / 1e9) for r in sgemm) + ' GFLOP/s (before and after each kind; median used)',
        'work per image': 'forward {:.1f} GFLOP (2 x {:.2f} G multiply-adds), training 3x forward'.format(
            FORWARD_FLOPS[args.depth] / 1e9, FORWARD_FLOPS[args.depth] / 2e9),
        'Keras images/s by XLA setting': json.dumps(keras_settings),
        'kernel (sys) share of CPU time in the timed steps': json.dumps(KERNEL_SHARE),
        'runs': '{} timed segments of {} steps after {} warm-up steps, one process per framework and '
                'setting'.format(args.repeats, args.steps, WARMUP)})


# multiply-adds x 2 of one 224x224 forward pass (He et al. 2016, Table 1)
FORWARD_FLOPS = {50: 2 * 4.1e9, 101: 2 * 7.8e9, 152: 2 * 11.5e9}


def sgemm_rate(n=4096, runs=3):
    """FLOP/s of numpy's float32 matrix product (OpenBLAS, all cores), the best of ``runs``: what
    this machine reaches on the densest work there is, measured beside the models (the VM's speed
    varies between runs, the nominal peak does not)."""
    import numpy as np
    a, b = (np.random.RandomState(i).rand(n, n).astype(np.float32) for i in (0, 1))
    a @ b
    best = float('inf')
    for _ in range(runs):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2. * n ** 3 / best


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
