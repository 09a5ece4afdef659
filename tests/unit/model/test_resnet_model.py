"""Every depth x mode builds and gives finite logits of the right shape; parameter counts (ResNet
at every depth, ResNeXt-101 at every width) agree with torchvision's architecture, counted
independently here."""
import numpy as np
import pytest
import tensorflow as tf
from tensorpack.tfutils.tower import TowerContext

from webvision.model.resnet import BOTTLENECK_DEPTHS, DEPTHS, GROUP_WIDTHS, MODES, ResNetModel, get_block_func

SLOW = pytest.mark.slow         # deep graphs: make test runs them, make test-fast leaves them out


def deep(depth, *rest, fast=False):
    if depth >= 50 and not fast:
        return pytest.param(depth, *rest, marks=SLOW)
    return (depth, *rest) if rest else depth


# every mode at 18 and 34 in the fast set, and ResNeXt (bottleneck depths only) at 50
VARIANTS = [deep(d, m, fast=(d, m) == (50, 'resnext')) for d in sorted(DEPTHS) for m in MODES
            if m != 'resnext' or d in BOTTLENECK_DEPTHS]


def build(depth, mode, num_classes, size=64, group_width=4):
    graph = tf.Graph()
    with graph.as_default(), TowerContext('', is_training=False):
        model = ResNetModel(depth, mode, num_classes=num_classes, group_width=group_width,
                            data_format='NHWC', image_size=size)
        image = tf.compat.v1.placeholder(tf.uint8, [None, size, size, 3])
        logits = model.get_logits(model.image_preprocess(image))
    return graph, image, logits


def n_params(graph):
    with graph.as_default():
        return sum(int(np.prod(v.shape.as_list())) for v in tf.compat.v1.trainable_variables())


def torchvision_params(depth, num_classes=1000, groups=1, width_per_group=64):
    """Parameter count of torchvision's ResNet/ResNeXt, from its definition."""
    bottleneck = depth in BOTTLENECK_DEPTHS
    expansion = 4 if bottleneck else 1
    total, inplanes = 3 * 64 * 49 + 2 * 64, 64
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), DEPTHS[depth])):
        for b in range(blocks):
            stride = 2 if i > 0 and b == 0 else 1
            if bottleneck:
                width = int(planes * width_per_group / 64.) * groups
                total += inplanes * width + 9 * width * width // groups + width * planes * 4
                total += 2 * (2 * width + planes * 4)
            else:
                total += 9 * inplanes * planes + 9 * planes * planes + 4 * planes
            if stride != 1 or inplanes != planes * expansion:
                total += inplanes * planes * expansion + 2 * planes * expansion
            inplanes = planes * expansion
    return total + inplanes * num_classes + num_classes


def test_reference_counts_match_published_torchvision_numbers():
    assert torchvision_params(18) == 11689512
    assert torchvision_params(50) == 25557032
    assert torchvision_params(101, groups=32, width_per_group=8) == 88791336


@pytest.mark.parametrize('depth,mode', VARIANTS)
def test_variant_gives_finite_logits(depth, mode):
    num_classes, batch = 7, 3
    graph, image, logits = build(depth, mode, num_classes)
    x = np.random.RandomState(depth).randint(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
    with graph.as_default(), tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        out = sess.run(logits, {image: x})
    assert out.shape == (batch, num_classes)
    assert np.isfinite(out).all()
    assert out.std() > 0      # not a constant output
    if mode == 'resnet':        # the same graph, not built twice: torchvision's parameter count
        assert n_params(graph) == torchvision_params(depth, num_classes)


@pytest.mark.parametrize('group_width', [pytest.param(w, marks=SLOW) for w in GROUP_WIDTHS])
def test_resnext101_matches_torchvision_parameter_count(group_width):
    # 32x48d is the 828 M-parameter WSL model; only the graph is built, nothing allocated.
    got = n_params(build(101, 'resnext', 1000, group_width=group_width)[0])
    assert got == torchvision_params(101, groups=32, width_per_group=group_width)


def test_class_count_sets_the_head():
    graph = build(18, 'resnet', 5000)[0]
    with graph.as_default():
        shapes = {v.op.name: v.shape.as_list() for v in tf.compat.v1.trainable_variables()}
    assert shapes['linear/W'] == [512, 5000] and shapes['linear/b'] == [5000]


@pytest.mark.parametrize('kwargs,message', [
    (dict(depth=18, mode='resnext'), 'bottleneck depth'),
    (dict(depth=20, mode='resnet'), 'depth 20 is not one of'),
    (dict(depth=50, mode='dense'), "mode 'dense' is not one of"),
    (dict(depth=101, mode='resnext', group_width=12), 'group width 12 is not one of'),
])
def test_invalid_variants_name_the_valid_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        get_block_func(**kwargs)
