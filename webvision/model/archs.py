"""The ResNet family's table: depths and their blocks, variants, ResNeXt widths, torchvision names.

Plain data, without TensorFlow, so that the command lines can offer the choices in --help and check
them before anything heavy is imported; webvision/model/resnet.py builds the graphs.
"""
DEPTHS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
BOTTLENECK_DEPTHS = (50, 101, 152)
MODES = ('resnet', 'preact', 'se', 'resnext')
CARDINALITY = 32
# symmetric: PyTorch's padding of strided convolutions and the stem max-pool; same: TensorFlow's
# SAME, as the original benchmark's tensorpack graph (and its published checkpoints) had it; caffe:
# PyTorch's convolutions, the stem max-pool as Caffe's (no padding, output size rounded up)
PADDINGS = ('symmetric', 'same', 'caffe')
HEAD_INITS = ('normal', 'uniform')     # the classifier's: N(0, 0.01) as the original, or PyTorch's nn.Linear
GROUP_WIDTHS = (4, 8, 16, 32, 48)   # 32x4d is tensorpack's ResNeXt; 32x8d..32x48d are the WSL models
# torchvision's (and timm's, the WSL models') names: (depth, mode, group width); webvision-convert
TORCHVISION_ARCHS = {
    'resnet18': (18, 'resnet', 4), 'resnet34': (34, 'resnet', 4), 'resnet50': (50, 'resnet', 4),
    'resnet101': (101, 'resnet', 4), 'resnet152': (152, 'resnet', 4),
    'resnext50_32x4d': (50, 'resnext', 4), 'resnext101_32x4d': (101, 'resnext', 4),
    'resnext101_32x8d': (101, 'resnext', 8), 'resnext101_32x16d': (101, 'resnext', 16),
    'resnext101_32x32d': (101, 'resnext', 32), 'resnext101_32x48d': (101, 'resnext', 48),
}
