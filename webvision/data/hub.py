"""A Hugging Face hub model folder (``model.safetensors`` + ``config.json``, as timm publishes them):
where its weights are, and the evaluation transform its ``pretrained_cfg`` says it was measured
with. Read only, as untrusted input (a downloaded file): every field is checked and named.

timm's evaluation transform for ``crop_mode`` "center" is Resize(floor(size / crop_pct)) of the
shorter side with the config's interpolation, then CenterCrop(size) (timm.data.transforms_factory),
which is this toolkit's 'torchvision' kind.
"""
import math
import os

from webvision.core.errors import InputError
from webvision.core.fileio import check_input, load_json
from webvision.data import transform as tr

CONFIG = 'config.json'
WEIGHTS = ('model.safetensors', 'pytorch_model.bin')
DEFAULT_CROP_PCT = 0.875            # timm's, when a config gives none
MAX_CONFIG_BYTES = 1 << 20          # a hub config.json is a few kB; a downloaded one is not trusted


def weights_in(folder):
    """The weights file of a hub folder; InputError naming the folder when it has none."""
    for name in WEIGHTS:
        path = os.path.join(folder, name)
        if os.path.lexists(path):
            return path
    raise InputError('{}: a folder without {} (a Hugging Face hub model folder has one)'.format(
        folder, ' or '.join(WEIGHTS)))


def config_beside(weights):
    """config.json beside a weights file (a hub folder's), or None."""
    path = os.path.join(os.path.dirname(os.path.abspath(weights)), CONFIG)
    return path if os.path.lexists(path) else None


def pretrained_cfg(path):
    """The ``pretrained_cfg`` object of a config.json (or the file itself when it is one)."""
    size = check_input(path).st_size
    if size > MAX_CONFIG_BYTES:
        raise InputError('{}: {:,} bytes, over the {:,} a model config may have'.format(path, size, MAX_CONFIG_BYTES))
    d = load_json(path)
    cfg = d.get('pretrained_cfg', d) if isinstance(d, dict) else d
    if not isinstance(cfg, dict):
        raise InputError('{}: expected an object with "pretrained_cfg", got {}'.format(path, type(cfg).__name__))
    return cfg


def transform(path, test_size=False):
    """The evaluation Transform of a config.json; with ``test_size`` at its test_input_size and
    test_crop_pct (timm's larger evaluation size), where it gives them."""
    cfg = pretrained_cfg(path)
    test = test_size and 'test_input_size' in cfg
    size = _size(cfg, 'test_input_size' if test else 'input_size', path)
    crop_pct = _crop_pct(cfg, 'test_crop_pct' if test and 'test_crop_pct' in cfg else 'crop_pct', path)
    mode = cfg.get('crop_mode', 'center')
    if mode != 'center':
        raise InputError('{}: crop_mode {!r}: only "center" (Resize, then CenterCrop) is supported'.format(path, mode))
    t = tr.Transform('torchvision', resize=int(math.floor(size / crop_pct)), crop=size,
                     interpolation=cfg.get('interpolation', 'bilinear'),
                     mean=_triple(cfg, 'mean', tr.IMAGENET_MEAN), std=_triple(cfg, 'std', tr.IMAGENET_STD))
    tr.check(t, path)
    return t


def _size(cfg, key, path):
    v = cfg.get(key)
    if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
            and v[1] == v[2] and 1 <= v[1] <= 4096):
        raise InputError('{}: {} = {!r}: expected [3, size, size], a square of 1 to 4096 pixels'.format(path, key, v))
    return v[1]


def _crop_pct(cfg, key, path):
    v = cfg.get(key, DEFAULT_CROP_PCT)
    v = DEFAULT_CROP_PCT if v is None else v
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.05 <= v <= 2:
        raise InputError('{}: {} = {!r}: expected a fraction such as 0.875'.format(path, key, v))
    return float(v)


def _triple(cfg, key, default):
    v = cfg.get(key, default)
    return tuple(v) if isinstance(v, list) else v
