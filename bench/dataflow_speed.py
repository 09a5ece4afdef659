#!/usr/bin/env python3
"""Training and validation DataFlow images/s with 2 loaders, beside the plain-decode ceiling
(cv2.imread in 2 processes), the original pipeline and a tf.data pipeline with the same
augmentations, all on the same JPEGs (shorter side 256, made from scikit-image's photos) and each
measurement in its own process.

  bench/dataflow_speed.py [--images 3000] [--repeats 3] [--workers 2]

Pipelines:
  ours (train)      decode straight into the random-resized crop, flip, in loader processes that
                    batch; colour jitter + lighting run on the batch in the model graph
  original (train)  decode, then tensorpack's augmentors per image in Python (crop + bicubic resize,
                    brightness/contrast/saturation/lighting in random order, clip, flip), one
                    message per image (tensorpack's ImageNet example)
  tf.data (train)   the same augmentations per image with tf.data (decode_and_crop_jpeg), batched
  ours / original / tf.data (val): shorter side to 256, centre 224; ours crops before resizing
  torchvision (val) the torchvision transform that converted weights record (webvision/data/transform.py):
                    Pillow decode, Resize(256) (none for these images: their shorter side is 256),
                    CenterCrop(224); also on ImageNet-sized JPEGs (shorter side 375) beside ours
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BATCH = 32
SIZE = 224


def make_images(root, n, short=256):
    """A WebVision-layout root of n JPEGs (shorter side ``short``) from the demo set's photos."""
    import cv2
    import numpy as np
    from webvision.data import demo
    rng = np.random.RandomState(0)
    sources = demo._sources()
    for d in ('train/x', 'val', 'meta'):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    train, val = [], []
    for i in range(n):
        label = i % len(sources)
        im = demo._random_crop(sources[label][1], rng)
        if short != demo.SHORT_SIDE:
            f = short / min(im.shape[:2])
            im = cv2.resize(im, (int(round(im.shape[1] * f)), int(round(im.shape[0] * f))), interpolation=cv2.INTER_CUBIC)
        demo._write_jpeg(os.path.join(root, 'train', 'x', '{:05d}.jpg'.format(i)), im)
        os.link(os.path.join(root, 'train', 'x', '{:05d}.jpg'.format(i)), os.path.join(root, 'val', '{:05d}.jpg'.format(i)))
        train.append('x/{:05d}.jpg {}'.format(i, label))
        val.append('{:05d}.jpg {}'.format(i, label))
    for name, lines in (('train', train), ('val', val), ('synsets', ['n{:08d}'.format(c) for c in range(len(sources))])):
        with open(os.path.join(root, 'meta', name + '.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')


# --- one measurement per process: prints images/s --------------------------------------------

def _rate(it, images, warmup=3):
    for _ in range(warmup):
        next(it)
    t, n = time.perf_counter(), 0
    while n < images:
        n += len(next(it)[0])
    return n / (time.perf_counter() - t)


def ceiling(root, workers):
    import cv2
    from multiprocessing import get_context
    files = sorted(glob.glob(os.path.join(root, 'train', 'x', '*.jpg')))
    with get_context('fork').Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
        pool.map(_imread, files[:100])
        t = time.perf_counter()
        pool.map(_imread, files, chunksize=16)
        return len(files) / (time.perf_counter() - t)


def _imread(path):
    import cv2
    return cv2.imread(path).shape


def ours_train(root, workers):
    from webvision.dataflow import dataset as wd
    from webvision.data.decode import decoder
    ds = wd.get_train_dataflow(root, BATCH, decoder(True, SIZE), workers)
    ds.reset_state()
    return _rate(iter(ds), len(wd.WebVisionMeta(root).file_list('train')))


def original_train(root, workers):
    from webvision.model import contract as iu
    from webvision.dataflow import dataset as wd
    from webvision.data.decode import read_image_file
    from tensorpack.dataflow import BatchData, MultiProcessMapDataZMQ
    files = wd.WebVisionFiles(root, 'train', shuffle=True)
    load = wd.AugmentorDecoder(iu.fbresnet_augmentor(True, SIZE))

    def mapf(dp):
        return [load(read_image_file(dp[0])[0])[0], dp[1]]
    ds = BatchData(MultiProcessMapDataZMQ(files, workers, mapf, buffer_size=BATCH * 8), BATCH)
    ds.reset_state()
    return _rate(iter(ds), len(files))


def ours_val(root, workers, transform=None):
    from webvision.dataflow import dataset as wd
    from webvision.data.decode import decoder
    ds = wd.get_eval_dataflow(root, 'val', BATCH, decoder(False, SIZE, transform=transform), parallel=workers)
    ds.reset_state()
    return _rate(iter(ds), len(wd.WebVisionMeta(root).file_list('val')) - 4 * BATCH)


def original_val(root, workers):
    from webvision.model import contract as iu
    from webvision.dataflow import dataset as wd
    from webvision.data.decode import read_image_file
    from tensorpack.dataflow import BatchData, MultiThreadMapData
    files = wd.WebVisionFiles(root, 'val')
    load = wd.AugmentorDecoder(iu.fbresnet_augmentor(False, SIZE))
    ds = BatchData(MultiThreadMapData(files, workers, lambda dp: [load(read_image_file(dp[0])[0])[0], dp[1]],
                                      buffer_size=BATCH * 8), BATCH)
    ds.reset_state()
    return _rate(iter(ds), len(files) - 4 * BATCH)


def tfdata(root, workers, train):
    """tf.data with the same augmentations (eager TensorFlow 2, no tensorpack)."""
    os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
    import tensorflow as tf
    tf.config.threading.set_inter_op_parallelism_threads(workers)
    tf.config.threading.set_intra_op_parallelism_threads(workers)
    pattern = os.path.join(root, 'train', 'x', '*.jpg') if train else os.path.join(root, 'val', '*.jpg')
    files = sorted(glob.glob(pattern))
    gray_w = tf.constant([0.299, 0.587, 0.114])         # RGB
    eigval = tf.constant([0.2175, 0.0188, 0.0045]) * 255.
    eigvec = tf.constant([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])

    def colour(x):
        def gray(y):
            return tf.reduce_sum(y * gray_w, axis=-1, keepdims=True)
        b, c, s = [tf.random.uniform([], 0.6, 1.4) for _ in range(3)]
        ops = [lambda y: y * b, lambda y: y * c + tf.reduce_mean(gray(y)) * (1 - c),
               lambda y: y * s + gray(y) * (1 - s),
               lambda y: y + tf.linalg.matvec(eigvec, tf.random.normal([3], stddev=0.1) * eigval)]
        for k in tf.random.shuffle(tf.range(4)):     # random order, as RandomOrderAug
            x = tf.switch_case(k, [lambda op=op: op(x) for op in ops])
        return tf.clip_by_value(x, 0., 255.)

    def train_map(path):
        data = tf.io.read_file(path)
        box = tf.image.sample_distorted_bounding_box(
            tf.image.extract_jpeg_shape(data), tf.zeros([0, 0, 4]), min_object_covered=0,
            aspect_ratio_range=(0.75, 1.333), area_range=(0.08, 1.), max_attempts=10, use_image_if_no_bounding_boxes=True)
        y, x, _ = tf.unstack(box[0])
        h, w, _ = tf.unstack(box[1])
        im = tf.image.decode_and_crop_jpeg(data, tf.stack([y, x, h, w]), channels=3)
        im = tf.image.resize(im, [SIZE, SIZE], method='bicubic')
        im = tf.image.random_flip_left_right(im)
        return tf.cast(colour(im), tf.uint8)

    def val_map(path):
        im = tf.image.decode_jpeg(tf.io.read_file(path), channels=3)
        shape = tf.cast(tf.shape(im)[:2], tf.float32)
        scale = 256. / tf.reduce_min(shape)
        im = tf.image.resize(im, tf.cast(tf.round(shape * scale), tf.int32), method='bicubic')
        return tf.cast(tf.clip_by_value(tf.image.resize_with_crop_or_pad(im, SIZE, SIZE), 0, 255), tf.uint8)

    ds = tf.data.Dataset.from_tensor_slices(files)
    if train:
        ds = ds.shuffle(len(files)).repeat()
    ds = ds.map(train_map if train else val_map, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(BATCH).prefetch(4)
    it = iter(ds.as_numpy_iterator())
    return _rate((x[None] for x in it), len(files) - 4 * BATCH)


KINDS = {
    'ceiling': ceiling, 'ours-train': ours_train, 'original-train': original_train,
    'tfdata-train': lambda root, w: tfdata(root, w, True),
    'ours-val': ours_val, 'original-val': original_val, 'tfdata-val': lambda root, w: tfdata(root, w, False),
    'torchvision-val': lambda root, w: ours_val(root, w, _torchvision()),
}
LARGE = ('ours-val', 'torchvision-val')      # measured again on the shorter-side-375 root


def _torchvision():
    from webvision.data.transform import TORCHVISION
    return TORCHVISION


def _worker(kind, root, workers):
    if not kind.startswith('tfdata'):       # the tf.data baseline runs on TensorFlow's own defaults
        from webvision.core.memory import keep_freed_memory
        from webvision.core.process import configure_tensorflow
        configure_tensorflow()              # as the driver does, so that the figures are the driver's
        keep_freed_memory()
        import webvision.runtime.tfcompat  # noqa: F401
    rate = KINDS[kind](root, workers)
    print(json.dumps({'images_per_sec': rate}))
    sys.stdout.flush()
    os._exit(0)         # loader processes and daemon threads end with us


def measure(kind, root, workers, repeats):
    values = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, '--worker', kind, '--root', root, '--workers', str(workers)],
                             capture_output=True, text=True, timeout=900)
        lines = [line for line in out.stdout.splitlines() if line.startswith('{')]
        if out.returncode != 0 or not lines:
            raise RuntimeError('{} failed ({}):\n{}'.format(kind, out.returncode, out.stderr[-3000:]))
        values.append(json.loads(lines[-1])['images_per_sec'])
        print('  {}: {:.0f} images/s'.format(kind, values[-1]), file=sys.stderr)
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', type=int, default=3000)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--workers', type=int, default=2, help='loader processes / threads (default: %(default)s)')
    p.add_argument('--worker', choices=sorted(KINDS), help=argparse.SUPPRESS)
    p.add_argument('--root', help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return _worker(args.worker, args.root, args.workers)
    from common import figure, report
    tmp = tempfile.mkdtemp(prefix='bench-images-')
    try:
        make_images(tmp, args.images)
        make_images(tmp + '/375', args.images // 2, short=375)
        r = {k: measure(k, tmp, args.workers, args.repeats) for k in KINDS}
        r.update({k + '-375': measure(k, tmp + '/375', args.workers, args.repeats) for k in LARGE})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    unit, w = 'images/s', args.workers
    rows = [
        figure('train DataFlow, {} loaders'.format(w), unit, r['ours-train'], 'cv2.imread ceiling', r['ceiling'],
               note='fraction of the plain-decode ceiling'),
        figure('train DataFlow, {} loaders'.format(w), unit, r['ours-train'], 'tf.data, same augmentations', r['tfdata-train']),
        figure('train DataFlow, {} loaders'.format(w), unit, r['ours-train'], 'original DataFlow', r['original-train']),
        figure('val DataFlow, {} threads'.format(w), unit, r['ours-val'], 'cv2.imread ceiling', r['ceiling'],
               note='fraction of the plain-decode ceiling'),
        figure('val DataFlow, {} threads'.format(w), unit, r['ours-val'], 'tf.data, same preprocessing', r['tfdata-val']),
        figure('val DataFlow, {} threads'.format(w), unit, r['ours-val'], 'original DataFlow', r['original-val']),
        figure('val DataFlow, torchvision transform, {} threads'.format(w), unit, r['torchvision-val'],
               'toolkit transform', r['ours-val'], note='shorter side 256: no resize in either'),
        figure('val DataFlow, torchvision transform, {} threads'.format(w), unit, r['torchvision-val-375'],
               'toolkit transform', r['ours-val-375'], note='ImageNet-sized JPEGs, shorter side 375'),
    ]
    report(__file__, rows, extra={'images': '{} JPEGs of shorter side 256, batch {}, crop {}'.format(args.images, BATCH, SIZE)})
    return 0


if __name__ == '__main__':
    sys.exit(main())
