"""webvision/data/hub.py: a hub folder's config.json read as untrusted input, field by field."""
import json

import pytest

from webvision.core.errors import InputError
from webvision.data import hub
from webvision.data.transform import Transform

TIMM_A1 = {'architecture': 'resnet50', 'num_classes': 1000, 'pretrained_cfg': {
    'tag': 'a1_in1k', 'input_size': [3, 224, 224], 'test_input_size': [3, 288, 288], 'interpolation': 'bicubic',
    'crop_pct': 0.95, 'test_crop_pct': 1.0, 'crop_mode': 'center', 'mean': [0.485, 0.456, 0.406],
    'std': [0.229, 0.224, 0.225], 'num_classes': 1000}}


def write(tmp_path, d):
    path = tmp_path / 'config.json'
    path.write_text(d if isinstance(d, str) else json.dumps(d))
    return str(path)


def test_timm_s_pretrained_cfg_gives_its_evaluation_transform(tmp_path):
    path = write(tmp_path, TIMM_A1)
    assert hub.transform(path) == Transform('torchvision', 235, 224, 'bicubic')     # floor(224 / 0.95)
    assert hub.transform(path, test_size=True) == Transform('torchvision', 288, 288, 'bicubic')
    plain = dict(TIMM_A1['pretrained_cfg'])
    del plain['crop_pct'], plain['test_input_size']
    assert hub.transform(write(tmp_path, {'pretrained_cfg': plain}), test_size=True).resize == 256   # timm's 0.875


@pytest.mark.parametrize('field, value, message', [
    ('crop_mode', 'squash', "crop_mode 'squash': only \"center\""),
    ('input_size', [3, 224, 200], 'input_size = [3, 224, 200]: expected [3, size, size]'),
    ('input_size', [3, 10 ** 6, 10 ** 6], 'a square of 1 to 4096 pixels'),
    ('crop_pct', 'big', "crop_pct = 'big': expected a fraction"),
    ('crop_pct', 0, 'crop_pct = 0: expected a fraction'),
    ('interpolation', 'lanczos', "transform interpolation = 'lanczos': expected one of bilinear, bicubic"),
    ('mean', [2, 0.5, 0.5], 'transform mean = (2, 0.5, 0.5): expected three numbers from 0.0 to 1.0'),
    ('std', [1, 2], 'transform std = (1, 2)'),
    ('std', [0.5, 0, 0.5], 'transform std = (0.5, 0, 0.5): expected three numbers from 0.001'),
])
def test_a_config_field_this_toolkit_cannot_apply_is_named(tmp_path, field, value, message):
    cfg = dict(TIMM_A1['pretrained_cfg'], **{field: value})
    path = write(tmp_path, {'pretrained_cfg': cfg})
    with pytest.raises(InputError, match='^' + path) as e:
        hub.transform(path)
    assert message in str(e.value)


def test_another_mean_and_std_are_recorded_for_the_graph(tmp_path):
    cfg = dict(TIMM_A1['pretrained_cfg'], mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    t = hub.transform(write(tmp_path, {'pretrained_cfg': cfg}))
    assert (t.mean, t.std) == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) and '0.5' in t.describe()


def test_a_config_that_is_not_one_is_named(tmp_path):
    for text, message in (('{"pretrained_cfg": ', 'not JSON'), ('[1, 2]', 'expected an object with "pretrained_cfg"'),
                          ('{"pretrained_cfg": 3}', 'got int')):
        with pytest.raises(InputError, match=message):
            hub.transform(write(tmp_path, text))
    with pytest.raises(InputError, match='over the 1,048,576 a model config may have'):
        hub.transform(write(tmp_path, '{"pretrained_cfg": {}, "pad": "' + 'x' * (1 << 20) + '"}'))
    (tmp_path / 'folder').mkdir()
    with pytest.raises(InputError, match='without model.safetensors or pytorch_model.bin'):
        hub.weights_in(str(tmp_path / 'folder'))
    (tmp_path / 'folder' / 'config.json').mkdir()
    with pytest.raises(InputError, match='config.json: is a folder, expected a regular file'):
        hub.transform(str(tmp_path / 'folder' / 'config.json'))
