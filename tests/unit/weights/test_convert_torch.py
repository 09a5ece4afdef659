"""webvision-convert (utils/convert_torch.py), in-process, against an independently written PyTorch ResNet/ResNeXt with random
weights and batch-norm statistics: the converted model must give the same logits."""
import os

import cv2
import numpy as np
import pytest
import torch

from webvision.weights import torch_resnet
from helpers import torchvision_ref as ref
from helpers.programs import run_program
from webvision.weights.checkpoints import WeightLoader
from webvision.weights.checkpoints import read_weights
from webvision.data.transform import Transform, read_transform
from webvision.model.resnet import TORCHVISION_ARCHS, ResNetModel
from tensorpack.predict import OfflinePredictor, PredictConfig

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
    proc = run_program('convert_torch', pth, npz, '--arch', arch)
    return proc, npz


@pytest.mark.parametrize('arch,depth,mode,group_width,size', [
    ('resnet18', 18, 'resnet', 4, 224),                # the one full-size case
    ('resnext50_32x4d', 50, 'resnext', 4, 64),         # every layer at a small size: the same weights and padding
    pytest.param('resnext101_32x8d', 101, 'resnext', 8, 64, marks=pytest.mark.slow),     # a WSL architecture
    ('resnet50', 50, 'resnet', 4, 97),                 # odd sizes (97, 49, 25, 13, 7): padding at every stride
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
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr and '\x1b' not in proc.stderr
    assert 'refusing to unpickle test_convert_torch.NotWeights: only tensors, plain containers' in proc.stderr
    assert not os.path.exists(npz)


def test_a_timm_checkpoint_saver_file_converts_its_model_or_with_ema_its_average(tmp_path):
    """The file timm's train.py writes: epoch, arch, args (an argparse.Namespace), optimizer,
    state_dict and state_dict_ema, saved by timm's own CheckpointSaver."""
    import argparse
    timm = pytest.importorskip('timm', reason='timm 1.0.31: pip install -r requirements-ref.txt')
    from timm.utils import CheckpointSaver, ModelEmaV3
    model = torch_resnet.randomize(timm.create_model('resnet18', pretrained=False), seed=4)
    ema = ModelEmaV3(model, decay=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)                                # the average now differs from the model
    ema.update(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    args = argparse.Namespace(model='resnet18', lr=0.1, epochs=3, mixup=0.2, data_dir='/data/in1k')
    saver = CheckpointSaver(model, optimizer, args=args, model_ema=ema, checkpoint_dir=str(tmp_path),
                            recovery_dir=str(tmp_path))
    saver.save_checkpoint(epoch=2, metric=71.3)
    path = tmp_path / 'last.pth.tar'
    for flag, source in ((), model), (('--ema',), ema.module):
        proc = run_converter(path, tmp_path / 'm.npz', *flag)
        assert proc.returncode == 0, proc.stderr
        weights = read_weights(str(tmp_path / 'm.npz'))
        np.testing.assert_array_equal(weights['linear/b'], source.fc.bias.detach().numpy())
    torch.save({'state_dict': model.state_dict(), 'args': args}, str(tmp_path / 'plain.pth'))
    proc = run_converter(tmp_path / 'plain.pth', tmp_path / 'm.npz', '--ema')
    assert proc.returncode == 1 and "--ema, but no weight average in it (no 'state_dict_ema' or 'model_ema'; " \
        "it holds args, state_dict)" in proc.stderr


def run_converter(*args):
    return run_program('convert_torch', *args)


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


def test_what_is_not_a_weights_file_is_named_for_what_it_is(tmp_path):
    """A photo or a config given as the weights is named as not a PyTorch file, with the unpickler's
    own reason (not torch's paragraph about weights_only); a FIFO or a device is refused before
    anything opens it, as what it is."""
    from helpers.images import jpeg_bytes
    photo, fifo = tmp_path / 'cat.jpg', tmp_path / 'pipe.pth'
    photo.write_bytes(jpeg_bytes(np.zeros((8, 8, 3), np.uint8)))
    os.mkfifo(fifo)
    for path, message in ((photo, 'not a PyTorch weights file (Unsupported operand 255)'),
                          (fifo, 'is a FIFO, expected a regular file'),
                          ('/dev/null', 'is a character device, expected a regular file')):
        proc = run_converter(path, tmp_path / 'm.npz')
        assert proc.returncode == 1 and 'error: {}: {}'.format(path, message) in proc.stderr, proc.stderr
        assert 'weights_only' not in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'm.npz').exists()


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


def converter_module():
    from webvision.commands import convert_torch
    return convert_torch


@pytest.mark.parametrize('arch', sorted(TORCHVISION_ARCHS))
def test_the_architecture_is_found_from_the_shapes(arch):
    conv = converter_module()
    with torch.device('meta'):                  # shapes only: the 32x48d model allocates nothing
        sd = torch_resnet.build(arch).state_dict()
    assert conv.infer_arch(sd, 'm.pth') == arch


def test_an_unknown_or_ambiguous_layout_is_refused_listing_the_candidates():
    conv = converter_module()
    with torch.device('meta'):
        wide = torch_resnet.ResNet(torch_resnet.Bottleneck, [3, 4, 6, 3], width_per_group=128).state_dict()
        damaged = torch_resnet.build('resnet50').state_dict()
    with pytest.raises(conv.ConversionError, match=r'wide.pth: not a supported architecture \(blocks per stage '
                       r'3-4-6-3, bottleneck, layer1.0.conv2 128x128\); supported: resnet101, '):
        conv.infer_arch(wide, 'wide.pth')
    del damaged['layer1.0.conv2.weight']
    with pytest.raises(conv.ConversionError, match=r'could be resnet50 or resnext50_32x4d .*; pass --arch'):
        conv.infer_arch(damaged, 'm.pth')


@pytest.mark.parametrize('name, wrap', [
    ('ref.pth.tar', lambda sd: {'epoch': 90, 'arch': 'resnet18', 'state_dict': sd, 'optimizer': {'lr': 0.1}}),
    ('timm.pth.tar', lambda sd: {'epoch': 3, 'model': {'module.' + k: v for k, v in sd.items()}}),
    ('lightning.ckpt', lambda sd: {'state_dict': {'module.' + k: v for k, v in sd.items()}, 'global_step': 7}),
])
def test_training_checkpoints_are_unwrapped(tmp_path, name, wrap):
    model = torch_resnet.randomize(torch_resnet.build('resnet18'), seed=1)
    torch.save(wrap(model.state_dict()), str(tmp_path / name))
    proc = run_converter(tmp_path / name, tmp_path / 'm.npz', '--interpolation', 'bicubic', '--resize', 235)
    assert proc.returncode == 0, proc.stderr
    weights = read_weights(str(tmp_path / 'm.npz'))
    np.testing.assert_array_equal(weights['linear/b'], model.fc.bias.detach().numpy())
    assert read_transform(str(tmp_path / 'm.npz')) == Transform('torchvision', 235, 224, 'bicubic')
    assert 'Resize(235) of the shorter side with Pillow\'s antialiased bicubic filter' in proc.stdout


def test_a_damaged_safetensors_file_or_a_checkpoint_without_weights_is_named(tmp_path):
    from safetensors.torch import save_file
    st = tmp_path / 'm.safetensors'
    save_file({'conv1.weight': torch.zeros(64, 3, 7, 7)}, str(st))
    st.write_bytes(st.read_bytes()[:100])
    proc = run_converter(st, tmp_path / 'm.npz')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'error: {}: not a readable safetensors file'.format(st) in proc.stderr
    torch.save({'epoch': 3, 'weights': {}}, str(tmp_path / 'c.pth'))
    proc = run_converter(tmp_path / 'c.pth', tmp_path / 'm.npz')
    assert proc.returncode == 1 and "'epoch' holds int, not a tensor (a checkpoint keeps its weights under " \
        "'state_dict' or 'model')" in proc.stderr
    proc = run_converter(tmp_path / 'nothere.safetensors', tmp_path / 'm.npz')
    assert proc.returncode == 1 and 'error: {}: no such file'.format(tmp_path / 'nothere.safetensors') in proc.stderr
    proc = run_converter(tmp_path / 'c.pth', tmp_path / 'm.npz', '--crop', 0)
    assert proc.returncode == 1 and 'crop = 0: expected a whole number of pixels' in proc.stderr


def real_model(library, arch):
    """A model of the real library (requirements-ref.txt, which make test installs), random weights."""
    if library == 'torchvision':
        tv = pytest.importorskip('torchvision.models', reason='torchvision 0.29.1: pip install -r requirements-ref.txt')
        return tv.get_model(arch, weights=None)
    timm = pytest.importorskip('timm', reason='timm 1.0.31: pip install -r requirements-ref.txt')
    return timm.create_model(arch, pretrained=False)


@pytest.mark.parametrize('library,arch,depth,mode,group_width,size', [
    ('torchvision', 'resnet34', 34, 'resnet', 4, 64),
    pytest.param('torchvision', 'resnext50_32x4d', 50, 'resnext', 4, 97, marks=pytest.mark.slow),
    pytest.param('timm', 'resnet50', 50, 'resnet', 4, 64, marks=pytest.mark.slow),
    ('timm', 'resnet18', 18, 'resnet', 4, 224),
])
def test_models_of_the_real_torchvision_and_timm_convert_to_the_same_logits(tmp_path, library, arch, depth, mode,
                                                                           group_width, size):
    """torchvision.models / timm.create_model themselves (random weights and statistics), saved as a
    state dict (torchvision) or safetensors (timm, as the hub has them), converted without --arch."""
    model = torch_resnet.randomize(real_model(library, arch), seed=depth)
    path = tmp_path / ('m.pth' if library == 'torchvision' else 'model.safetensors')
    if library == 'torchvision':
        torch.save(model.state_dict(), str(path))
    else:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    proc = run_program('convert_torch', path, tmp_path / 'm.npz')
    assert proc.returncode == 0 and '({}, found from its shapes'.format(arch) in proc.stdout, proc.stderr
    images = photos(size)
    expected = torch_logits(model, images)
    got = tf_logits(str(tmp_path / 'm.npz'), depth, mode, group_width, 1000, images)
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    assert (got.argmax(1) == expected.argmax(1)).all()


def test_a_hub_folder_converts_with_the_transform_of_its_config(tmp_path):
    """A folder as timm.models.save_for_hf writes it for the hub (model.safetensors + config.json with
    resnet50.a1_in1k's pretrained_cfg: crop_pct 0.95, bicubic, test size 288): the recorded transform
    makes timm's own evaluation pixels of a photo."""
    timm = pytest.importorskip('timm', reason='timm 1.0.31: pip install -r requirements-ref.txt')
    from skimage import data
    from helpers.images import jpeg_bytes
    from webvision.data.decode import TorchvisionDecoder
    from webvision.data.transform import IMAGENET_MEAN, IMAGENET_STD
    model = torch_resnet.randomize(timm.create_model('resnet18.a1_in1k', pretrained=False), seed=5)
    folder = tmp_path / 'hub'
    timm.models.save_for_hf(model, str(folder), safe_serialization=True)
    photo = jpeg_bytes(data.chelsea())
    for flags, (resize, crop) in (((), (235, 224)), (('--test-size',), (288, 288))):
        proc = run_converter(folder, tmp_path / 'm.npz', *flags)
        assert proc.returncode == 0 and '(from {})'.format(folder / 'config.json') in proc.stdout, proc.stderr
        t = read_transform(str(tmp_path / 'm.npz'))
        assert t == Transform('torchvision', resize, crop, 'bicubic')
        cfg = timm.data.resolve_data_config({}, model=model, use_test_size=bool(flags))
        expected = timm.data.create_transform(**cfg)(ref.pil_loader(photo)).numpy()
        ours = TorchvisionDecoder(t)(photo)[0][:, :, ::-1].transpose(2, 0, 1).astype(np.float32) / 255.
        ours = (ours - np.float32(IMAGENET_MEAN)[:, None, None]) / np.float32(IMAGENET_STD)[:, None, None]
        np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_a_recorded_mean_and_std_other_than_imagenet_s_normalise_in_the_graph(tmp_path):
    """A hub model trained with mean = std = 0.5 (as several timm models are): converted, its record
    makes the graph normalise that way (webvision.model.run.normalisation), and the logits are torch's."""
    import json
    from safetensors.torch import save_file
    from webvision.model.run import normalisation
    model = torch_resnet.randomize(torch_resnet.build('resnet18'), seed=6)
    folder = tmp_path / 'hub'
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / 'model.safetensors'))
    cfg = {'input_size': [3, 224, 224], 'interpolation': 'bicubic', 'crop_pct': 0.9, 'mean': [0.5] * 3, 'std': [0.5] * 3}
    (folder / 'config.json').write_text(json.dumps({'architecture': 'resnet18', 'pretrained_cfg': cfg}))
    assert run_converter(folder, tmp_path / 'm.npz').returncode == 0
    t = read_transform(str(tmp_path / 'm.npz'))
    images = photos(64)
    rgb = images[:, :, :, ::-1].astype(np.float64) / 255.
    with torch.no_grad():
        expected = model(torch.from_numpy(((rgb - 0.5) / 0.5).transpose(0, 3, 1, 2).astype(np.float32))).numpy()
    net = ResNetModel(18, 'resnet', num_classes=1000, data_format='NHWC', image_size=64, **normalisation(t))
    pred = OfflinePredictor(PredictConfig(model=net, session_init=WeightLoader(str(tmp_path / 'm.npz'), strict=True),
                                          input_names=['input'], output_names=['logits']))
    got = pred(images)[0]
    assert np.abs(got - expected).max() <= 1e-4 * np.abs(expected).max()
    assert normalisation(tr_default()) == {}


def tr_default():
    from webvision.data.transform import TORCHVISION
    return TORCHVISION
