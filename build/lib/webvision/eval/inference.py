"""Predicting with a model: on one or several towers, from the frozen graph where it fits, over a
whole DataFlow in list order."""
import contextlib
import functools

import numpy as np
import tqdm

from webvision.runtime import tfcompat  # (before TensorFlow)
import tensorflow as tf
from tensorpack.input_source import PlaceholderInput
from tensorpack.predict import OfflinePredictor, OnlinePredictor, PredictConfig
from tensorpack.tfutils.tower import PredictTowerContext
from tensorpack.utils import logger

from webvision.core.constants import INPUT, PROB
from webvision.core.errors import DataError, WeightsError
from webvision.weights.freeze import FREEZE_LIMIT_BYTES, frozen_inference_graph
from webvision.results.metric import error_rates, wrong_from_topk
from webvision.results.predictions import write_predictions
from webvision.results.probs import probs_writer, top_k


def predict_dataflow(model, session_init, dataflow, creator=None, towers=1, views=1, probs_out=None):
    """Runs the model over a DataFlow of (images, labels, indices) batches, each batch split
    across ``towers`` devices, and returns top-5 ids, their probabilities, labels and indices,
    ordered by index (so: list order). With ``views`` > 1 the images come as [N, views, H, W, 3]
    and an image's probabilities are the mean over its views. ``probs_out``: an array [images,
    classes] (a memory map) that gets every image's probabilities in its row."""
    config = PredictConfig(model=model, session_init=session_init, session_creator=creator,
                           input_names=[INPUT], output_names=[PROB])
    pred = inference_predictor(config, towers)
    run = functools.partial(_run_split, pred, towers) if towers > 1 else pred
    top5, prob, labels, indices = [], [], [], []
    dataflow.reset_state()
    for images, batch_labels, batch_indices in tqdm.tqdm(dataflow, total=len(dataflow), desc='eval'):
        n = len(images)
        p = run(images.reshape((n * views,) + images.shape[-3:]))[0]
        p = p.reshape(n, views, -1).mean(axis=1)
        if probs_out is not None:
            probs_out[batch_indices] = p
        ids, top_prob = top_k(p, 5)
        top5.append(ids), prob.append(top_prob)
        labels.append(batch_labels), indices.append(batch_indices)
    indices = np.concatenate(indices)
    order = np.argsort(indices, kind='stable')
    return (np.concatenate(top5)[order], np.concatenate(prob)[order],
            np.concatenate(labels)[order], indices[order])


def inference_predictor(config, towers=1):
    """A predictor of ``config`` on ``towers`` devices (inputs and outputs per tower, as
    DataParallelPredictor when towers > 1). It runs the frozen graph with batch norm folded into
    the convolutions (frozen_inference_graph), or the plain graph when the weights are too
    large to freeze."""
    graph_def = frozen_inference_graph(config)
    if graph_def is not None:
        return GraphDefPredictor(graph_def, config, towers)
    logger.info('Weights over {:.1f} GB: predicting with the unfrozen graph (batch norm not folded)'.format(
        FREEZE_LIMIT_BYTES / 2 ** 30))
    return DataParallelPredictor(config, list(range(towers))) if towers > 1 else OfflinePredictor(config)


class DataParallelPredictor(OnlinePredictor):
    """One predictor over several towers, as tensorpack's DataParallelOfflinePredictor, which
    fails on TF 2 (it calls tf.variable_scope, gone from the v2 namespace). Inputs and outputs
    are per tower: [input of tower 0, input of tower 1, ...]."""

    def __init__(self, config, towers):
        v1 = tf.compat.v1
        self.graph = tf.Graph() if config.create_graph else tf.compat.v1.get_default_graph()
        with self.graph.as_default():
            inputs, outputs = [], []
            for idx, t in enumerate(towers):
                name = 'tower{}'.format(t)
                placeholders = PlaceholderInput()
                placeholders.setup([tf.TensorSpec(p.shape, p.dtype, name + '_' + p.name)
                                    for p in config.input_signature])
                with v1.variable_scope(v1.get_variable_scope(), reuse=idx > 0), \
                        tf.device('/gpu:{}'.format(t)), PredictTowerContext(name):
                    config.tower_func(*placeholders.get_input_tensors())
                    handle = config.tower_func.towers[-1]
                    inputs.extend(handle.get_tensors(config.input_names))
                    outputs.extend(handle.get_tensors(config.output_names))
            sess = tfcompat.initialised_session(config.session_init, config.session_creator)
            super().__init__(inputs, outputs, config.return_input, sess)


def _run_split(pred, towers, images):
    """One batch on several towers: every tower needs an input, so a batch smaller than the tower
    count is padded and the padding's outputs dropped."""
    n = len(images)
    if n < towers:
        images = np.concatenate([images, np.repeat(images[:1], towers - n, axis=0)])
    chunks = np.array_split(images, towers)
    outs = pred(*chunks)            # [output 0 of tower 0, output 1 of tower 0, ..., output 0 of tower 1, ...]
    per_tower = len(outs) // towers
    return [np.concatenate(outs[k::per_tower])[:n] for k in range(per_tower)]


class GraphDefPredictor(OnlinePredictor):
    """Runs a GraphDef (one copy per tower, on /gpu:i when towers > 1) in a session made by
    config.session_creator; inputs and outputs are ordered as DataParallelPredictor's."""

    def __init__(self, graph_def, config, towers=1):
        graph, inputs, outputs = tf.Graph(), [], []
        with graph.as_default():
            for t in range(towers):
                prefix = 'tower{}/'.format(t) if towers > 1 else ''
                with tf.device('/gpu:{}'.format(t)) if towers > 1 else contextlib.nullcontext():
                    tf.import_graph_def(graph_def, name=prefix.rstrip('/'))
                inputs += [graph.get_tensor_by_name(prefix + n.split(':')[0] + ':0') for n in config.input_names]
                outputs += [graph.get_tensor_by_name(prefix + n.split(':')[0] + ':0') for n in config.output_names]
            sess = config.session_creator.create_session()
        super().__init__(inputs, outputs, config.return_input, sess)


def check_predictions(list_path, weights, count, undecodable, prob):
    """Refuses results that are not predictions: no image of the list decoded, or probabilities
    that are not finite (broken weights); warns about the images predicted on a black image."""
    if count and len(undecodable) == count:
        raise DataError('{}: none of its {:,} images could be decoded; nothing written'.format(list_path, count))
    if undecodable:
        logger.warn('{:,} of {:,} images in {} could not be decoded and were predicted on a black image'.format(
            len(undecodable), count, list_path))
    bad = int((~np.isfinite(prob).all(axis=1)).sum())
    if bad:
        raise WeightsError('{}: {:,} of {:,} images got probabilities that are not finite (NaN or infinity): '
                           'its weights are broken (a diverged run?); nothing written'.format(weights, bad, count))


def evaluate_list(model, session_init, dataflow, *, names, num_classes, list_path, weights, predictions,
                  creator=None, towers=1, views=1, save_probs=None, about=None):
    """One pass over a list's ``dataflow`` (get_eval_dataflow with indices): writes the predictions
    JSON and, with ``save_probs``, the probability matrix (webvision.results.probs; ``about`` goes in its .json).
    Returns (images written, the challenge's error rates or None for a list without labels)."""
    with (probs_writer(save_probs, names, num_classes, **(about or {})) if save_probs
          else contextlib.nullcontext()) as probs:
        top5, prob, labels, _ = predict_dataflow(model, session_init, dataflow, creator, towers, views, probs)
        check_predictions(list_path, weights, len(names), dataflow.undecodable, prob)
    # A test list gives every image the label 0: the labels are withheld, not all class 0.
    known = num_classes > 1 and bool(labels.any())
    n = write_predictions(predictions, names, labels if known else None, top5, prob)
    return n, error_rates(*wrong_from_topk(top5, labels), labels, num_classes) if known else None


def top_classes(prob, k):
    """The ``k`` most probable classes of one probability vector, most probable first (ties: lower id)."""
    k = min(k, len(prob))
    ids = np.argpartition(-prob, k - 1)[:k]
    return ids[np.lexsort((ids, -prob[ids]))]
