"""Builds the embedded demo set: a small WebVision-layout dataset from real photos that
scikit-image and scikit-learn ship, so that nothing is downloaded.

Each class is one photo; its images are random crops of it (area 20-90 %, aspect 3/4-4/3,
flipped, exposure jittered), saved as JPEGs of shorter side 256. Classes have uneven sizes and
about 8 % of the train labels are wrong, like web data. Two roots are written:

    ROOT/                 train/<synset>/*.jpg, val/*.jpg, meta/{synsets,synset_words,train,val}.txt
    ROOT-test/            val/*.jpg, meta/val.txt listing "name 0" (labels withheld), meta/synsets.txt

Rerunning skips a complete build; a build is written to a temporary folder and renamed when done.
"""
import os
import shutil
import tempfile

import cv2
import numpy as np

from webvision.core.errors import InputError

# data/ of the checkout this package sits in (where the Makefile looks), else of the current folder
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_ROOT = os.path.join(_CHECKOUT if os.path.isfile(os.path.join(_CHECKOUT, 'imagenet-resnet.py')) else os.getcwd(),
                            'data', 'webvision-demo')
VERSION = '1'
SHORT_SIDE = 256
NOISE_FRACTION = 0.08


def _sources():
    """(name, RGB uint8 image) for each class: real photos only, colour and grayscale."""
    import skimage.data as sk
    from sklearn.datasets import load_sample_images

    china, flower = load_sample_images().images
    gray = lambda im: np.stack([im] * 3, axis=-1)  # noqa: E731
    return [
        ('china, temple landscape', china), ('flower', flower),
        ('astronaut', sk.astronaut()), ('cat', sk.chelsea()), ('coffee cup', sk.coffee()),
        ('rocket', sk.rocket()), ('deep field, galaxies', sk.hubble_deep_field()),
        ('stained tissue', sk.immunohistochemistry()), ('retina', sk.retina()),
        ('motorcycle', sk.stereo_motorcycle()[0]), ('cameraman', gray(sk.camera())),
        ('coins', gray(sk.coins())),
    ]


def _random_crop(img, rng):
    h, w = img.shape[:2]
    for _ in range(20):
        area = rng.uniform(0.2, 0.9) * h * w
        aspect = rng.uniform(3 / 4, 4 / 3)
        ch, cw = int(round(np.sqrt(area / aspect))), int(round(np.sqrt(area * aspect)))
        if ch <= h and cw <= w:
            y, x = rng.randint(0, h - ch + 1), rng.randint(0, w - cw + 1)
            crop = img[y:y + ch, x:x + cw]
            break
    else:
        crop = img
    if rng.rand() < 0.5:
        crop = crop[:, ::-1]
    crop = np.clip(crop.astype(np.float32) * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8)
    scale = SHORT_SIDE / min(crop.shape[:2])
    size = (max(SHORT_SIDE, int(round(crop.shape[1] * scale))), max(SHORT_SIDE, int(round(crop.shape[0] * scale))))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _write_jpeg(path, rgb):
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90]):
        raise IOError('could not write {}'.format(path))


def _write_lines(path, lines):
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)


def _build(root, test_root, seed):
    rng = np.random.RandomState(seed)
    sources = _sources()
    n = len(sources)
    synsets = ['n{:08d}'.format(99000001 + i) for i in range(n)]   # a range no WordNet id uses
    train_counts = rng.permutation(np.linspace(24, 90, n).astype(int))
    val_counts = rng.permutation(np.linspace(8, 20, n).astype(int))
    for d in (os.path.join(root, 'meta'), os.path.join(root, 'val'),
              os.path.join(test_root, 'meta'), os.path.join(test_root, 'val')):
        os.makedirs(d)
    train_lines, val_lines, test_lines, noisy = [], [], [], 0
    for label, ((name, img), wnid) in enumerate(zip(sources, synsets)):
        os.makedirs(os.path.join(root, 'train', wnid))
        for i in range(train_counts[label]):
            rel = '{}/{}_{:04d}.jpg'.format(wnid, wnid, i)
            _write_jpeg(os.path.join(root, 'train', rel), _random_crop(img, rng))
            shown = label
            if rng.rand() < NOISE_FRACTION:
                shown = (label + rng.randint(1, n)) % n
                noisy += 1
            train_lines.append('{} {}'.format(rel, shown))
        for i in range(val_counts[label]):
            rel = 'val_{:02d}_{:03d}.jpg'.format(label, i)
            _write_jpeg(os.path.join(root, 'val', rel), _random_crop(img, rng))
            val_lines.append('{} {}'.format(rel, label))
        for i in range(5):
            rel = 'test_{:02d}_{:03d}.jpg'.format(label, i)
            _write_jpeg(os.path.join(test_root, 'val', rel), _random_crop(img, rng))
            test_lines.append('{} 0'.format(rel))
    rng.shuffle(val_lines)
    rng.shuffle(test_lines)
    for r in (root, test_root):
        _write_lines(os.path.join(r, 'meta', 'synsets.txt'), synsets)
        _write_lines(os.path.join(r, 'meta', 'synset_words.txt'),
                     ['{} {}'.format(w, s[0]) for w, s in zip(synsets, sources)])
    _write_lines(os.path.join(root, 'meta', 'train.txt'), train_lines)
    _write_lines(os.path.join(root, 'meta', 'val.txt'), val_lines)
    _write_lines(os.path.join(test_root, 'meta', 'val.txt'), test_lines)
    return n, len(train_lines), len(val_lines), len(test_lines), noisy


def _marker(root):
    return os.path.join(root, 'meta', '.demo-complete')


def built_demo_root(root=DEFAULT_ROOT):
    """The demo set's root if it has been built, else None (nothing is built)."""
    return root if os.path.isfile(_marker(root)) else None


def build_demo(root=DEFAULT_ROOT, seed=0, quiet=False):
    """Builds the demo set at ``root`` (and ``root``-test) unless a complete one is there.
    Returns (root, test root)."""
    def describe(stats):
        return '{} classes, {} train images ({} with a wrong label), {} val'.format(stats[0], stats[1], stats[4],
                                                                                  stats[2]), stats[3]
    return build_once(root, lambda r, t: describe(_build(r, t, seed)), quiet)


def build_once(root, build, quiet=False):
    """Runs ``build(root, test root)`` in a temporary folder beside ``root`` and renames the two
    roots into place when it is done (marked complete), unless complete ones are there already.
    ``build`` returns (what the root holds, the test root's image count), for the line printed.
    Returns (root, test root)."""
    root = os.path.abspath(root)
    test_root = root + '-test'
    for r in (root, test_root):
        if os.path.lexists(r) and not (os.path.isdir(r) and not os.path.islink(r) and os.path.isfile(_marker(r))):
            raise InputError('{}: exists and is not a demo set built here: not replaced (choose another '
                             '--root)'.format(r))
    if all(os.path.isfile(_marker(r)) for r in (root, test_root)):
        if not quiet:
            print('demo set already complete at {} (and {})'.format(root, test_root))
        return root, test_root
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix='.demo-build-', dir=parent)
    try:
        t_root, t_test = os.path.join(tmp, 'root'), os.path.join(tmp, 'test')
        held, test_images = build(t_root, t_test)
        for r in (t_root, t_test):
            with open(_marker(r), 'w') as f:
                f.write(VERSION + '\n')
        for src, dst in ((t_root, root), (t_test, test_root)):
            if os.path.exists(dst):
                shutil.rmtree(dst)          # a complete earlier build of ours, its other half missing
            os.rename(src, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        print('built demo set at {}: {}; test root {}: {} images'.format(root, held, test_root, test_images))
    return root, test_root
