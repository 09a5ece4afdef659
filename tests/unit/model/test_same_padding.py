"""--padding same: the original benchmark's graph (tensorpack's ResNet example, TensorFlow's SAME
padding), checked against a ResNet-50 forward written here in plain TensorFlow ops, from a
checkpoint holding the original's variable names (conv0/W, group0/block0/conv1/bn/mean/EMA, linear/W...)."""
import numpy as np
import pytest
from tensorpack.predict import OfflinePredictor, PredictConfig

from helpers.original_resnet import logits, original_variables, random_weights, write_checkpoint
from webvision.model.resnet import ResNetModel
from webvision.weights.checkpoints import WeightLoader


@pytest.mark.slow
def test_the_original_graph_gives_the_original_checkpoints_logits(tmp_path):
    """At 64 px SAME pads the stem 2 before and 3 after (the symmetric graph 3 and 3): only 'same'
    gives the original's logits. (At odd sizes such as 97, 49, 25, 13, 7, SAME pads evenly at every
    stride and the two graphs agree.)"""
    size = 64
    weights = random_weights(original_variables(size))
    prefix = str(tmp_path / 'model-1055000')
    write_checkpoint(weights, prefix)
    images = np.random.RandomState(1).randint(0, 256, (2, size, size, 3)).astype(np.uint8)
    expected = logits(weights, images)
    for padding, close in (('same', True), ('symmetric', False)):
        model = ResNetModel(50, num_classes=10, data_format='NHWC', image_size=size, padding=padding)
        pred = OfflinePredictor(PredictConfig(model=model, session_init=WeightLoader(prefix, strict=True),
                                              input_names=['input'], output_names=['logits']))
        got = pred(images)[0]
        error = np.abs(got - expected).max() / np.abs(expected).max()
        assert (error < 1e-4) == close, (padding, error)


def test_an_unknown_padding_is_refused():
    with pytest.raises(ValueError, match="padding 'valid' is not one of symmetric, same"):
        ResNetModel(18, padding='valid')
