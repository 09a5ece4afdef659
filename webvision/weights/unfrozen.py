"""Exporting weights too large to freeze (beyond one 2 GB GraphDef: ResNeXt-101 32x32d and 32x48d):
a SavedModel that keeps them as variables, and ONNX with them as initializers in an external data
file. The graph is the plain inference graph (batch norm not folded)."""
import os
import secrets

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

from webvision.core.constants import INPUT, PROB
from webvision.runtime.session import session_config

V1 = tf.compat.v1


def save_session(sess, saved_model_dir):
    """The graph of ``sess`` ("input" -> "prob", signature serving_default) with its variables'
    values as a SavedModel (variables in variables/: checkpoint shards, no size limit)."""
    graph = sess.graph
    signature = V1.saved_model.signature_def_utils.predict_signature_def(
        inputs={INPUT: graph.get_tensor_by_name(INPUT + ':0')}, outputs={PROB: graph.get_tensor_by_name(PROB + ':0')})
    builder = V1.saved_model.builder.SavedModelBuilder(saved_model_dir)
    builder.add_meta_graph_and_variables(sess, [V1.saved_model.tag_constants.SERVING],
                                         signature_def_map={'serving_default': signature})
    builder.save()


def write_saved_model(graph, session_init, saved_model_dir):
    """``graph`` (an inference graph) with its weights from ``session_init`` as a SavedModel that
    keeps them as variables; their values ({variable name: array}), read in the same session."""
    with graph.as_default(), V1.Session(config=session_config()) as sess:
        session_init.init(sess)
        save_session(sess, saved_model_dir)
        return sess.run({v.op.name: v for v in V1.global_variables()})


def weights_as_inputs(graph_def, outputs):
    """The graph with each resource variable's reads taken from one Placeholder ``VAR/value``
    instead, pruned to ``outputs`` (the variables and their initialisers go): a GraphDef without
    weights, and {placeholder name: variable name}."""
    nodes = {n.name: n for n in graph_def.node}
    out = graph_pb2.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    placeholders = {}
    for n in graph_def.node:
        handle = nodes.get(n.input[0].split(':')[0]) if n.op == 'ReadVariableOp' else None
        if handle is None or handle.op != 'VarHandleOp':
            out.node.add().CopyFrom(n)
            continue
        name = handle.name + '/value'
        if name not in placeholders:
            p = out.node.add(name=name, op='Placeholder')
            p.attr['dtype'].type = handle.attr['dtype'].type
            p.attr['shape'].shape.CopyFrom(handle.attr['shape'].shape)
            placeholders[name] = handle.name
        read = out.node.add(name=n.name, op='Identity', input=[name])
        read.attr['T'].type = handle.attr['dtype'].type
    return V1.graph_util.extract_sub_graph(out, outputs), placeholders


def data_file_name(onnx_path):
    """A new name for the external data beside ``onnx_path``: an older export's file stays until the
    model that reads it has been replaced."""
    return '{}-{}.data'.format(os.path.basename(onnx_path), secrets.token_hex(4))


def onnx_model(graph, values, data_path, location):
    """The ONNX model of ``graph`` with its weights (``values``, by variable name; emptied as they are
    written) written to ``data_path`` one after the other and referenced from the model as the
    external data file ``location`` (a name beside the model); the model itself holds no weights."""
    import numpy as np
    import onnx
    import tf2onnx
    from onnx import external_data_helper, helper
    graph_def, placeholders = weights_as_inputs(graph.as_graph_def(), [PROB])
    model, _ = tf2onnx.convert.from_graph_def(graph_def, input_names=[INPUT + ':0'] + [p + ':0' for p in placeholders],
                                              output_names=[PROB + ':0'], opset=17)
    image = [i for i in model.graph.input if i.name == INPUT + ':0']
    with open(data_path, 'wb') as f:
        for placeholder, variable in placeholders.items():
            value = np.ascontiguousarray(values.pop(variable))    # written, then let go
            tensor = onnx.TensorProto(name=placeholder + ':0', dims=value.shape, raw_data=b'',
                                      data_type=helper.np_dtype_to_tensor_dtype(value.dtype))
            external_data_helper.set_external_data(tensor, location, f.tell(), value.nbytes)   # wants raw_data
            tensor.ClearField('raw_data')
            tensor.data_location = onnx.TensorProto.EXTERNAL
            f.write(memoryview(value).cast('B'))        # ONNX's raw data: little-endian, as numpy's here
            model.graph.initializer.append(tensor)
    del model.graph.input[:]
    model.graph.input.extend(image)
    return model
