"""How a model expects its evaluation images, recorded with its weights.

Three transforms exist. ``toolkit``: this toolkit's centre crop (the crop of the image that becomes the
centre ``size`` square once the shorter side is ``size`` x 256/224, resized with OpenCV's cubic filter,
without antialiasing); models trained here use it. ``torchvision``: torchvision's evaluation transform,
``Resize(resize)`` of the shorter side with Pillow's antialiased filter, then ``CenterCrop(crop)``; the
weights of torchvision, timm and the WSL ResNeXts were measured with it. ``caffe``: the one of
kaiyuyue/resnext-wsl-caffe's eval_img.py, which measured its Caffe copies of those ResNeXts (see
webvision.data.decode.CaffeDecoder); its crop is float, so the model's input is float32 for it.
Each normalises with the mean and std recorded (ImageNet's unless a converted model says
otherwise), in the graph.

The record is JSON: in a converted .npz under the key ``__transform__`` (uint8 bytes, so that the file
loads with ``allow_pickle=False``), and for a run of this toolkit in LOGDIR/transform.json, which a
``--finetune`` run writes from its ``--load`` file. A model without a record uses ``toolkit``.
"""
import dataclasses
import json
import math
import io
import os
import zipfile

import numpy as np

from webvision.core.constants import IMAGE_MEAN_RGB, IMAGE_STD_RGB
from webvision.core.errors import InputError
from webvision.core.fileio import open_input, write_atomic

KINDS = ('toolkit', 'torchvision', 'caffe')
INTERPOLATIONS = ('bilinear', 'bicubic')
NPZ_KEY = '__transform__'
FILE_NAME = 'transform.json'
MAX_RECORD_BYTES = 4096
NPY_HEADER_BYTES = 256          # what np.save puts before a small 1-D array
IMAGENET_MEAN = tuple(float(m) for m in np.round(IMAGE_MEAN_RGB / 255., 3))
IMAGENET_STD = tuple(float(s) for s in np.round(IMAGE_STD_RGB / 255., 3))


class TransformError(InputError):
    pass


@dataclasses.dataclass(frozen=True)
class Transform:
    """An evaluation transform: ``kind`` (KINDS); for torchvision, the shorter side resized to
    ``resize`` with ``interpolation``, then the centre ``crop`` square; RGB mean and std in 0-1."""
    kind: str = 'toolkit'
    resize: int = 256
    crop: int = 224
    interpolation: str = 'bilinear'
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD

    def at_size(self, size):
        """This transform for a model input of ``size`` pixels: the resize scales with the crop,
        as timm's crop_pct does (floor(size / crop_pct))."""
        if size == self.crop:
            return self
        return dataclasses.replace(self, crop=size, resize=int(math.floor(size * self.resize / self.crop + 1e-9)))

    @property
    def float_input(self):
        """True when the crop is float (0-255, not rounded), so the model's input is float32."""
        return self.kind == 'caffe'

    def describe(self):
        if self.kind == 'caffe':
            return ('caffe: eval_img.py\'s: the centre square of the shorter side (of a portrait image, the rows '
                    'from its offset to the bottom, as its slice takes them), caffe.io.resize_image to {s} x {s} '
                    '(scikit-image, bilinear, no antialiasing), float; BGR mean {} and scale {:.4g} in the '
                    'graph'.format([round(m * 255., 2) for m in self.mean[::-1]], 1. / (self.std[0] * 255.),
                                   s=self.crop))
        if self.kind == 'toolkit':
            return ('toolkit: the centre crop of the image resized (shorter side) to {} px, taken {} x {} '
                    'with OpenCV\'s cubic filter; BGR, ImageNet mean and std in the graph'.format(
                        self.resize, self.crop, self.crop))
        return ('torchvision: Resize({}) of the shorter side with Pillow\'s antialiased {} filter, then '
                'CenterCrop({}); RGB mean {} and std {}'.format(self.resize, self.interpolation, self.crop,
                                                                 list(self.mean), list(self.std)))

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


TOOLKIT = Transform('toolkit', interpolation='bicubic')
TORCHVISION = Transform('torchvision')
# eval_img.py's: (x - mean BGR) x 0.017 on 0-255 pixels is (x / 255 - mean / 255) / std, std = 1 / (0.017 x 255)
CAFFE_MEAN_BGR, CAFFE_SCALE = (103.94, 116.78, 123.68), 0.017
CAFFE = Transform('caffe', resize=224, crop=224, interpolation='bilinear',
                  mean=tuple(m / 255. for m in CAFFE_MEAN_BGR[::-1]), std=(1. / (CAFFE_SCALE * 255.),) * 3)
BY_NAME = {'toolkit': TOOLKIT, 'torchvision': TORCHVISION, 'caffe': CAFFE}


def from_json(text, source):
    """The Transform a record describes; TransformError naming ``source`` for anything else
    (the record comes with downloaded or converted files: it is checked field by field)."""
    try:
        d = json.loads(text)
    except (ValueError, RecursionError) as e:       # 2,000 nested brackets overflow the parser's stack
        reason = 'nested too deep' if isinstance(e, RecursionError) else e
        raise TransformError('{}: the transform record is not JSON ({})'.format(source, reason)) from None
    if not isinstance(d, dict):
        raise TransformError('{}: the transform record is {}, not an object'.format(source, type(d).__name__))
    fields = {f.name for f in dataclasses.fields(Transform)}
    unknown = sorted(set(d) - fields)
    if unknown:
        raise TransformError('{}: unknown transform field(s) {}; known: {}'.format(
            source, ', '.join(map(repr, unknown)), ', '.join(sorted(fields))))
    t = Transform(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
    check(t, source)
    return t


def check(t, source):
    """TransformError naming ``source`` and the field unless ``t`` is one this toolkit can apply."""
    def bad(field, why):
        raise TransformError('{}: transform {} = {!r}: {}'.format(source, field, getattr(t, field), why))
    if t.kind not in KINDS:
        bad('kind', 'expected one of ' + ', '.join(KINDS))
    if t.interpolation not in INTERPOLATIONS:
        bad('interpolation', 'expected one of ' + ', '.join(INTERPOLATIONS))
    for field in ('resize', 'crop'):
        v = getattr(t, field)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 4096:
            bad(field, 'expected a whole number of pixels from 1 to 4096')
    for field, low, high in (('mean', 0., 1.), ('std', 1e-3, 10.)):
        v = getattr(t, field)
        ok = isinstance(v, tuple) and len(v) == 3 and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                         for x in v)
        if not ok or not all(low <= x <= high for x in v):      # also false for NaN
            bad(field, 'expected three numbers from {} to {} (RGB, images in 0-1)'.format(low, high))
    if t.kind == 'caffe' and (t.resize != t.crop or t.interpolation != 'bilinear'):
        bad('resize' if t.resize != t.crop else 'interpolation', 'eval_img.py resizes the centre square straight '
            'to the crop size, bilinear: resize = crop and interpolation bilinear')
    if t.kind == 'toolkit' and not is_imagenet(t):
        bad('mean', 'the toolkit\'s crop goes with ImageNet\'s mean and std (its models are trained with them)')


def is_imagenet(t):
    """True when ``t`` normalises with ImageNet's mean and std (timm's and torchvision's constants)."""
    return np.allclose(t.mean, IMAGENET_MEAN, atol=1e-3) and np.allclose(t.std, IMAGENET_STD, atol=1e-3)


def npz_entry(t):
    """{NPZ_KEY: the record as uint8 bytes}, to save in an .npz beside the weights."""
    return {NPZ_KEY: np.frombuffer(t.to_json().encode('utf-8'), np.uint8)}


def record_path(weights_path):
    """Where a toolkit checkpoint's record is: transform.json in its folder."""
    return os.path.join(os.path.dirname(os.path.abspath(weights_path)), FILE_NAME)


def write_record(logdir, t):
    write_atomic(os.path.join(logdir, FILE_NAME), t.to_json() + '\n')


def read_transform(weights_path):
    """The Transform recorded with a resolved checkpoint prefix or .npz, or None when none is."""
    if weights_path.endswith('.npz'):
        data = _npz_record(weights_path)
        return None if data is None else from_json(data.tobytes().decode('utf-8', 'replace'), weights_path)
    path = record_path(weights_path)
    if not os.path.lexists(path):
        return None
    with open_input(path) as f:
        data = f.read(MAX_RECORD_BYTES + 1)
    if len(data) > MAX_RECORD_BYTES:
        raise TransformError('{}: over {} bytes; not a transform record'.format(path, MAX_RECORD_BYTES))
    return from_json(data.decode('utf-8', 'replace'), path)


def _npz_record(path):
    """The uint8 array under NPZ_KEY of an .npz, or None; its size is read from the zip entry's
    header and bounded before it is inflated (a 1 MB entry may inflate to gigabytes)."""
    limit = MAX_RECORD_BYTES + NPY_HEADER_BYTES
    try:
        with open_input(path) as f, zipfile.ZipFile(f) as z:
            try:
                info = z.getinfo(NPZ_KEY + '.npy')
            except KeyError:
                return None
            if info.file_size > limit:
                raise TransformError('{}: {} holds {:,} bytes; a transform record has at most {:,}'.format(
                    path, NPZ_KEY, info.file_size, MAX_RECORD_BYTES))
            with z.open(info) as member:
                raw = member.read(limit + 1)        # bounded, whatever the header said
        if len(raw) > limit:
            raise TransformError('{}: {} inflates past its stated size: not a transform record'.format(path, NPZ_KEY))
        data = np.load(io.BytesIO(raw), allow_pickle=False)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError) as e:
        if isinstance(e, TransformError):
            raise
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise TransformError('{}: cannot be read as weights ({}); is it damaged or cut short?'.format(
            path, reason)) from None
    if data.dtype != np.uint8 or data.ndim != 1 or data.size > MAX_RECORD_BYTES:
        raise TransformError('{}: {} is not a transform record'.format(path, NPZ_KEY))
    return data


def choose(flag, weights_path):
    """The evaluation transform for ``--eval-transform flag`` (auto: the one recorded with the
    weights, else toolkit), at the size it was recorded for (see Transform.at_size)."""
    return BY_NAME[flag] if flag != 'auto' else (weights_path and read_transform(weights_path)) or TOOLKIT


def add_transform_arg(group):
    group.add_argument('--eval-transform', default='auto', choices=('auto',) + KINDS, help='how evaluation and '
        'prediction images are cropped: toolkit (OpenCV, this toolkit\'s models), torchvision (Pillow: Resize of the '
        'shorter side to size x 256/224, antialiased, then CenterCrop, as torchvision and timm measured their '
        'weights), caffe (eval_img.py\'s for Caffe models: scikit-image, float), or auto: the one recorded with '
        '--load (utils/convert_torch.py records torchvision, utils/convert_caffe.py caffe), else toolkit '
        '(default: %(default)s)')
