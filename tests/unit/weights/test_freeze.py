"""webvision/weights/freeze.py and webvision/eval/inference.py: the frozen graph with batch norm folded predicts as the model;
weights too large to freeze fall back to the plain graph; the export writes both formats."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorpack.predict import OfflinePredictor, PredictConfig

from helpers.weights import RandomWeights
from webvision.weights import freeze
from webvision.eval import inference
from webvision.model.resnet import ResNetModel


@pytest.mark.parametrize('depth,mode', [(18, 'resnet'), (18, 'preact'), pytest.param(18, 'se', marks=pytest.mark.slow),
                                        pytest.param(50, 'resnext', marks=pytest.mark.slow)])
def test_folded_graph_predicts_as_the_model(depth, mode):
    """Batch norm folded into the convolutions (the graph --eval, --predict and --export run)
    gives the unfolded graph's probabilities; every batch norm after a convolution is gone."""
    config = PredictConfig(model=ResNetModel(depth, mode, num_classes=7, data_format='NHWC', image_size=64),
                           session_init=RandomWeights(), input_names=['input'], output_names=['prob'])
    x = np.random.RandomState(1).randint(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    plain = OfflinePredictor(config)
    want = plain(x)[0]
    unfolded_bns = sum(n.op == 'FusedBatchNormV3' for n in plain.sess.graph.as_graph_def().node)
    folded = freeze.frozen_inference_graph(config)
    bns = [n for n in folded.node if n.op.startswith('FusedBatchNorm')]
    # pre-activation blocks normalise sums, not convolution outputs: the second block's of each
    # group and each group's last (bnlast) stay
    stay = {'resnet': 0, 'se': 0, 'resnext': 0, 'preact': 8}[mode]
    assert len(bns) == stay and unfolded_bns > stay
    assert sum(n.op == 'BiasAdd' for n in folded.node) >= unfolded_bns - stay
    with tf.Graph().as_default():
        tf.import_graph_def(folded, name='')
        with tf.compat.v1.Session() as sess:
            got = sess.run('prob:0', {'input:0': x})
    assert want.std() > 1e-3        # not a flat output, which any graph could match
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_weights_too_large_to_freeze_predict_unfolded(monkeypatch):
    config = PredictConfig(model=ResNetModel(18, num_classes=7, data_format='NHWC', image_size=32),
                           session_init=RandomWeights(), input_names=['input'], output_names=['prob'])
    x = np.random.RandomState(1).randint(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    folded = inference.inference_predictor(config)
    assert isinstance(folded, inference.GraphDefPredictor)
    monkeypatch.setattr(freeze, 'FREEZE_LIMIT_BYTES', 11 * 2 ** 20)     # ResNet-18's 46 MB exceed it
    assert freeze.frozen_inference_graph(config) is None
    plain = inference.inference_predictor(config)
    assert type(plain) is OfflinePredictor
    np.testing.assert_allclose(plain(x)[0], folded(x)[0], rtol=1e-4, atol=1e-6)


def test_a_float_input_model_takes_unrounded_pixels_folded_too():
    """float_input (the caffe transform's crops): the input is float32, not rounded on the way in."""
    config = PredictConfig(model=ResNetModel(18, num_classes=7, data_format='NHWC', image_size=32, float_input=True),
                           session_init=RandomWeights(), input_names=['input'], output_names=['logits'])
    x = np.random.RandomState(1).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    plain = OfflinePredictor(config)
    assert plain.input_tensors[0].dtype == tf.float32
    folded = inference.inference_predictor(config)
    assert isinstance(folded, inference.GraphDefPredictor)
    np.testing.assert_allclose(folded(x)[0], plain(x)[0], rtol=1e-4, atol=1e-6)
    assert np.abs(plain(np.floor(x))[0] - plain(x)[0]).max() > 1e-6


@pytest.mark.slow
def test_export_writes_a_savedmodel_and_onnx_that_predict_as_the_model(tmp_path):
    config = PredictConfig(model=ResNetModel(18, num_classes=5, data_format='NHWC', image_size=32),
                           session_init=RandomWeights(), input_names=['input'], output_names=['prob'])
    x = np.random.RandomState(2).randint(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    want = OfflinePredictor(config)(x)[0]
    folder = str(tmp_path / 'export')
    os.makedirs(os.path.join(folder, 'saved_model', 'stale'))         # an older export is replaced whole
    saved, onnx_path = freeze.export(config, folder)
    assert sorted(os.listdir(folder)) == ['model.onnx', 'saved_model'] and 'stale' not in os.listdir(saved)
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ['serve'], saved)
        sig = meta.signature_def['serving_default']
        got = sess.run(sig.outputs['prob'].name, {sig.inputs['input'].name: x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert os.path.getsize(onnx_path) > 1e6                             # ResNet-18's weights are in it


def _saved_model_prob(saved, x):
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ['serve'], saved)
        sig = meta.signature_def['serving_default']
        return sess.run(sig.outputs['prob'].name, {sig.inputs['input'].name: x})


@pytest.mark.slow
def test_weights_beyond_one_graphdef_export_as_variables_and_external_data(tmp_path, monkeypatch):
    """ResNeXt-101 32x32d and 32x48d exceed a GraphDef's 2 GB: the SavedModel keeps variables, the
    ONNX model's weights go to a data file beside it; both predict as the model (here ResNet-18,
    with the limit lowered). A second export replaces the first's data file."""
    import onnx
    import onnxruntime
    monkeypatch.setattr(freeze, 'FREEZE_LIMIT_BYTES', 11 * 2 ** 20)     # ResNet-18's 46 MB exceed it
    config = PredictConfig(model=ResNetModel(18, num_classes=5, data_format='NHWC', image_size=32),
                           session_init=RandomWeights(), input_names=['input'], output_names=['prob'])
    x = np.random.RandomState(2).randint(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    want = OfflinePredictor(config)(x)[0]
    folder = str(tmp_path / 'export')
    note = {'description': 'uint8 BGR [N, 32, 32, 3]', 'kind': 'toolkit'}
    for _ in range(2):
        saved, onnx_path = freeze.export(config, folder, preprocessing=note)
    data = [f for f in os.listdir(folder) if f.endswith('.data')]
    assert sorted(os.listdir(folder)) == sorted(['model.onnx', 'saved_model'] + data) and len(data) == 1
    assert os.path.getsize(os.path.join(folder, data[0])) > 40e6 > 1e6 > os.path.getsize(onnx_path)
    assert os.path.getsize(os.path.join(saved, 'variables', 'variables.data-00000-of-00001')) > 40e6
    assert '"kind": "toolkit"' in open(os.path.join(saved, 'assets.extra', 'preprocessing.json')).read()
    np.testing.assert_allclose(_saved_model_prob(saved, x), want, rtol=1e-4, atol=1e-6)
    onnx.checker.check_model(onnx_path)
    model = onnx.load(onnx_path, load_external_data=False)
    assert [i.name for i in model.graph.input] == ['input:0']
    assert {p.key for p in model.metadata_props} == {'preprocessing'} and model.doc_string == note['description']
    got = onnxruntime.InferenceSession(onnx_path).run(None, {'input:0': x})[0]
    assert want.std() > 1e-3
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
