# -*- coding: utf-8 -*-
# File: webvision_dataset.py
"""WebVision metadata and tensorpack DataFlows over the prepared layout:

    ROOT/meta/synsets.txt        one synset id per line; class id = line number (0-based)
    ROOT/meta/synset_words.txt   optional, "synset name ..." per line, for printing
    ROOT/meta/train.txt          "relative/path.jpg label" per line, paths relative to ROOT/train
    ROOT/meta/val.txt            the same, relative to ROOT/val (a test root lists "name 0")
    ROOT/train/<synset>/*.jpg, ROOT/val/*.jpg

DataFlows yield uint8 BGR images and int labels and know nothing about the model.
"""
import array
import os
import threading
import time

import cv2
import numpy as np

from tensorpack.dataflow import (BatchData, DataFlow, MapData, MultiProcessMapDataZMQ,
                                 MultiThreadMapData, RNGDataFlow)
from tensorpack.dataflow import imgaug
from tensorpack.utils import logger

from utils.scoring import read_lines

SPLITS = ('train', 'val', 'test')
SOURCES = ('all', 'google', 'flickr')    # WebVision's two crawls; utils/preprocess.py writes a list each
REQUIRED_META = ('synsets.txt',)


class DataError(ValueError):
    """Bad input data; the message names the file, the line and the value."""


class FileList:
    """Image paths and labels of one split, held as one bytes buffer plus offsets: a 16 M-line list
    stays a few numpy arrays instead of 16 M Python objects that every forked loader would copy."""

    def __init__(self, paths_blob, offsets, labels):
        self.blob, self.offsets, self.labels = paths_blob, offsets, labels

    @classmethod
    def read(cls, path, num_classes):
        # array.array, not lists: 16 M Python ints would cost ~0.9 GB at peak while reading
        blob, offsets, labels = bytearray(), array.array('q', [0]), array.array('i')
        for lineno, line in read_lines(path):
            parts = line.rsplit(None, 1)
            if len(parts) != 2:
                raise DataError('{}:{}: expected "relative/path label", got {!r}'.format(path, lineno, line))
            name, label = parts
            try:
                label = int(label)
            except ValueError:
                raise DataError('{}:{}: label {!r} is not an integer'.format(path, lineno, label)) from None
            if not 0 <= label < num_classes:
                raise DataError('{}:{}: label {} is outside [0, {}) (the classes in synsets.txt)'.format(
                    path, lineno, label, num_classes))
            blob += name.encode('utf-8')
            offsets.append(len(blob))
            labels.append(label)
        offsets, labels = np.frombuffer(offsets, dtype=np.int64), np.frombuffer(labels, dtype=np.int32)
        # the narrowest types that hold them: 16 M entries, 96 MB less
        if len(blob) < 2 ** 32:
            offsets = offsets.astype(np.uint32)
        if num_classes <= 2 ** 15:
            labels = labels.astype(np.int16)
        return cls(np.frombuffer(blob, dtype=np.uint8), offsets, labels)

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
        self.synsets = [line.split()[0] for _, line in read_lines(path)]
        if not self.synsets:
            raise DataError('{}: no synsets listed'.format(path))

    def check_complete(self, splits, source='all'):
        """Fails naming everything missing for these splits: their lists and image folders."""
        missing = []
        for split in splits:
            for path in (self.list_path(split, source), self.image_dir(split)):
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
            for _, line in read_lines(path):
                wnid, _, name = line.partition(' ')
                names[wnid] = name.strip() or wnid
        return names

    def list_path(self, split, source='all'):
        """meta/<split>.txt; for train, ``source`` picks the crawl (google, flickr or all)."""
        if split not in SPLITS:
            raise ValueError('split {!r} is not one of {}'.format(split, ', '.join(SPLITS)))
        if source not in SOURCES:
            raise ValueError('source {!r} is not one of {}'.format(source, ', '.join(SOURCES)))
        name = split if split != 'train' or source == 'all' else 'train_' + source
        return os.path.join(self.meta_dir, name + '.txt')

    def file_list(self, split, source='all'):
        path = self.list_path(split, source)
        if not os.path.isfile(path):
            raise DataError('{}: file list for split {!r} is missing'.format(path, split))
        return FileList.read(path, self.num_classes)

    def image_dir(self, split):
        return os.path.join(self.root, 'train' if split == 'train' else 'val')


class WebVisionFiles(RNGDataFlow):
    """Yields [absolute path, label, index] for each listed image; reshuffled every epoch."""

    def __init__(self, root, split, shuffle=False, source='all'):
        meta = WebVisionMeta(root)
        self.files = meta.file_list(split, source)
        self.image_dir = meta.image_dir(split)
        self.shuffle = shuffle

    def __len__(self):
        return len(self.files)

    def __iter__(self):
        order = self.rng.permutation(len(self.files)) if self.shuffle else range(len(self.files))
        for i in order:
            name, label = self.files[i]
            yield [os.path.join(self.image_dir, name), label, int(i)]


class BadImageLog:
    """Appends one line per undecodable image; lines from several loader processes do not mix
    because each is a single O_APPEND write."""

    def __init__(self, path):
        self.path = path

    def add(self, image_path, reason):
        if self.path is None:
            return
        line = '{}\t{}\n'.format(image_path, reason).encode('utf-8', errors='replace')
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def count(self):
        if self.path is None or not os.path.isfile(self.path):
            return 0
        with open(self.path, 'rb') as f:
            return sum(1 for _ in f)


def decode_image(path):
    """BGR uint8 image, or (None, reason). Grayscale, PNG or CMYK content in a .jpg file decodes."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        return None, 'unreadable: {}'.format(e.strerror)
    if not data:
        return None, 'empty file'
    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if im is None or im.size == 0:
        return None, 'not a decodable image'
    return im, None


def _exit_with_parent(poll=1.):
    """In a loader process: exit once the trainer that forked it is gone, even by kill -9.
    tensorpack's ZMQ workers otherwise wait forever for their next datapoint (without the
    optional python-prctl they were seen to outlive the trainer)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)
    threading.Thread(target=watch, name='exit-with-parent', daemon=True).start()


class _LoadAugment:
    """Map function of the training flow: decode, augment; None (skip) for a bad image."""

    def __init__(self, augmentors, bad_log):
        self.augs = imgaug.AugmentorList(augmentors)
        self.bad_log = bad_log
        self._owner = os.getpid()
        self._watching = None

    def __call__(self, dp):
        if self._watching != os.getpid() and os.getpid() != self._owner:
            self._watching = os.getpid()
            _exit_with_parent()
        path, label, _ = dp
        im, reason = decode_image(path)
        if im is None:
            self.bad_log.add(path, reason)
            return None
        try:
            im = self.augs.augment(im)
        except Exception as e:  # a degenerate image (e.g. 1 pixel wide) must not stop the run
            self.bad_log.add(path, 'augmentation failed: {}'.format(e))
            return None
        return [im, label]


def get_train_dataflow(root, batch_size, augmentors, parallel, bad_log_path=None, source='all'):
    """Shuffled, augmented batches [images uint8 NHWC BGR, labels int32]. Undecodable images are
    skipped and listed in ``bad_log_path``."""
    ds = WebVisionFiles(root, 'train', shuffle=True, source=source)
    mapper = _LoadAugment(augmentors, BadImageLog(bad_log_path))
    if parallel > 0:
        ds = MultiProcessMapDataZMQ(ds, parallel, mapper, buffer_size=max(200, batch_size * 4))
    else:
        ds = MapData(ds, mapper)
    return BatchData(ds, batch_size, remainder=False)


def get_eval_dataflow(root, split, batch_size, augmentors, parallel=2, with_index=False,
                      bad_log_path=None):
    """Every listed image exactly once, [images, labels] (+ [indices]); an undecodable image still
    gives a row (a black image) so that evaluation has one prediction per listed image."""
    ds = WebVisionFiles(root, split, shuffle=False)
    augs = imgaug.AugmentorList(augmentors)
    bad_log = BadImageLog(bad_log_path)
    blank = None

    def mapf(dp):
        nonlocal blank
        path, label, index = dp
        im, reason = decode_image(path)
        if im is None:
            bad_log.add(path, reason)
            logger.warn('{}: {}; predicting on a black image'.format(path, reason))
            if blank is None:
                blank = augs.augment(np.zeros((256, 256, 3), np.uint8))
            im = blank
        else:
            im = augs.augment(im)
        return [im, label, index] if with_index else [im, label]

    ds = MultiThreadMapData(ds, max(parallel, 1), mapf, buffer_size=min(len(ds), 500), strict=True)
    return BatchData(ds, batch_size, remainder=True)


class FakeImageData(DataFlow):
    """Random uint8 batches for benchmarking the compute alone."""

    def __init__(self, batch_size, image_size, num_classes, seed=0):
        rng = np.random.RandomState(seed)
        self.dp = [rng.randint(0, 256, (batch_size, image_size, image_size, 3), dtype=np.uint8),
                   rng.randint(0, num_classes, (batch_size,), dtype=np.int32)]

    def __iter__(self):
        while True:
            yield self.dp
