"""Weights converted by webvision-convert, then used by the driver's --predict and --eval in their own
processes: the torch model's probabilities on a real photo, through the recorded transform."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT, run_driver
from helpers import torchvision_ref as ref
from helpers.images import jpeg_bytes
from helpers.programs import run_program
from webvision.data.lists import IMAGENET_SYNSET_WORDS
from webvision.weights import torch_resnet


def resnet18():
    """torchvision's own ResNet-18 (requirements-ref.txt, which make test installs); the independent
    PyTorch one of webvision/weights/torch_resnet.py where torchvision does not import."""
    try:
        import torchvision.models
    except ImportError:
        return torch_resnet.build('resnet18')
    return torchvision.models.resnet18(weights=None)


def test_safetensors_to_predict_gives_the_torch_models_probabilities_on_a_real_photo(tmp_path):
    """The whole path: the torch model's state dict as safetensors, converted without --arch, then
    --predict and --eval with their default transform (the recorded torchvision one) on a real photo,
    beside torchvision's model on torchvision's transform."""
    from safetensors.torch import save_file
    from skimage import data
    photos = [jpeg_bytes(getattr(data, n)()) for n in ('astronaut', 'coffee', 'rocket', 'hubble_deep_field', 'colorwheel')]
    model = torch_resnet.calibrate(torch_resnet.randomize(resnet18(), seed=3),
                                   torch.from_numpy(np.stack([ref.eval_transform(p) for p in photos])))
    st, npz = tmp_path / 'resnet18.safetensors', str(tmp_path / 'm.npz')
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(st))
    proc = run_program('convert_torch', st, npz)
    assert proc.returncode == 0 and '(resnet18, found from its shapes' in proc.stdout, proc.stderr
    root = tmp_path / 'root'
    for d in ('meta', 'val'):
        (root / d).mkdir(parents=True)
    image = root / 'val' / 'cat.jpg'
    image.write_bytes(jpeg_bytes(data.chelsea()))                        # 300 x 451: resized, then cropped
    with torch.no_grad():
        x = torch.from_numpy(ref.eval_transform(image.read_bytes()))[None]
        expected = torch.softmax(model(x).double(), 1)[0].numpy()
    with open(IMAGENET_SYNSET_WORDS) as f:
        names = [line.strip() for line in f]

    out = run_driver('-d', '18', '--load', npz, '--predict', image, '--topk', 3).stdout.strip().splitlines()
    assert out[0] == str(image) and len(out) == 4
    best = np.argsort(-expected)[:3]
    for line, c in zip(out[1:], best):
        assert re.match(r"^\d\.\d\d - 'n\d{8} .+'$", line), line
        prob, name = line.split(' - ', 1)
        assert name == repr(names[c]) and abs(float(prob) - expected[c]) <= 0.005 + 1e-3

    (root / 'meta' / 'synsets.txt').write_text(''.join(n.split()[0] + '\n' for n in names))
    (root / 'meta' / 'val.txt').write_text('cat.jpg {}\n'.format(best[0]))
    probs = str(tmp_path / 'probs.npy')
    run_driver('-d', '18', '--data', root, '--eval', '--load', npz, '--save-probs', probs,
               '--predictions', tmp_path / 'p.json', '--workers', 1)
    got = np.load(probs, allow_pickle=False)[0].astype(np.float64)
    assert np.abs(got - expected).max() <= 1e-3
    # the toolkit's own crop is another image, hence other probabilities: why the record matters
    run_driver('-d', '18', '--data', root, '--eval', '--load', npz, '--save-probs', probs, '--eval-transform',
               'toolkit', '--predictions', tmp_path / 'p.json', '--workers', 1)
    assert np.abs(np.load(probs, allow_pickle=False)[0] - expected).max() > 1e-2


def test_a_hub_folder_at_its_test_size_predicts_as_timm_validates(tmp_path):
    """A timm hub folder (resnet18.a1_in1k's config: test size 288, crop_pct 1.0, bicubic) converted
    with --test-size: --predict without --image-size runs at 288 and prints the probabilities of timm's
    model on timm's own test-size transform (what its validate.py uses by default)."""
    timm = pytest.importorskip('timm', reason='timm 1.0.31: pip install -r requirements-ref.txt')
    from skimage import data
    image = tmp_path / 'cat.jpg'
    image.write_bytes(jpeg_bytes(data.chelsea()))
    model = torch_resnet.randomize(timm.create_model('resnet18.a1_in1k', pretrained=False), seed=7)
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model, use_test_size=True))
    photos = [jpeg_bytes(getattr(data, n)()) for n in ('astronaut', 'coffee', 'rocket', 'chelsea')]
    model = torch_resnet.calibrate(model, torch.stack([transform(ref.pil_loader(p)) for p in photos])).eval()
    with torch.no_grad():
        expected = torch.softmax(model(transform(ref.pil_loader(image.read_bytes()))[None]).double(), 1)[0].numpy()
    timm.models.save_for_hf(model, str(tmp_path / 'hub'), safe_serialization=True)
    npz = str(tmp_path / 'm.npz')
    assert run_program('convert_torch', tmp_path / 'hub', npz, '--test-size').returncode == 0
    proc = run_driver('-d', '18', '--load', npz, '--predict', image, '--topk', 3)
    assert 'CenterCrop(288)' in proc.stderr
    out = proc.stdout.strip().splitlines()
    with open(IMAGENET_SYNSET_WORDS) as f:
        names = [line.strip() for line in f]
    for line, c in zip(out[1:], np.argsort(-expected)[:3]):
        prob, name = line.split(' - ', 1)
        assert name == repr(names[c]) and abs(float(prob) - expected[c]) <= 0.005 + 1e-3, line


def test_the_converters_run_as_a_user_runs_them(tmp_path):
    """utils/convert_torch.py and utils/convert_caffe.py in a process of their own, from an
    environment without TensorFlow's variables (the tests' own process has TF_USE_LEGACY_KERAS set,
    which once hid a converter that imported TensorFlow before the switch and could not convert)."""
    from helpers import caffe_writer
    model = torch_resnet.randomize(resnet18(), seed=5)
    pth, proto, weights = tmp_path / 'm.pth', tmp_path / 'm.prototxt', tmp_path / 'm.caffemodel'
    torch.save(model.state_dict(), str(pth))
    caffe_writer.write(model, proto, weights, size=64)
    env = {k: v for k, v in os.environ.items() if not k.startswith('TF_')}
    outputs = {}
    for name, inputs in (('convert_torch', [pth]), ('convert_caffe', [proto, weights])):
        outputs[name] = str(tmp_path / (name + '.npz'))
        proc = subprocess.run([sys.executable, os.path.join(ROOT, 'utils', name + '.py')] + inputs + [outputs[name]],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
        assert '(resnet18' in proc.stdout
    with np.load(outputs['convert_torch']) as a, np.load(outputs['convert_caffe']) as b:
        keys = [k for k in a.files if not k.startswith('__')]
        assert keys and all(np.array_equal(a[k], b[k]) for k in keys)


def test_a_converted_caffe_model_predicts_what_eval_img_prints(tmp_path):
    """kaiyuyue/resnext-wsl-caffe's files (a torchvision ResNet written as theirs are) converted, then
    --predict and --eval with the recorded caffe transform, beside the network Caffe runs (the torch
    model with Caffe's stem pool) on the blob eval_img.py makes (tests/helpers/caffe_io_ref.py)."""
    from skimage import data
    from helpers import caffe_io_ref, caffe_writer
    from helpers.images import encode_array
    root = tmp_path / 'root'
    for d in ('meta', 'val'):
        (root / d).mkdir(parents=True)
    photos = {'cat.jpg': encode_array(data.chelsea()), 'cup.jpg': encode_array(np.ascontiguousarray(data.coffee()[:, 100:350])),
              'coins.png': encode_array(data.coins(), 'PNG'), 'small.jpg': encode_array(data.astronaut()[::4, ::3])}
    paths = []
    for name, content in photos.items():
        paths.append(root / 'val' / name)
        paths[-1].write_bytes(content)
    blobs = []
    for path in paths:
        folder = tmp_path / path.stem
        folder.mkdir()
        blobs.append(caffe_io_ref.network_input(caffe_io_ref.write_image(folder, path.read_bytes())))
    rgb = torch.from_numpy(np.ascontiguousarray(np.stack(blobs)[:, ::-1]))
    model = torch_resnet.randomize(resnet18(), seed=4)
    model.maxpool = torch.nn.MaxPool2d(3, 2, 0, ceil_mode=True)          # Caffe's: no padding, output rounded up
    model = torch_resnet.calibrate(model, rgb)
    with torch.no_grad():
        expected = torch.softmax(model(rgb).double(), 1).numpy()
    proto, weights, npz = tmp_path / 'm.prototxt', tmp_path / 'm.caffemodel', str(tmp_path / 'm.npz')
    caffe_writer.write(model, proto, weights, size=224)
    proc = run_program('convert_caffe', proto, weights, npz)
    assert proc.returncode == 0 and "eval_img.py's transform" in proc.stdout, proc.stderr
    with open(IMAGENET_SYNSET_WORDS) as f:
        names = [line.strip() for line in f]

    out = run_driver('-d', '18', '--load', npz, '--predict', *paths).stdout.strip().splitlines()
    assert len(out) == 6 * len(paths)
    for k, path in enumerate(paths):
        assert out[6 * k] == str(path)
        for line, c in zip(out[6 * k + 1:6 * k + 6], np.argsort(-expected[k])[:5]):    # eval_img.py's top 5
            prob, name = line.split(' - ', 1)
            assert name == repr(names[c]) and abs(float(prob) - expected[k, c]) <= 0.005 + 1e-4, (path, line)

    (root / 'meta' / 'synsets.txt').write_text(''.join(n.split()[0] + '\n' for n in names))
    (root / 'meta' / 'val.txt').write_text(''.join('{} 0\n'.format(p.name) for p in paths))
    probs = str(tmp_path / 'probs.npy')
    run_driver('-d', '18', '--data', root, '--eval', '--load', npz, '--save-probs', probs,
               '--predictions', tmp_path / 'p.json', '--workers', 1)
    got = np.load(probs, allow_pickle=False).astype(np.float64)
    assert np.abs(got - expected).max() <= 1e-3          # float16 probabilities on file
    proc = run_driver('-d', '18', '--data', root, '--eval', '--load', npz, '--tta', 'flip', check=False)
    assert proc.returncode != 0 and "--tta flip: the caffe transform (eval_img.py's) has one view" in proc.stderr
    assert 'Traceback' not in proc.stderr
