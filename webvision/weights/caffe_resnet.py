"""A Caffe ResNet/ResNeXt (kaiyuyue/resnext-wsl-caffe's WSL models, and any prototxt of the same
shape) as a torchvision state dict of numpy arrays, which webvision-convert's mapping then takes.

Caffe's layers are numbered by their order (``conv1``, ``batch_norm1`` + ``bn_scale1``, ...,
``add1`` Eltwise SUM), not by block, so the blocks are found from the prototxt's topology: each
Eltwise SUM is a block, its two inputs traced back to the block's input give the residual branch
(2 or 3 convolutions) and the shortcut (none, or one projection). What differs from PyTorch:
- the stem max-pool: ``pad: 0`` with Caffe's output size rounded up, so its windows start at
  pixel 0, one pixel off PyTorch's ``padding=1``: the weights need ``--padding caffe``, recorded
  with them;
- batch norm: Caffe's BatchNorm keeps its sums and a scale factor, the Scale layer after it gamma
  and beta; its epsilon is folded into the variance (this toolkit's is 1e-5), a convolution's
  bias into the mean;
- the input: BGR, so the first convolution's channels are reversed here to torchvision's RGB
  (the mapping reverses them back).
"""
import dataclasses

import numpy as np

from webvision.weights.caffe import CaffeError

BN_EPS = 1e-5       # tensorpack's BatchNorm, which the graph uses


@dataclasses.dataclass
class Node:
    layer: object
    inputs: list


@dataclasses.dataclass
class Conv:
    conv: object
    bn: object
    scale: object


def nodes(net, path):
    """A node per layer, its inputs the nodes that last wrote its bottoms (in-place layers write
    their input's name again)."""
    inputs = set(net.input) or {'data'}
    writer, out = {}, []
    for layer in net.layer:
        ins = []
        for b in layer.bottom:
            if b not in writer and b not in inputs:
                raise CaffeError('{}: layer {!r} reads {!r}, which no layer before it writes'.format(
                    path, layer.name, b))
            ins.append(writer.get(b))
        node = Node(layer, ins)
        out.append(node)
        for t in layer.top:
            writer[t] = node
    return out


def branch(node, start, path, where):
    """The convolutions (with their BatchNorm and Scale) from ``start`` to ``node``, in order."""
    convs, bn, scale = [], None, None
    while node is not start:
        if node is None:
            raise CaffeError('{}: {} does not lead back to its block\'s input: not a ResNet'.format(path, where))
        kind = node.layer.type
        if kind == 'Scale':
            scale = node
        elif kind == 'BatchNorm':
            bn = node
        elif kind == 'Convolution':
            if bn is None or scale is None:
                raise CaffeError('{}: convolution {!r} is not followed by BatchNorm and Scale'.format(
                    path, node.layer.name))
            convs.insert(0, Conv(node.layer, bn.layer, scale.layer))
            bn = scale = None
        elif kind != 'ReLU':
            raise CaffeError('{}: layer {!r} of type {} inside a residual block'.format(path, node.layer.name, kind))
        if len(node.inputs) != 1:
            raise CaffeError('{}: layer {!r} has {} inputs inside a block'.format(path, node.layer.name,
                                                                                 len(node.inputs)))
        node = node.inputs[0]
    return convs


def consumer(all_nodes, node, kind):
    return next((n for n in all_nodes if node in n.inputs and n.layer.type == kind), None)


def structure(net, path):
    """(stem Conv, stem pool layer, blocks [(residual convs, shortcut Conv or None)], classifier layer)."""
    all_nodes = nodes(net, path)
    convs = [n for n in all_nodes if n.layer.type == 'Convolution']
    pools = [n for n in all_nodes if n.layer.type == 'Pooling']
    if not convs or not pools:
        raise CaffeError('{}: no convolution or no pooling layer: not a ResNet'.format(path))
    pool = pools[0]
    stem = branch(pool.inputs[0], convs[0].inputs[0], path, 'the stem') if pool.inputs else []
    if len(stem) != 1:
        raise CaffeError('{}: the stem before {!r} has {} convolutions, expected 1'.format(
            path, pool.layer.name, len(stem)))
    blocks, start = [], pool
    for add in (n for n in all_nodes if n.layer.type == 'Eltwise'):
        p = add.layer.eltwise_param
        if len(add.inputs) != 2 or p.operation != 1 or any(c != 1 for c in p.coeff):
            raise CaffeError('{}: Eltwise {!r} is not a sum of two'.format(path, add.layer.name))
        a, b = (branch(i, start, path, 'Eltwise {!r}'.format(add.layer.name)) for i in add.inputs)
        main, short = (a, b) if len(a) >= len(b) else (b, a)
        if len(main) not in (2, 3) or len(short) > 1:
            raise CaffeError('{}: block {!r} has branches of {} and {} convolutions'.format(
                path, add.layer.name, len(a), len(b)))
        blocks.append((main, short[0] if short else None))
        start = consumer(all_nodes, add, 'ReLU')
        if start is None:
            raise CaffeError('{}: no ReLU after {!r}'.format(path, add.layer.name))
    fc = consumer_chain(all_nodes, start, path)
    return stem[0], pool.layer, blocks, fc


def consumer_chain(all_nodes, node, path):
    """The classifier after the last block: its average pooling (checked in check_head), then an
    InnerProduct (Reshape or Flatten between them allowed)."""
    head = []
    while node is not None and node.layer.type != 'InnerProduct':
        node = next((n for n in all_nodes if node in n.inputs), None)
        if node is not None:
            head.append(node.layer)
    if node is None:
        raise CaffeError('{}: no InnerProduct after the last block'.format(path))
    return head


def groups(blocks, path):
    """Blocks per stage: a stage starts at the first block and at each later projection shortcut."""
    counts = []
    for i, (_, short) in enumerate(blocks):
        if i == 0 or short is not None:
            counts.append(0)
        counts[-1] += 1
    if len(counts) != 4:
        raise CaffeError('{}: {} stages of blocks ({}), expected 4'.format(
            path, len(counts), '-'.join(map(str, counts))))
    return counts


def geometry(layer):
    """(kernel, stride, pad, group) of a Convolution, square ones only."""
    p = layer.convolution_param
    kernel = (p.kernel_h, p.kernel_w) if p.kernel_h else tuple(p.kernel_size[:1]) * 2
    stride = (p.stride_h, p.stride_w) if p.stride_h else tuple(p.stride[:1] or [1]) * 2
    pad = (p.pad_h, p.pad_w) if p.pad_h or p.pad_w else tuple(p.pad[:1] or [0]) * 2
    if len(set(kernel)) != 1 or len(set(stride)) != 1 or len(set(pad)) != 1 or any(d != 1 for d in p.dilation):
        raise CaffeError('convolution {!r}: kernel {}, stride {}, pad {}, dilation {}: only square, '
                         'undilated ones are read'.format(layer.name, kernel, stride, pad, list(p.dilation)))
    return kernel[0], stride[0], pad[0], p.group


def check_conv(layer, kernel, pad, path, strides=(1, 2)):
    k, s, p, _ = geometry(layer)
    if k != kernel or p != pad or s not in strides:
        raise CaffeError('{}: convolution {!r} has kernel {}, stride {}, pad {}; this place of a ResNet needs '
                         'kernel {}, pad {}, stride {}'.format(path, layer.name, k, s, p, kernel, pad,
                                                               ' or '.join(map(str, strides))))


def check_stem_pool(layer, path):
    """The stem max-pool must be Caffe's 3/2 without padding, output rounded up: --padding caffe."""
    p = layer.pooling_param
    kernel = p.kernel_h or p.kernel_size
    stride = p.stride_h or p.stride
    pad = p.pad_h or p.pad
    if p.pool != 0 or kernel != 3 or stride != 2 or pad != 0 or p.round_mode != 0 or p.global_pooling:
        raise CaffeError('{}: stem pooling {!r} is not MAX 3x3 / 2, pad 0, rounded up (pool {}, kernel {}, stride {}, '
                         'pad {}): only that one is reproduced'.format(path, layer.name, p.pool, kernel, stride, pad))


def input_size(net, path):
    """S of the N x 3 x S x S input: the net's ``input_dim`` or ``input_shape`` (kaiyuyue's), or an
    ``Input`` layer's shape (what newer Caffe and most converters write)."""
    shapes = list(net.input_shape) + [s for layer in net.layer if layer.type == 'Input'
                                      for s in layer.input_param.shape]
    dims = list(net.input_dim) or (list(shapes[0].dim) if shapes else [])
    if len(dims) != 4 or dims[2] != dims[3] or dims[1] != 3:
        raise CaffeError('{}: input {} is not N x 3 x S x S'.format(path, dims or 'not given'))
    return dims[2]


def final_size(size):
    """The last stage's feature size for a ``size`` input: the stem's 7/2 pad 3, Caffe's pool, three /2."""
    size = (size + 6 - 7) // 2 + 1
    size = -(-(size - 3) // 2) + 1
    for _ in range(3):
        size = (size + 2 - 3) // 2 + 1
    return size


def check_head(head, size, path):
    pool = next((l for l in head if l.type == 'Pooling'), None)
    others = [l for l in head if l.type not in ('Pooling', 'Reshape', 'Flatten', 'InnerProduct')]
    if pool is None or others or pool.pooling_param.pool != 1:
        raise CaffeError('{}: the classifier is not average pooling then InnerProduct ({})'.format(
            path, ', '.join('{} {}'.format(l.type, l.name) for l in head)))
    p, n = pool.pooling_param, final_size(size)
    if not p.global_pooling and (p.kernel_size or p.kernel_h) != n:
        raise CaffeError('{}: {!r} averages {} x {} windows; at the input size {} the features are {} x {}, '
                         'which the graph averages whole'.format(path, pool.name, p.kernel_size, p.kernel_size,
                                                                  size, n, n))
    return head[-1]


def plan(net, path):
    """Checks the network and names its weights: (torchvision key -> (caffe layer, role), blocks per
    stage, group count of the 3x3 convolutions, input size)."""
    stem, pool, blocks, head = structure(net, path)
    check_conv(stem.conv, 7, 3, path, strides=(2,))
    check_stem_pool(pool, path)
    size = input_size(net, path)
    fc = check_head(head, size, path)
    counts = groups(blocks, path)
    names = {'conv1': stem, 'fc': fc}
    bottleneck = len(blocks[0][0]) == 3
    cardinality = set()
    i = 0
    for g, n in enumerate(counts):
        for b in range(n):
            main, short = blocks[i]
            i += 1
            if len(main) != (3 if bottleneck else 2):
                raise CaffeError('{}: block {} of stage {} has {} convolutions, the others {}'.format(
                    path, b, g + 1, len(main), 3 if bottleneck else 2))
            kinds = ((1, 0, (1,)), (3, 1, (1, 2)), (1, 0, (1,))) if bottleneck else ((3, 1, (1, 2)), (3, 1, (1,)))
            for j, (c, (kernel, pad, strides)) in enumerate(zip(main, kinds)):
                check_conv(c.conv, kernel, pad, path, strides)
                names['layer{}.{}.conv{}'.format(g + 1, b, j + 1)] = c
            cardinality.add(geometry(main[1 if bottleneck else 0].conv)[3])
            if short is not None:
                check_conv(short.conv, 1, 0, path)
                names['layer{}.{}.downsample'.format(g + 1, b)] = short
    if len(cardinality) != 1:
        raise CaffeError('{}: the 3x3 convolutions have groups {}'.format(path, sorted(cardinality)))
    return names, tuple(counts), cardinality.pop(), size


def state_dict(net, model_path, prototxt_path):
    """The torchvision-named arrays of a Caffe ResNet (see plan), read from ``model_path``."""
    from webvision.weights.caffe import read_caffemodel
    names, counts, cardinality, size = plan(net, prototxt_path)
    wanted = {}
    for key, c in names.items():
        layers = [c] if key == 'fc' else [c.conv, c.bn, c.scale]
        for role, layer in zip(('conv', 'bn', 'scale') if key != 'fc' else ('fc',), layers):
            wanted[layer.name] = (key, role, layer)
    blobs = {}
    for name, arrays in read_caffemodel(model_path, wanted):
        blobs[name] = arrays
    missing = sorted(set(wanted) - set(blobs))
    if missing:
        raise CaffeError('{}: no weights for layer(s) {} of {}'.format(model_path, ', '.join(missing[:10]),
                                                                     prototxt_path))
    sd = {}
    for key, c in names.items():
        if key == 'fc':
            sd.update(inner_product(blobs.pop(c.name), c, model_path))
        else:
            prefix = {'conv1': ('conv1', 'bn1')}.get(key) or (
                (key + '.0', key + '.1') if key.endswith('downsample') else (key, key.replace('conv', 'bn')))
            sd.update(conv_bn(blobs.pop(c.conv.name), blobs.pop(c.bn.name), blobs.pop(c.scale.name), c,
                              prefix, model_path))
    sd['conv1.weight'] = np.ascontiguousarray(sd['conv1.weight'][:, ::-1])      # BGR -> torchvision's RGB
    return sd, counts, cardinality, size


def _count(arrays, n, layer, path):
    if len(arrays) < n:
        raise CaffeError('{}: layer {!r} has {} blob(s), expected {}'.format(path, layer.name, len(arrays), n))


def conv_bn(conv, bn, scale, c, prefix, path):
    """{prefix[0].weight, prefix[1].weight/bias/running_mean/running_var} of a convolution, its
    BatchNorm and Scale."""
    bias_term = c.conv.convolution_param.bias_term
    _count(conv, 2 if bias_term else 1, c.conv, path)
    _count(bn, 3, c.bn, path)
    _count(scale, 2 if c.scale.scale_param.bias_term else 1, c.scale, path)
    factor = float(bn[2].ravel()[0])
    inv = 0. if factor == 0 else 1. / factor         # Caffe's own rule for a zero factor
    mean = bn[0].astype(np.float64) * inv
    var = bn[1].astype(np.float64) * inv + (float(np.float32(c.bn.batch_norm_param.eps)) - BN_EPS)
    if bias_term:
        mean = mean - conv[1]                   # BN(x + b) with the mean moved by b
    if (var < 0).any():
        raise CaffeError('{}: {!r} has a negative variance with its eps'.format(path, c.bn.name))
    gamma = scale[0]
    beta = scale[1] if c.scale.scale_param.bias_term else np.zeros_like(gamma)
    conv_name, bn_name = prefix
    return {conv_name + '.weight': conv[0], bn_name + '.weight': gamma.reshape(-1), bn_name + '.bias': beta.reshape(-1),
            bn_name + '.running_mean': mean.reshape(-1).astype(np.float32),
            bn_name + '.running_var': var.reshape(-1).astype(np.float32)}


def inner_product(blobs, layer, path):
    p = layer.inner_product_param
    _count(blobs, 2 if p.bias_term else 1, layer, path)
    w = blobs[0].reshape(blobs[0].shape[-2:]) if blobs[0].ndim > 2 else blobs[0]
    w = w.T if p.transpose else w
    b = blobs[1].reshape(-1) if p.bias_term else np.zeros(w.shape[0], np.float32)
    return {'fc.weight': np.ascontiguousarray(w), 'fc.bias': b}
