"""webvision-convert-caffe: a torchvision model written as a .prototxt + .caffemodel in the layout of
kaiyuyue/resnext-wsl-caffe (tests/helpers/caffe_writer.py) converts back to exactly the arrays
webvision-convert gives for the torch model, with --padding caffe recorded; the converted graph
gives the logits of the torch model whose stem max-pool is Caffe's (ceil_mode, no padding)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers import caffe_writer
from helpers.programs import run_program
from webvision.commands.convert_torch import convert
from webvision.model.archs import TORCHVISION_ARCHS as ARCHS
from webvision.weights import caffe, caffe_resnet, torch_resnet
from webvision.weights.checkpoints import npz_padding, read_weights


def torch_model(arch, seed=0):
    try:
        import torchvision.models
        model = getattr(torchvision.models, arch)(weights=None, num_classes=7)
    except ImportError:
        model = torch_resnet.build(arch, num_classes=7)
    return torch_resnet.randomize(model, seed=seed).eval()


@pytest.mark.parametrize('arch', ['resnext50_32x4d', 'resnet18'])
def test_a_caffemodel_converts_back_exactly(tmp_path, arch):
    model = torch_model(arch)
    proto, weights, out = tmp_path / 'm.prototxt', tmp_path / 'm.caffemodel', tmp_path / 'm.npz'
    caffe_writer.write(model, proto, weights, size=64)
    proc = run_program('convert_caffe', proto, weights, out)
    assert proc.returncode == 0, proc.stderr
    assert '({},'.format(arch) in proc.stdout
    expected = convert({k: v.clone() for k, v in model.state_dict().items()}, ARCHS[arch][0])
    got = read_weights(str(out))
    assert sorted(got) == sorted(expected)
    for k in expected:
        assert np.array_equal(got[k], expected[k]), k
    assert npz_padding(str(out)) == 'caffe'


def test_an_input_layer_and_unit_sum_coefficients_are_read_as_caffe_reads_them(tmp_path):
    """Newer Caffe and most converters give the input as an Input layer (input_param's shape), not
    the net's input_dim, and may spell a sum's coefficients out (1, 1): the same network."""
    model = torch_model('resnet18', seed=1)
    proto, weights = tmp_path / 'm.prototxt', tmp_path / 'm.caffemodel'
    caffe_writer.write(model, proto, weights, size=64)
    old = caffe.read_prototxt(str(proto))
    net = caffe.NetParameter(name=old.name)
    data = net.layer.add(name='input', type='Input', top=['data'])
    data.input_param.shape.add(dim=[1, 3, 64, 64])
    net.layer.extend(old.layer)
    for layer in net.layer:
        if layer.type == 'Eltwise':
            layer.eltwise_param.coeff.extend([1., 1.])
    caffe.write_prototxt(str(proto), net)
    assert 'input_dim' not in proto.read_text() and 'Input' in proto.read_text()
    assert run_program('convert_caffe', proto, weights, tmp_path / 'a.npz').returncode == 0
    expected = convert({k: v.clone() for k, v in model.state_dict().items()}, ARCHS['resnet18'][0])
    got = read_weights(str(tmp_path / 'a.npz'))
    assert sorted(got) == sorted(expected) and all(np.array_equal(got[k], expected[k]) for k in expected)
    next(l for l in net.layer if l.type == 'Eltwise').eltwise_param.coeff[1] = -1.    # a difference, not a sum
    caffe.write_prototxt(str(proto), net)
    with pytest.raises(caffe.CaffeError, match='is not a sum of two'):
        caffe_resnet.plan(caffe.read_prototxt(str(proto)), str(proto))


def test_the_caffe_graph_gives_the_torch_models_logits_with_caffes_pooling(tmp_path):
    import tensorflow as tf
    from tensorpack.predict import OfflinePredictor, PredictConfig
    from webvision.model.resnet import ResNetModel
    from webvision.weights.checkpoints import WeightLoader
    model = torch_model('resnet18', seed=2)
    proto, weights, out = tmp_path / 'm.prototxt', tmp_path / 'm.caffemodel', str(tmp_path / 'm.npz')
    size = 66                   # 33 after the stem: Caffe's pool gives 16 windows from 0, PyTorch's 17 from -1
    caffe_writer.write(model, proto, weights, size=size)
    assert run_program('convert_caffe', proto, weights, out).returncode == 0
    rgb = np.random.RandomState(0).randint(0, 256, (2, size, size, 3)).astype(np.uint8)
    x = (rgb / 255. - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    outputs = []
    for ceil in (True, False):
        model.maxpool = torch.nn.MaxPool2d(3, 2, 0, ceil_mode=True) if ceil else torch.nn.MaxPool2d(3, 2, 1)
        with torch.no_grad():
            outputs.append(model(torch.from_numpy(x.transpose(0, 3, 1, 2)).float()).numpy())
    net = ResNetModel(18, num_classes=7, data_format='NHWC', image_size=size, padding='caffe')
    with tf.Graph().as_default():
        pred = OfflinePredictor(PredictConfig(model=net, session_init=WeightLoader(out, strict=True),
                                              input_names=['input'], output_names=['logits']))
        got = pred(rgb[..., ::-1])[0]
    assert np.abs(got - outputs[0]).max() <= 1e-4 * np.abs(outputs[0]).max()
    assert np.abs(got - outputs[1]).max() > 1e-2 * np.abs(outputs[1]).max()


def test_a_damaged_caffemodel_is_named(tmp_path):
    model = torch_model('resnet18')
    proto, weights = tmp_path / 'm.prototxt', tmp_path / 'm.caffemodel'
    caffe_writer.write(model, proto, weights, size=64)
    weights.write_bytes(weights.read_bytes()[:5000])
    proc = run_program('convert_caffe', proto, weights, tmp_path / 'o.npz')
    assert proc.returncode == 1 and str(weights) in proc.stderr and 'cut short' in proc.stderr
    assert not (tmp_path / 'o.npz').exists()


def test_a_prototxt_that_is_not_one_is_named_with_its_line(tmp_path):
    bad = tmp_path / 'bad.prototxt'
    bad.write_text('name: "x"\nlayer {\n  name: "conv1"\n  type: Convolution"\n}\n')
    with pytest.raises(caffe.CaffeError, match=r'bad.prototxt: not a Caffe network text \(4:'):
        caffe.read_prototxt(str(bad))


@pytest.mark.slow
def test_a_blob_over_2_gb_is_read_from_the_map_and_copied_once(tmp_path):
    """32x48d's .caffemodel is 3.3 GB: one message over protobuf's 2 GB limit, with offsets past
    2^31. A layer whose blob alone is over 2 GB (a sparse file: its zeros take no disk), followed by
    another layer, is read with its values in place and at most one copy of the blob in memory."""
    import tracemalloc
    n = (1 << 29) + 7                              # floats: 2^31 + 28 bytes
    ends = np.array([1.5, -2.25], '<f4')
    path, second = tmp_path / 'big.caffemodel', tmp_path / 'second.caffemodel'
    caffe.write_caffemodel(str(second), [('after', 'Scale', [np.arange(3, dtype=np.float32)])])
    after = second.read_bytes()                             # a net of that one layer: its message alone
    dims = caffe._uvarint(1) + caffe._uvarint(n)
    shape = caffe._delimited(caffe.SHAPE_DIM, len(dims)) + dims
    blob_head = caffe._delimited(caffe.BLOB_SHAPE, len(shape)) + shape + caffe._delimited(caffe.BLOB_DATA, 4 * n)
    name = caffe._delimited(1, 3) + b'fc1' + caffe._delimited(2, 12) + b'InnerProduct'
    blob = caffe._delimited(caffe.LAYER_BLOBS, len(blob_head) + 4 * n) + blob_head
    layer = caffe._delimited(caffe.NET_LAYER, len(name) + len(blob) + 4 * n) + name + blob
    with open(path, 'wb') as f:
        f.write(layer)
        start = f.tell()
        f.write(ends[:1].tobytes())
        f.seek(start + 4 * n - 4)
        f.write(ends[1:].tobytes() + after)
    st = os.stat(path)
    assert st.st_size > (1 << 31)
    if st.st_blocks * 512 > (1 << 30):
        pytest.skip('{} does not keep files sparse: 2 GB were written'.format(tmp_path))
    tracemalloc.start()
    try:
        layers = list(caffe.read_caffemodel(str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [name for name, _ in layers] == ['fc1', 'after']
    big = layers[0][1][0]
    assert big.shape == (1, n) and big.dtype == np.float32
    assert big[0, 0] == 1.5 and big[0, -1] == -2.25 and not big[0, 1:-1].any()
    assert np.array_equal(layers[1][1][0], [0, 1, 2])
    assert peak < 1.25 * 4 * n, 'held {:.2f} GB for a {:.2f} GB blob'.format(peak / 2 ** 30, 4 * n / 2 ** 30)


RSS_SCRIPT = """
import sys
from webvision.weights import caffe

def status(key):
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ':'))

before = status('VmRSS')
layers = list(caffe.read_caffemodel(sys.argv[1]))
print(status('VmHWM') - before, sum(a.nbytes for _, arrays in layers for a in arrays))
"""


@pytest.mark.slow
def test_reading_holds_the_weights_once_in_resident_memory(tmp_path):
    """The file map's pages are dropped once a layer is copied out: the peak resident memory of a read
    is one copy of the weights, not that and the file's pages too (2x: 6.7 GB for 32x48d)."""
    if not os.path.exists('/proc/self/status'):
        pytest.skip('needs /proc/self/status (Linux) for the resident memory')
    rng = np.random.default_rng(0)
    path = tmp_path / 'eight.caffemodel'
    layers = [('conv{}'.format(i), 'Convolution', [rng.standard_normal((1 << 24,), np.float32)]) for i in range(8)]
    caffe.write_caffemodel(str(path), layers)           # 8 layers of 64 MB
    del layers
    proc = subprocess.run([sys.executable, '-c', RSS_SCRIPT, str(path)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    grown, weights = map(int, proc.stdout.split())
    assert weights == 8 << 26
    # the weights, and the pages of the one layer being copied
    assert grown < 1.3 * weights, 'resident memory grew {:.2f}x the weights'.format(grown / weights)
