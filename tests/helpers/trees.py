"""Made-up extracted WebVision trees (1.0 and 2.0 layouts, CRLF lists) and ILSVRC2012 val folders,
with small distinct JPEGs, for the preprocessing, subset, cross-evaluation and checker tests."""
import os

import cv2
import numpy as np

from webvision.data.layouts import LAYOUTS
from webvision.data.lists import imagenet_names

GOOGLE, FLICKR, VAL, TEST = 3, 1, 2, 5      # images per class (google, flickr, val); test images in all


def _base():
    from skimage.data import chelsea
    return np.ascontiguousarray(cv2.resize(chelsea()[:, :, ::-1], (40, 32), interpolation=cv2.INTER_AREA))


def write_jpeg(path, serial, base=None):
    """A small JPEG whose bytes differ from every other serial's (two pixels carry the serial)."""
    im = (_base() if base is None else base).copy()
    im[:4, :4] = serial % 256
    im[:4, 4:8] = serial // 256
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, im)


def synsets_of(version, classes):
    """ILSVRC's first ``classes`` wnids for 1.0; made-up ids for 2.0 (its classes are others)."""
    if version == '1.0':
        return [name.split()[0] for name in imagenet_names()[:classes]]
    return ['n9{:07d}'.format(c) for c in range(classes)]


def make_tree(root, version, classes=60):
    """An extracted tree of ``classes`` classes: GOOGLE google and FLICKR flickr images, VAL val
    images per class, TEST test images; lists with CRLF line ends, as the release has."""
    lay, base, serial = LAYOUTS[version], _base(), 0
    os.makedirs(os.path.join(root, 'info'))
    wnids = synsets_of(version, classes)
    crlf = '\r\n'
    with open(os.path.join(root, 'info', 'synsets.txt'), 'w', newline='') as f:
        f.write(''.join('{} class {}{}'.format(w, c, crlf) for c, w in enumerate(wnids)))
    lists = {'google': [], 'flickr': []}
    for c in range(classes):
        for crawl, n in (('google', GOOGLE), ('flickr', FLICKR)):
            for i in range(n):
                name = '{}/q{:04d}/{:06d}.jpg'.format(crawl, c + 1, i)
                write_jpeg(os.path.join(root, name), serial, base)
                serial += 1
                lists[crawl].append('{} {}'.format(name, c))
    for key, rows in (('all', lists['google'] + lists['flickr']), ('google', lists['google']), ('flickr', lists['flickr'])):
        with open(os.path.join(root, 'info', 'train_filelist_{}.txt'.format(key)), 'w', newline='') as f:
            f.write(''.join(r + crlf for r in rows))
    val = []
    for c in range(classes):
        for i in range(VAL):
            name = 'val{:06d}.jpg'.format(len(val))
            write_jpeg(os.path.join(root, lay['val_images'], name), serial, base)
            serial += 1
            val.append('{} {}'.format(name, c))
    with open(os.path.join(root, lay['val_list']), 'w', newline='') as f:
        f.write(''.join(r + crlf for r in val))
    tests = ['test{:06d}.jpg'.format(i) for i in range(TEST)]
    for name in tests:
        write_jpeg(os.path.join(root, lay['test_images'], name), serial, base)
        serial += 1
    with open(os.path.join(root, lay['test_list']), 'w', newline='') as f:
        f.write(''.join(r + crlf for r in tests))
    return wnids


def make_imagenet_val(folder, wnids, per_class=2, layout='folders'):
    """ILSVRC2012-style val images of ``wnids``: class folders, or a flat folder with its labels in
    LOC_val_solution.csv (Kaggle) and labels.txt ("name wnid"). Returns {file name: wnid}."""
    truth, serial = {}, 5000
    for w in wnids:
        for _ in range(per_class):
            name = 'ILSVRC2012_val_{:08d}.JPEG'.format(len(truth) + 1)
            path = os.path.join(folder, w, name) if layout == 'folders' else os.path.join(folder, name)
            write_jpeg(path, serial)
            serial += 1
            truth[name] = w
    if layout != 'folders':
        with open(os.path.join(os.path.dirname(folder), 'LOC_val_solution.csv'), 'w') as f:
            f.write('ImageId,PredictionString\n')
            f.write(''.join('{},{} 1 2 30 40 {} 5 6 20 30\n'.format(n[:-5], w, w) for n, w in truth.items()))
        with open(os.path.join(os.path.dirname(folder), 'labels.txt'), 'w') as f:
            f.write(''.join('{} {}\n'.format(n, w) for n, w in truth.items()))
    return truth
