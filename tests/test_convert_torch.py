"""utils/convert_torch.py against an independently written PyTorch ResNet/ResNeXt with random
weights and batch-norm statistics: the converted model must give the same logits."""
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from lib import torch_resnet
from conftest import ROOT
from lib.checkpoints import WeightLoader
from lib.lists import IMAGENET_SYNSET_WORDS
from resnet_model import ResNetModel
from tensorpack.predict import OfflinePredictor, PredictConfig

pytestmark = pytest.mark.e2e      # each test runs programs in fresh processes

CONVERTER = os.path.join(ROOT, 'utils', 'convert_torch.py')
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def photos(size):
    """Three real photos (scikit-image), centre-cropped to size x size, BGR uint8."""
    from skimage import data
    out = []
    for im in (data.astronaut(), data.coffee(), data.chelsea()):
        h, w = im.shape[:2]
        s = min(h, w)
        crop = im[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]
        out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1])
    return np.ascontiguousarray(np.stack(out))


def torch_logits(model, bgr):
    rgb = bgr[:, :, :, ::-1].astype(np.float64) / 255.
    x = torch.from_numpy(((rgb - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32))
    with torch.no_grad():
        return model(x).numpy()


def tf_logits(npz, depth, mode, group_width, num_classes, bgr):
    model = ResNetModel(depth, mode, num_classes=num_classes, group_width=group_width, data_format='NHWC',
                        image_size=bgr.shape[1])
    pred = OfflinePredictor(PredictConfig(model=model, session_init=WeightLoader(npz, strict=True),
                                          input_names=['input'], output_names=['logits']))
    return pred(bgr)[0]


def convert(state_dict, tmp_path, arch, name='m'):
    pth, npz = str(tmp_path / (name + '.pth')), str(tmp_path / (name + '.npz'))
    torch.save(state_dict, pth)
    proc = subprocess.run([sys.executable, CONVERTER, pth, npz, '--arch', arch], capture_output=True, text=True)
    return proc, npz


@pytest.mark.parametrize('arch,depth,mode,group_width,size', [
    ('resnet18', 18, 'resnet', 4, 224),
    ('resnext50_32x4d', 50, 'resnext', 4, 224),
    ('resnext101_32x8d', 101, 'resnext', 8, 224),      # a WSL architecture
    ('resnet50', 50, 'resnet', 4, 193),               # odd sizes: padding must match at every stride
])
def test_converted_model_gives_the_same_logits(tmp_path, arch, depth, mode, group_width, size):
    model = torch_resnet.randomize(torch_resnet.build(arch, num_classes=1000), seed=depth)
    proc, npz = convert(model.state_dict(), tmp_path, arch)
    assert proc.returncode == 0, proc.stderr
    images = photos(size)
    expected = torch_logits(model, images)
    got = tf_logits(npz, depth, mode, group_width, 1000, images)
    assert got.shape == expected.shape == (3, 1000)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_refuses_another_architecture_naming_the_key(tmp_path):
    proc, npz = convert(torch_resnet.build('resnet50').state_dict(), tmp_path, 'resnet101')
    assert proc.returncode == 1 and "missing 'layer3.6.conv1.weight'" in proc.stderr
    assert not os.path.exists(npz)


def test_refuses_keys_left_unconverted(tmp_path):
    sd = torch_resnet.build('resnet18').state_dict()
    sd['aux_head.weight'] = torch.zeros(3)
    proc, npz = convert(sd, tmp_path, 'resnet18')
    assert proc.returncode == 1 and '1 key(s) left unconverted' in proc.stderr and 'aux_head.weight' in proc.stderr


def test_refuses_shapes_that_do_not_fit(tmp_path):
    proc, _ = convert(torch_resnet.build('resnext50_32x4d').state_dict(), tmp_path, 'resnet50')
    assert proc.returncode == 1
    assert 'group0/block0/conv1/W: (1, 1, 64, 128) converted, (1, 1, 64, 64) in the model' in proc.stderr


class NotWeights:
    pass


def test_never_unpickles_objects(tmp_path):
    proc, npz = convert({'conv1.weight': torch.zeros(1), 'payload': NotWeights()}, tmp_path, 'resnet18')
    assert proc.returncode == 1 and 'refusing to unpickle' in proc.stderr
    assert not os.path.exists(npz)


def test_predict_names_imagenet_classes_of_a_converted_model(tmp_path):
    from imagenet_utils import fbresnet_augmentor
    from tensorpack.dataflow import imgaug
    from conftest import run_driver
    model = torch_resnet.randomize(torch_resnet.build('resnet18'), seed=3)
    proc, npz = convert(model.state_dict(), tmp_path, 'resnet18')
    assert proc.returncode == 0, proc.stderr
    from skimage.data import chelsea
    image = str(tmp_path / 'cat.jpg')
    cv2.imwrite(image, chelsea()[:, :, ::-1])
    out = run_driver('-d', '18', '--load', npz, '--predict', image).stdout.strip().splitlines()
    assert out[0] == image and len(out) == 6
    for line in out[1:]:
        assert re.match(r"^\d\.\d\d - 'n\d{8} .+'$", line), line
    # the same preprocessing through the PyTorch model picks the same class
    crop = imgaug.AugmentorList(fbresnet_augmentor(False)).augment(cv2.imread(image))
    best = torch_logits(model, crop[None]).argmax()
    with open(IMAGENET_SYNSET_WORDS) as f:
        names = [line.strip() for line in f]
    assert out[1].split(' - ', 1)[1] == repr(names[best])


def run_converter(*args):
    return subprocess.run([sys.executable, CONVERTER] + [str(a) for a in args], capture_output=True, text=True)


@pytest.mark.parametrize('content', [b'', b'PK\x03\x04cut', None])
def test_damaged_files_are_named_without_a_traceback(tmp_path, content):
    pth = tmp_path / 'm.pth'
    if content is None:                                  # a real file, cut in half
        torch.save(torch_resnet.build('resnet18').state_dict(), str(pth))
        content = pth.read_bytes()[:pth.stat().st_size // 2]
    pth.write_bytes(content)
    proc = run_converter(pth, tmp_path / 'm.npz', '--arch', 'resnet18')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr
    assert 'error: {}: not a readable PyTorch file'.format(pth) in proc.stderr


def test_non_tensors_and_colliding_prefixes_are_refused(tmp_path):
    sd = torch_resnet.build('resnet18').state_dict()
    proc, _ = convert(dict(sd, **{'fc.note': 3}), tmp_path, 'resnet18')
    assert proc.returncode == 1 and "'fc.note' holds int, not a tensor" in proc.stderr, proc.stderr
    proc, _ = convert(dict(sd, **{'module.conv1.weight': sd['conv1.weight'] + 1}), tmp_path, 'resnet18')
    assert proc.returncode == 1 and "both 'conv1.weight' and 'module.conv1.weight'" in proc.stderr, proc.stderr
    assert 'Traceback' not in proc.stderr


def test_an_output_folder_that_does_not_exist_is_refused_first(tmp_path):
    pth = tmp_path / 'm.pth'
    torch.save(torch_resnet.build('resnet18').state_dict(), str(pth))
    out = tmp_path / 'no' / 'm.npz'
    proc = run_converter(pth, out, '--arch', 'resnet18')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'error: OUTPUT {}: the folder {} does not exist'.format(out, out.parent) in proc.stderr
