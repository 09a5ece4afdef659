# -*- coding: utf-8 -*-
# File: webvision/dataflow/dataset.py (the original benchmark's webvision_dataset.py)
"""WebVision metadata and tensorpack DataFlows over the prepared layout:

    ROOT/meta/synsets.txt        one synset id per line; class id = line number (0-based)
    ROOT/meta/synset_words.txt   optional, "synset name ..." per line, for printing
    ROOT/meta/train.txt          "relative/path.jpg label" per line, paths relative to ROOT/train
    ROOT/meta/val.txt            the same, relative to ROOT/val (a test root lists "name 0")
    ROOT/train/<synset>/*.jpg, ROOT/val/*.jpg

    ROOT/lmdb/<list name>.lmdb   optional, the same images packed in one file (write_lmdb)

DataFlows yield uint8 BGR images and int labels and know nothing about the model. Images are read
and decoded by webvision.data.decode; one loader design: batches of list entries go to loader processes
(training) or threads (evaluation), each of which decodes a whole batch.
"""
import array
import itertools
import os

import cv2
import numpy as np

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
from tensorpack.dataflow import (BatchData, DataFlow, LMDBSerializer, LocallyShuffleData, MapData,
                                 MultiProcessMapDataZMQ, MultiThreadMapData, RNGDataFlow)
from tensorpack.dataflow import imgaug
from tensorpack.utils import logger
from tensorpack.utils.serialize import loads

from webvision.data.decode import decode_full, read_image_file
from webvision.data.bad_images import BAD_IMAGES_EXIT, BadImageGuard, BadImageLog, TooManyBadImages, Undecodable
from webvision.core.errors import DataError
from webvision.data.lists import display_names, fallback_names, iter_labelled, list_path, read_synset_words, read_synsets
from webvision.core.memory import release_free_memory
from webvision.core.process import Owner, exit_with_parent

REQUIRED_META = ('synsets.txt',)


class FileList:
    """Image paths and labels of one split, held as one bytes buffer plus offsets: a 16 M-line list
    stays a few numpy arrays instead of 16 M Python objects that every forked loader would copy."""

    def __init__(self, paths_blob, offsets, labels):
        self.blob, self.offsets, self.labels = paths_blob, offsets, labels

    @classmethod
    def read(cls, path, num_classes):
        # array.array, not lists: 16 M Python ints would cost ~0.9 GB at peak while reading
        blob, offsets, labels = bytearray(), array.array('q', [0]), array.array('i')
        for _, name, label in iter_labelled(path, num_classes):
            blob += name.encode('utf-8')
            offsets.append(len(blob))
            labels.append(label)
        offsets, labels = np.frombuffer(offsets, dtype=np.int64), np.frombuffer(labels, dtype=np.int32)
        # the narrowest types that hold them: 16 M entries, 96 MB less
        if len(blob) < 2 ** 32:
            offsets = offsets.astype(np.uint32)
        if num_classes <= 2 ** 15:
            labels = labels.astype(np.int16)
        out = cls(np.frombuffer(blob, dtype=np.uint8), offsets, labels)
        release_free_memory()      # the wider temporaries, which forked loaders would share
        return out

    def __len__(self):
        return len(self.labels)

    def name(self, i):
        return self.blob[int(self.offsets[i]):int(self.offsets[i + 1])].tobytes().decode('utf-8')

    def __getitem__(self, i):
        return self.name(i), int(self.labels[i])


class WebVisionMeta:
    def __init__(self, root):
        self.root = root
        self.meta_dir = os.path.join(root, 'meta')
        missing = [f for f in REQUIRED_META if not os.path.isfile(os.path.join(self.meta_dir, f))]
        if missing:
            raise DataError('{} is not a prepared WebVision root: missing {}'.format(
                root, ', '.join(os.path.join(self.meta_dir, f) for f in missing)))
        path = os.path.join(self.meta_dir, 'synsets.txt')
        self.synsets = read_synsets(path)
        if not self.synsets:
            raise DataError('{}: no synsets listed'.format(path))

    def check_complete(self, splits, source='all', fmt='files'):
        """Fails naming everything missing for these splits: their lists and image folders (or LMDB
        files)."""
        missing = []
        for split in splits:
            src = source if split == 'train' else 'all'
            images = lmdb_path(self.root, split, src) if fmt == 'lmdb' else self.image_dir(split)
            for path in (self.list_path(split, src), images):
                if not os.path.exists(path):
                    missing.append(path)
        if missing:
            raise DataError('{} is incomplete: missing {}'.format(self.root, ', '.join(missing)))

    @property
    def num_classes(self):
        return len(self.synsets)

    def names(self):
        """Synset id -> human-readable name (the id itself where no names file exists)."""
        names = {s: s for s in self.synsets}
        path = os.path.join(self.meta_dir, 'synset_words.txt')
        if os.path.isfile(path):
            names.update((w, n or w) for w, n in read_synset_words(path).items())
        return names

    def list_path(self, split, source='all'):
        """meta/<split>.txt, or another training list (webvision.data.lists.list_path)."""
        return list_path(self.root, split, source)

    def file_list(self, split, source='all'):
        path = self.list_path(split, source)
        if not os.path.isfile(path):
            raise DataError('{}: file list for split {!r} is missing'.format(path, split))
        return FileList.read(path, self.num_classes)

    def image_dir(self, split):
        return os.path.join(self.root, 'train' if split == 'train' else 'val')


class WebVisionFiles(RNGDataFlow):
    """Yields [absolute path, label, index] for each listed image; reshuffled every epoch.
    ``balance``: classes drawn uniformly (an epoch of classes x largest class draws, what the
    published models got by duplicating list lines), without building the duplicated list."""

    def __init__(self, root, split, shuffle=False, source='all', balance=False, shard=None, seed=0):
        meta = WebVisionMeta(root)
        self.files = meta.file_list(split, source)
        self.image_dir = meta.image_dir(split)
        self.shuffle = shuffle
        self.sampler = ClassBalancedSampler(self.files.labels) if balance else None
        self.shard, self.seed, self._epochs = shard, seed, 0     # shard: (this worker, workers)
        self._owner = Owner()

    def reset_state(self):
        super().reset_state()
        if self._owner.forked():        # tensorpack's dispatcher process
            exit_with_parent()

    def __len__(self):
        n = len(self.sampler) if self.sampler else len(self.files)
        return len(range(self.shard[0], n, self.shard[1])) if self.shard else n

    def __iter__(self):
        rng = self.rng
        if self.shard:
            # every worker draws the same order of the epoch and takes its own share of it
            rng = np.random.RandomState((self.seed + self._epochs) % 2 ** 32)
            self._epochs += 1
        if self.sampler:
            order = self.sampler.epoch(rng)
        else:
            order = rng.permutation(len(self.files)) if self.shuffle else range(len(self.files))
        if self.shard:
            order = itertools.islice(order, self.shard[0], None, self.shard[1])
        for i in order:
            name, label = self.files[i]
            yield [os.path.join(self.image_dir, name), label, int(i)]


class ClassBalancedSampler:
    """Indices that visit classes uniformly at random; within a class, its images in a fresh random
    order each round. Holds one index per listed image (4 bytes each), nothing per draw."""

    def __init__(self, labels):
        labels = np.asarray(labels)
        self.order = np.argsort(labels, kind='stable').astype(np.uint32 if len(labels) < 2 ** 32 else np.int64)
        counts = np.bincount(labels)
        self.classes = np.flatnonzero(counts)           # classes without images cannot be drawn
        self.starts = np.concatenate([[0], np.cumsum(counts)])
        self.max_count = int(counts.max()) if len(counts) else 0

    def __len__(self):
        return len(self.classes) * self.max_count

    def epoch(self, rng, chunk=4096):
        cursor = {}
        for start in range(0, len(self), chunk):
            for c in rng.choice(self.classes, min(chunk, len(self) - start)):
                lo, hi = self.starts[c], self.starts[c + 1]
                k = cursor.get(c, 0)
                if k == 0:
                    rng.shuffle(self.order[lo:hi])
                yield int(self.order[lo + k])
                cursor[c] = (k + 1) % (hi - lo)


def lmdb_path(root, split, source='all'):
    """ROOT/lmdb/<list name>.lmdb, where utils/pack_lmdb.py writes a split."""
    meta_list = WebVisionMeta(root).list_path(split, source)
    return os.path.join(root, 'lmdb', os.path.splitext(os.path.basename(meta_list))[0] + '.lmdb')


_LMDB_ENVS = {}


def _lmdb_env(path):
    """One read-only environment per file and process: LMDB refuses a second one in a process, and
    one must not cross a fork."""
    key = (os.getpid(), os.path.realpath(path))
    if key not in _LMDB_ENVS:
        import lmdb
        _LMDB_ENVS[key] = lmdb.open(path, subdir=False, readonly=True, lock=False, readahead=True,
                                    map_size=1 << 40, max_readers=64)
    return _LMDB_ENVS[key]


class LMDBImages(DataFlow):
    """[encoded image bytes, label, index] from a split packed by utils/pack_lmdb.py (tensorpack's
    LMDBSerializer format: msgpack records under keys 00000000, 00000001, ...), read in key order,
    i.e. sequentially on disk. Unlike tensorpack's LMDBData it never loads the list of all keys
    (16 M Python objects). Unreadable images were stored empty, so indices match the file list."""

    def __init__(self, path, shard=None):
        if not os.path.isfile(path):
            raise DataError('{}: no such LMDB file; write it with utils/pack_lmdb.py'.format(path))
        self.path, self.shard = path, shard      # shard (i, n): records whose index is i modulo n
        self._size = _lmdb_env(path).stat()['entries'] - 1          # minus __keys__
        if shard:
            self._size = len(range(shard[0], self._size, shard[1]))
        self._env = None

    def reset_state(self):
        self._env = _lmdb_env(self.path)

    def __len__(self):
        return self._size

    def __iter__(self):
        with self._env.begin(buffers=False) as txn:
            for key, value in txn.cursor():
                if key != b'__keys__' and (not self.shard or int(key) % self.shard[1] == self.shard[0]):
                    yield loads(value)


class _LMDBRecords(DataFlow):
    """[encoded bytes (empty where unreadable), label, index] of each listed image, in list order."""
    def __init__(self, root, split, source):
        self.files = WebVisionMeta(root).file_list(split, source)
        self.image_dir = WebVisionMeta(root).image_dir(split)
        self.missing = 0

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        for i in range(len(self.files)):
            name, label = self.files[i]
            data, _ = read_image_file(os.path.join(self.image_dir, name))
            if data is None:
                self.missing += 1
                data = b''
            yield [data, label, i]


def write_lmdb(root, split, source='all', out=None):
    """Packs a split into one LMDB file (what LMDBImages reads), renamed into place when complete. Returns (path, records written, unreadable), or (path, None, None) when it already exists."""
    out = out or lmdb_path(root, split, source)
    if os.path.isfile(out):
        return out, None, None
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + '.partial'
    for stale in (tmp, tmp + '-lock'):
        if os.path.exists(stale):
            os.remove(stale)        # an interrupted earlier run
    records = _LMDBRecords(root, split, source)
    LMDBSerializer.save(records, tmp)
    os.replace(tmp, out)
    if os.path.exists(tmp + '-lock'):
        os.remove(tmp + '-lock')
    return out, len(records), records.missing


class AugmentorDecoder:
    """Decode the whole image, then apply tensorpack augmentors: how the original pipeline worked
    (kept as the baseline of bench/dataflow_speed.py and for custom augmentors)."""

    def __init__(self, augmentors):
        self.augs = imgaug.AugmentorList(augmentors)

    def __call__(self, data):
        im, reason = decode_full(data)
        return (im, None) if im is None else (self.augs.augment(im), None)


class _LoadDecode:
    """Map function of the loaders: [path or encoded bytes, label, index] -> [image, label], or None
    (skipped) for an image that cannot be read or decoded, which is listed in the bad-image log."""

    def __init__(self, decode, bad_log, with_index=False):
        self.decode, self.bad_log, self.with_index = decode, bad_log, with_index
        self._owner, self._watched = Owner(), Owner()

    def __call__(self, dp):
        if self._owner.forked() and self._watched.forked():     # first call in this loader process
            self._watched = Owner()
            exit_with_parent()
        source, label, index = dp
        im = None
        try:
            data, reason = (source, None) if isinstance(source, bytes) else read_image_file(source)
            if data:
                im, reason = self.decode(data)
            elif data is not None:
                reason = 'empty file'
        except Exception as e:  # a degenerate image (e.g. 1 pixel wide) must not stop the run, nor kill a loader
            reason = 'decoding failed: {}'.format(e)
        if im is None:
            self.bad_log.add(source if not isinstance(source, bytes) else 'record {}'.format(index), reason)
            return None
        return [im, label, index] if self.with_index else [im, label]


def train_files(root, source='all', balance=False, fmt='files', shard=None):
    """[path or encoded bytes, label, index] of the training images in a fresh order each epoch;
    ``shard`` = (i, n): worker i of n gets a disjoint n-th of each epoch."""
    if fmt == 'lmdb':
        if balance:
            raise ValueError('--balance needs random access: use --format files')
        return LocallyShuffleData(LMDBImages(lmdb_path(root, 'train', source), shard), 10000)
    return WebVisionFiles(root, 'train', shuffle=True, source=source, balance=balance, shard=shard)


def get_train_dataflow(root, batch_size, decode, parallel, bad_log_path=None, source='all', balance=False,
                       fmt='files', shard=None, max_bad_fraction=0.5, with_index=False):
    """Shuffled batches [images uint8 NHWC BGR, labels int32] (+ [list positions int64]) of
    ``decode``d images (see webvision.data.decode.decoder). Each loader process decodes whole batches, so one message per batch
    goes each way. Undecodable images are listed in ``bad_log_path`` and replaced (_LoadBatch);
    a loader stops when more than ``max_bad_fraction`` of its images fail (BadImageGuard)."""
    ds = BatchData(train_files(root, source, balance, fmt, shard), batch_size, use_list=True)
    load = _LoadBatch(_LoadDecode(decode, BadImageLog(bad_log_path), with_index),
                      BadImageGuard(max_bad_fraction, bad_log_path))
    if parallel > 0:
        # A loader per core already, so OpenCV's own threads would only contend. Given up here, before
        # the fork: a forked child that touched the parent's thread pool (setNumThreads) deadlocked.
        cv2.setNumThreads(1)
        # whole batches both ways: one message per batch, not per image
        return MultiProcessMapDataZMQ(ds, parallel, load, buffer_size=max(2 * parallel, 8))
    return MapData(ds, load)


class _LoadBatch:
    """Decodes a batch of [sources, labels, indices] into [images, labels]. An image that cannot be
    decoded is replaced by another of the same batch (with its own random crop), so that batches
    keep their size; it is listed in the bad-image log as usual. When images keep failing (see
    BadImageGuard), a loader process says why and exits with BAD_IMAGES_EXIT (the trainer's
    LoaderWatchdog stops the run); in the calling process, TooManyBadImages is raised."""

    def __init__(self, load, guard=None):
        self.load, self.guard = load, guard
        self._owner = Owner()

    def __call__(self, entries):
        rows, good = [], []
        for entry in zip(*entries):
            row = self.load(entry)
            if row is not None:
                rows.append(row)
                good.append(entry)
        self._check(len(entries[0]), len(entries[0]) - len(rows))
        if not rows:
            return None         # a batch of nothing but bad images: skipped
        for k in range(len(entries[0]) - len(rows)):
            rows.append(self.load(good[k % len(good)]) or rows[k % len(good)])   # decoded again: a new crop
        out = [np.stack([r[0] for r in rows]), np.asarray([r[1] for r in rows], np.int32)]
        return out + [np.asarray([r[2] for r in rows], np.int64)] if len(rows[0]) == 3 else out

    def _check(self, tried, bad):
        if self.guard is None:
            return
        try:
            self.guard.record(tried, bad)
        except TooManyBadImages as e:
            if not self._owner.forked():
                raise
            logger.error(str(e))
            os._exit(BAD_IMAGES_EXIT)       # a traceback from a loader process would say less


def get_eval_dataflow(root, split, batch_size, decode, parallel=2, with_index=False, bad_log_path=None,
                      fmt='files'):
    """Every listed image exactly once, as batches [images, labels] (+ [indices], the list
    positions: batches may come out of order); an undecodable image still gives a row (a black
    image) so that evaluation has one prediction per listed image."""
    ds = LMDBImages(lmdb_path(root, split)) if fmt == 'lmdb' else WebVisionFiles(root, split, shuffle=False)
    load = _LoadDecode(decode, BadImageLog(bad_log_path), with_index=True)
    blank, undecodable = [], Undecodable()

    def load_one(dp):
        out = load(dp)
        if out is None:
            if undecodable.add(dp[2]):      # once each, though the first batches are decoded twice
                logger.warn('{}: not decodable; predicting on a black image'.format(dp[0] if isinstance(dp[0], str) else dp[2]))
            if not blank:
                blank.append(decode(cv2.imencode('.png', np.zeros((256, 256, 3), np.uint8))[1].tobytes())[0])
            out = [blank[0], dp[1], dp[2]]
        return out

    def load_batch(entries):
        rows = [load_one(dp) for dp in zip(*entries)]
        out = [np.stack([r[0] for r in rows]), np.asarray([r[1] for r in rows], np.int32),
               np.asarray([r[2] for r in rows], np.int64)]
        return out if with_index else out[:2]

    # Threads, each decoding a whole batch: the decoders release the GIL, and one queue hand-off per
    # batch instead of per image left the GIL-bound bookkeeping a third of its cost.
    ds = BatchData(ds, batch_size, remainder=True, use_list=True)
    flow = MultiThreadMapData(ds, max(parallel, 1), load_batch, buffer_size=min(len(ds), 8), strict=True)
    flow.undecodable = undecodable      # list positions of the images predicted on a black image
    return flow


class FakeImageData(DataFlow):
    """Random uint8 batches for benchmarking the compute alone."""

    def __init__(self, batch_size, image_size, num_classes, seed=0):
        rng = np.random.RandomState(seed)
        self.dp = [rng.randint(0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8),
                   rng.randint(0, num_classes, (batch_size,), dtype=np.int32)]

    def __iter__(self):
        while True:
            yield self.dp


def class_names(num_classes, root, warn=True):
    """'synset name' per class: from ``root``'s meta when its class count matches, else ImageNet's
    for 1,000 classes, else "class N"; ``warn``: say why the root's names were not used."""
    if root:
        meta = WebVisionMeta(root)
        if meta.num_classes == num_classes:
            return display_names(meta.synsets, meta.names())
        if warn:
            logger.warn('{} has {} classes but the model {}; not using its names'.format(
                root, meta.num_classes, num_classes))
    return fallback_names(num_classes)
