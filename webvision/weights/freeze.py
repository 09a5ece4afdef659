"""Freezing the inference graph: weights as constants, batch norm folded into the convolutions,
written as a SavedModel and ONNX (imagenet-resnet.py --export; weights beyond one GraphDef export
through webvision.weights.unfrozen)."""
import json
import os
import re

import numpy as np

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack.input_source import PlaceholderInput
from tensorpack.predict import PredictConfig
from tensorpack.tfutils.tower import PredictTowerContext

from webvision.core.constants import INPUT, PROB
from webvision.core.fileio import atomic_path, check_folder_output, check_writable
from webvision.model.run import make_model
from webvision.runtime.session import session_config
from webvision.weights import checkpoints as ckpt
from webvision.weights import unfrozen

# A GraphDef is a protobuf, which cannot exceed 2 GB; the weights of a frozen graph are in it.
FREEZE_LIMIT_BYTES = int(1.75 * 2 ** 30)


def _build_inference_graph(config):
    graph = tf.Graph()
    with graph.as_default():
        placeholders = PlaceholderInput()
        placeholders.setup(config.input_signature)
        with PredictTowerContext(''):
            config.tower_func(*placeholders.get_input_tensors())
    return graph


def frozen_inference_graph(config):
    """The inference graph of a PredictConfig as a GraphDef with its weights (config.session_init)
    as constants and batch norm folded into the convolutions before it; None if the weights
    exceed FREEZE_LIMIT_BYTES. tensorpack's freezing calls a function TF 2 moved."""
    v1 = tf.compat.v1
    graph = _build_inference_graph(config)
    with graph.as_default():
        if sum(v.shape.num_elements() * v.dtype.size for v in v1.global_variables()) > FREEZE_LIMIT_BYTES:
            return None
        with v1.Session(config=session_config()) as sess:
            config.session_init.init(sess)
            outputs = [name.split(':')[0] for name in config.output_names]
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
    return fold_batch_norms(frozen, outputs)


def _constant(nodes, name):
    """The value of a Const node reached through Identity nodes, or None."""
    node = nodes[name.lstrip('^').split(':')[0]]
    while node.op == 'Identity':
        node = nodes[node.input[0].split(':')[0]]
    return tf.make_ndarray(node.attr['value'].tensor) if node.op == 'Const' else None


def _foldable(bn, nodes, consumers):
    """(kernel, scale, shift) when ``bn`` is an inference batch norm whose only input is a
    convolution with a constant kernel that nothing else reads, else None."""
    if bn.op not in ('FusedBatchNorm', 'FusedBatchNormV3') or bn.attr['is_training'].b:
        return None
    conv = nodes[bn.input[0].split(':')[0]]
    if conv.op != 'Conv2D' or len(consumers[conv.name]) != 1 or \
            any(i not in (bn.name, bn.name + ':0') for i in consumers.get(bn.name, ())):
        return None     # the batch statistics outputs are used, or the convolution's output is
    kernel = _constant(nodes, conv.input[1])
    params = [_constant(nodes, i) for i in bn.input[1:5]]
    if kernel is None or any(p is None for p in params):
        return None
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + bn.attr['epsilon'].f)
    shift = beta - mean * scale
    if not shift.any():
        return None     # grappler drops a zero bias, and a bare Conv2D + Relu is not fused (slower)
    return kernel, scale, shift


def _const_node(graph_def, name, value):
    node = graph_def.node.add()
    node.op, node.name = 'Const', name
    node.attr['dtype'].type = tf.as_dtype(value.dtype).as_datatype_enum
    node.attr['value'].tensor.CopyFrom(tf.make_tensor_proto(value))
    return node


def fold_batch_norms(graph_def, outputs):
    """Folds each inference batch norm into the convolution before it (a frozen graph): kernel x
    gamma / sqrt(var + eps) and a bias. Besides saving the normalisation, Conv2D + BiasAdd lets
    TensorFlow's remapper fuse the residual add and ReLU into the convolution as well (it does
    not after FusedBatchNorm): ResNet-50 inference on 2 CPU cores went from 27 to 31 images/s."""
    nodes = {n.name: n for n in graph_def.node}
    consumers = {}
    for n in graph_def.node:
        for i in n.input:
            consumers.setdefault(i.lstrip('^').split(':')[0], []).append(i)
    folds = {}
    for n in graph_def.node:
        fold = _foldable(n, nodes, consumers)
        if fold is not None:
            folds[n.input[0].split(':')[0]] = folds[n.name] = fold
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for n in graph_def.node:
        if n.name not in folds:
            out.node.add().CopyFrom(n)
            continue
        kernel, scale, shift = folds[n.name]
        if n.op == 'Conv2D':
            const = _const_node(out, n.name + '/folded_kernel', (kernel * scale).astype(kernel.dtype))
            conv = out.node.add()
            conv.CopyFrom(n)
            conv.input[1] = const.name
        else:   # the batch norm becomes a BiasAdd of the same name, so its consumers need no change
            const = _const_node(out, n.name + '/folded_bias', shift.astype(kernel.dtype))
            add = out.node.add()
            add.op, add.name, add.device = 'BiasAdd', n.name, n.device
            add.input.extend([n.input[0], const.name])
            add.attr['T'].type = n.attr['T'].type
            add.attr['data_format'].s = n.attr['data_format'].s
    return tf.compat.v1.graph_util.extract_sub_graph(out, outputs)


def write_saved_model(graph_def, saved_model_dir):
    """A frozen GraphDef as a SavedModel with signature serving_default: "input" -> "prob"
    (tensorpack's exporter keys the signature by tensor names, "input:0")."""
    with tf.Graph().as_default():
        tf.import_graph_def(graph_def, name='')
        with tf.compat.v1.Session(config=session_config()) as sess:
            unfrozen.save_session(sess, saved_model_dir)


PREPROCESSING = 'preprocessing.json'      # in saved_model/assets.extra: files for users, unused by the graph


def export(config, folder, preprocessing=None):
    """Writes folder/saved_model (signature serving_default: "input" -> "prob") and
    folder/model.onnx of a PredictConfig's inference graph; each appears complete or not at all.
    Returns their paths. Frozen (weights as constants, batch norm folded) where the weights fit one
    GraphDef; beyond it (webvision.weights.unfrozen) the SavedModel keeps variables and the ONNX
    model's weights are in model.onnx-TOKEN.data beside it. ``preprocessing`` (a dict: how images
    must be made before "input") goes into saved_model/assets.extra/preprocessing.json and the ONNX
    model's doc_string and metadata (key "preprocessing")."""
    import onnx
    import tf2onnx
    check_folder_output(folder, '--export')
    if os.path.isdir(folder):
        check_writable(os.path.join(folder, 'model.onnx'), '--export')
        check_folder_output(os.path.join(folder, 'saved_model'), '--export')
    frozen = frozen_inference_graph(config)
    os.makedirs(folder, exist_ok=True)
    saved, onnx_path = os.path.join(folder, 'saved_model'), os.path.join(folder, 'model.onnx')
    graph = _build_inference_graph(config) if frozen is None else None
    with atomic_path(saved) as tmp:
        if frozen is None:
            values = unfrozen.write_saved_model(graph, config.session_init, tmp)
        else:
            write_saved_model(frozen, tmp)
        _write_note(tmp, preprocessing)
    data = None if frozen is not None else os.path.join(folder, unfrozen.data_file_name(onnx_path))
    if frozen is None:
        with atomic_path(data) as tmp:      # in place, under a new name, before the model that reads it
            model = unfrozen.onnx_model(graph, values, tmp, os.path.basename(data))
    else:
        model, _ = tf2onnx.convert.from_graph_def(frozen, input_names=[INPUT + ':0'], output_names=[PROB + ':0'],
                                                  opset=17)
    if preprocessing:
        model.doc_string = preprocessing.get('description', '')
        model.metadata_props.add(key='preprocessing', value=json.dumps(preprocessing, indent=1, sort_keys=True))
    with atomic_path(onnx_path, suffix='.onnx') as tmp, open(tmp, 'wb') as f:
        onnx.save_model(model, f)      # a file object: onnx leaves external data where it is
    _remove_older_data(onnx_path, keep=data)
    return saved, onnx_path


def _write_note(saved_model_dir, preprocessing):
    if preprocessing:
        os.makedirs(os.path.join(saved_model_dir, 'assets.extra'), exist_ok=True)
        with open(os.path.join(saved_model_dir, 'assets.extra', PREPROCESSING), 'w') as f:
            f.write(json.dumps(preprocessing, indent=1, sort_keys=True) + '\n')


def _remove_older_data(onnx_path, keep):
    """The external data files of earlier exports to ``onnx_path``, now that no model reads them."""
    folder, name = os.path.split(onnx_path)
    for entry in os.scandir(folder):
        if re.fullmatch(re.escape(name) + r'-[0-9a-f]{8}\.data', entry.name) and entry.path != keep \
                and entry.is_file(follow_symlinks=False):
            os.remove(entry.path)


def export_run(run):
    """--export DIR of a run's --load: SavedModel and ONNX of the inference graph, channels-last so
    that they run anywhere, with the evaluation transform recorded; the exit status."""
    a = run.args
    config = PredictConfig(model=make_model(run, ckpt.read_num_classes(run.load)),
                           session_init=ckpt.run_weights(run), input_names=[INPUT], output_names=[PROB])
    t = run.transform.at_size(a.image_size)
    shape = '{} BGR [N, {s}, {s}, 3]'.format('float32 (0-255)' if t.float_input else 'uint8', s=a.image_size)
    note = dict(json.loads(t.to_json()), description='{} made by {}'.format(shape, t.describe()))
    saved, onnx_path = export(config, a.export, preprocessing=note)
    print('Wrote {} and {} (input "input": {}, made by the {} transform, see '
          'saved_model/assets.extra/preprocessing.json; output "prob")'.format(saved, onnx_path, shape, t.kind))
    return 0
