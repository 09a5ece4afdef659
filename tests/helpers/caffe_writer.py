"""A torchvision ResNet/ResNeXt written as kaiyuyue/resnext-wsl-caffe's converter writes it: layers
numbered by order (conv1, batch_norm1 + in-place bn_scale1, relu1, ..., the shortcut's convolution
after the residual branch, addN Eltwise SUM), the stem max-pool with pad 0, BGR input, a 2-power
BatchNorm scale factor, eps as float32."""
import numpy as np

from webvision.weights import caffe
from webvision.weights.caffe_resnet import final_size


def write(model, prototxt, caffemodel, size=224, factor=2., state_dict=None):
    """``state_dict``: numpy arrays to write instead of the model's (whose structure is still read:
    a model on the meta device then gives the layout of one too large to initialise)."""
    net = caffe.NetParameter(name='from-torch', input=['data'], input_dim=[1, 3, size, size])
    sd = state_dict if state_dict is not None else {k: v.detach().numpy() for k, v in model.state_dict().items()}
    blobs, n = [], {'conv': 0, 'bn': 0, 'relu': 0, 'add': 0}

    def conv_bn(bottom, key, bn_key, relu):
        n['conv'] += 1
        w = sd[key + '.weight']
        groups = model.get_submodule(key).groups
        stride, pad = model.get_submodule(key).stride[0], model.get_submodule(key).padding[0]
        layer = net.layer.add(name='conv{}'.format(n['conv']), type='Convolution', bottom=[bottom],
                              top=['conv_blob{}'.format(n['conv'])])
        p = layer.convolution_param
        p.num_output, p.bias_term, p.group = w.shape[0], False, groups
        p.pad.append(pad), p.kernel_size.append(w.shape[2]), p.stride.append(stride), p.dilation.append(1)
        blobs.append((layer.name, 'Convolution', [w[:, ::-1] if key == 'conv1' else w]))
        n['bn'] += 1
        top = 'batch_norm_blob{}'.format(n['bn'])
        bn = net.layer.add(name='batch_norm{}'.format(n['bn']), type='BatchNorm', bottom=[layer.top[0]], top=[top])
        bn.batch_norm_param.use_global_stats, bn.batch_norm_param.eps = True, float(np.float32(1e-5))
        blobs.append((bn.name, 'BatchNorm', [sd[bn_key + '.running_mean'] * factor, sd[bn_key + '.running_var'] * factor,
                                             np.array([factor], np.float32)]))
        sc = net.layer.add(name='bn_scale{}'.format(n['bn']), type='Scale', bottom=[top], top=[top])
        sc.scale_param.bias_term = True
        blobs.append((sc.name, 'Scale', [sd[bn_key + '.weight'], sd[bn_key + '.bias']]))
        if not relu:
            return top
        n['relu'] += 1
        r = net.layer.add(name='relu{}'.format(n['relu']), type='ReLU', bottom=[top], top=['relu_blob{}'.format(n['relu'])])
        return r.top[0]

    x = conv_bn('data', 'conv1', 'bn1', True)
    pool = net.layer.add(name='max_pool1', type='Pooling', bottom=[x], top=['max_pool_blob1'])
    pool.pooling_param.pool, pool.pooling_param.kernel_size, pool.pooling_param.stride = 0, 3, 2
    pool.pooling_param.pad = 0
    x = pool.top[0]
    for g in range(1, 5):
        layer = getattr(model, 'layer{}'.format(g))
        for b in range(len(layer)):
            key = 'layer{}.{}'.format(g, b)
            convs = 3 if hasattr(layer[b], 'conv3') else 2
            y = x
            for j in range(1, convs + 1):
                y = conv_bn(y, '{}.conv{}'.format(key, j), '{}.bn{}'.format(key, j), j < convs)
            short = x
            if layer[b].downsample is not None:
                short = conv_bn(x, key + '.downsample.0', key + '.downsample.1', False)
            n['add'] += 1
            e = net.layer.add(name='add{}'.format(n['add']), type='Eltwise', bottom=[y, short],
                              top=['add_blob{}'.format(n['add'])])
            e.eltwise_param.operation = 1
            n['relu'] += 1
            r = net.layer.add(name='relu{}'.format(n['relu']), type='ReLU', bottom=[e.top[0]],
                              top=['relu_blob{}'.format(n['relu'])])
            x = r.top[0]
    final = final_size(size)       # a window of the whole last stage, as theirs at 224 (7)
    ave = net.layer.add(name='ave_pool1', type='Pooling', bottom=[x], top=['ave_pool_blob1'])
    ave.pooling_param.pool, ave.pooling_param.kernel_size, ave.pooling_param.stride = 1, final, final
    net.layer.add(name='view1', type='Reshape', bottom=['ave_pool_blob1'], top=['view_blob1'])
    fc = net.layer.add(name='fc1', type='InnerProduct', bottom=['view_blob1'], top=['fc_blob1'])
    fc.inner_product_param.num_output = sd['fc.weight'].shape[0]
    blobs.append(('fc1', 'InnerProduct', [sd['fc.weight'], sd['fc.bias']]))
    net.layer.add(name='prob', type='Softmax', bottom=['fc_blob1'], top=['prob'])
    caffe.write_prototxt(str(prototxt), net)
    caffe.write_caffemodel(str(caffemodel), blobs, name=net.name)

