# -*- coding: utf-8 -*-
# File: imagenet_utils.py
"""Augmentors, the model base class (input, normalisation, loss, top-k errors, weight decay),
the challenge metric and evaluation. Data code hands over uint8 BGR images and int labels."""
import contextlib
import functools
import glob
import os
import re
import shutil
import signal
import threading
import time
import zipfile
from abc import abstractmethod

import cv2
import numpy as np
import simplejpeg
import tqdm

import tfcompat  # (must precede tensorflow)
import tensorflow as tf
from tensorpack import ModelDesc
from tensorpack.callbacks import Callback, HyperParamSetter, Inferencer, ModelSaver
from tensorpack.dataflow import ProxyDataFlow, imgaug
from tensorpack.models import regularize_cost
from tensorpack.input_source import PlaceholderInput
from tensorpack.predict import OfflinePredictor, OnlinePredictor, PredictConfig
from tensorpack.tfutils import get_default_sess_config, gradproc, optimizer
from tensorpack.tfutils.sessinit import SaverRestore, SessionInit
from tensorpack.tfutils.sesscreate import NewSessionCreator
from tensorpack.tfutils.summary import add_moving_summary
from tensorpack.tfutils.tower import PredictTowerContext, get_current_tower_context
from tensorpack.utils import logger
from tensorpack.utils.utils import get_rng

from utils.scoring import error_rates, wrong_from_topk  # noqa: F401  (the metric, shared with utils/)
from webvision_dataset import MAX_IMAGE_PIXELS, Refused as _Refused, decode_checked, too_large

# fb.resnet.torch's PCA lighting constants (RGB), reversed to BGR where used.
PCA_EIGVAL = np.asarray([0.2175, 0.0188, 0.0045]) * 255.0
PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                       [-0.5808, -0.0045, -0.8140],
                       [-0.5836, -0.6948, 0.4203]], dtype='float32')


def fbresnet_augmentor(is_train, image_size=224):
    """fb.resnet.torch's augmentation for BGR uint8 images. Validation resizes the shorter side to
    256/224 of the crop (256 for 224) and centre-crops."""
    interp = cv2.INTER_CUBIC
    if is_train:
        return [
            imgaug.GoogleNetRandomCropAndResize(target_shape=image_size, interp=interp),
            imgaug.RandomOrderAug(
                [imgaug.BrightnessScale((0.6, 1.4), clip=False),
                 imgaug.Contrast((0.6, 1.4), rgb=False, clip=False),
                 imgaug.Saturation(0.4, rgb=False),
                 imgaug.Lighting(0.1, eigval=PCA_EIGVAL[::-1], eigvec=PCA_EIGVEC[::-1, ::-1])]),
            imgaug.Clip(),
            imgaug.Flip(horiz=True),
            imgaug.MapImage(lambda im: im.astype(np.uint8)),
        ]
    return [
        imgaug.ResizeShortestEdge(image_size * 256 // 224, interp=interp),
        imgaug.CenterCrop((image_size, image_size)),
    ]


class CropDecoder:
    """Decodes an encoded image straight into a ``size`` x ``size`` crop. For a JPEG the crop is
    chosen from the header before decoding, so that a large image is decoded at 1/2, 1/4 or 1/8
    scale (libjpeg's DCT scaling, much cheaper) whenever the crop still has ``size`` pixels there;
    then only the crop is resized. JPEGs are decoded with simplejpeg (libjpeg-turbo; 0.43 ms for a
    256 x 340 image where cv2.imdecode took 0.69); anything else (PNG, GIF, CMYK, EXIF-rotated or
    damaged files) by OpenCV, as before. Images whose header claims more than ``max_pixels`` are
    refused before decoding. Returns (BGR uint8 image, None) or (None, reason)."""

    def __init__(self, size, interp=cv2.INTER_CUBIC, max_pixels=MAX_IMAGE_PIXELS):
        self.size, self.interp, self.max_pixels = size, interp, max_pixels
        self._rng, self._pid = None, None

    @property
    def rng(self):
        # reseeded in every process: forked loaders would otherwise draw the same crops
        if self._pid != os.getpid():
            self._rng, self._pid = get_rng(self), os.getpid()
        return self._rng

    def __call__(self, data):
        try:
            im, box = self._decode_jpeg(data)
            if im is None:
                im = decode_checked(data, self.max_pixels)
                box = self.box(im.shape[:2])
        except _Refused as e:
            return None, str(e)
        y, x, h, w = box
        im = im[y:y + max(h, 1), x:x + max(w, 1)]
        if im.shape[:2] != (self.size, self.size):
            im = cv2.resize(im, (self.size, self.size), interpolation=self.interp)
        return self.finish(im), None

    def _decode_jpeg(self, data):
        """(image, crop box in it) of a plain JPEG, or (None, None) for OpenCV to handle."""
        # OpenCV applies an EXIF orientation; simplejpeg would not
        if data[:2] != b'\xff\xd8' or b'Exif' in data[:64]:
            return None, None
        try:
            h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
            if colorspace not in ('YCbCr', 'Gray', 'RGB'):     # CMYK and YCCK
                return None, None
            reason = too_large((h, w), self.max_pixels)
            if reason:
                raise _Refused(reason)
            box = self.box((h, w))
            factor = next((f for f in (8, 4, 2) if min(box[2:]) >= f * self.size), 1)
            size = dict(min_height=-(-h // factor), min_width=-(-w // factor))
            try:
                im = simplejpeg.decode_jpeg(data, colorspace='BGR', **size)
            except ValueError:  # cut short (an interrupted download): what is there, the rest grey
                im = simplejpeg.decode_jpeg(data, colorspace='BGR', strict=False, **size)
        except ValueError:      # no JPEG header: OpenCV may still know the format
            return None, None
        if im.shape[:2] != (-(-h // factor), -(-w // factor)):
            return im, self.box(im.shape[:2])
        return im, [v // factor for v in box]

    def box(self, shape):
        """(y, x, h, w) of the crop in an image of this (h, w)."""
        raise NotImplementedError

    def finish(self, im):
        return im


class RandomCropDecoder(CropDecoder):
    """fb.resnet.torch's (and tensorpack's GoogleNetRandomCropAndResize) random-resized crop: 8-100 %
    of the area, aspect 3/4-4/3, ten tries, else the centre square; then a random horizontal flip.
    Colour jitter and lighting are applied to the batch in the graph (batch_color_augment)."""

    def __init__(self, size, area=(0.08, 1.), aspect=(0.75, 1.333), interp=cv2.INTER_CUBIC,
                 max_pixels=MAX_IMAGE_PIXELS):
        super().__init__(size, interp, max_pixels)
        self.area, self.aspect = area, aspect

    def box(self, shape):
        h, w = shape
        rng = self.rng
        for _ in range(10):
            target = rng.uniform(*self.area) * (h * w)
            aspect = rng.uniform(*self.aspect)
            ww, hh = int(np.sqrt(target * aspect) + 0.5), int(np.sqrt(target / aspect) + 0.5)
            if rng.uniform() < 0.5:
                ww, hh = hh, ww
            if hh <= h and ww <= w:
                x = rng.randint(0, w - ww + 1)
                return rng.randint(0, h - hh + 1), x, hh, ww
        side = min(h, w)
        return (h - side) // 2, (w - side) // 2, side, side

    def finish(self, im):
        return cv2.flip(im, 1) if self.rng.uniform() < 0.5 else im


class CenterCropDecoder(CropDecoder):
    """Validation: the shorter side resized to ``size`` x 256/224, then the centre ``size`` square,
    done as one crop and one resize (no resize at all for WebVision's 256-pixel images)."""

    def __init__(self, size, interp=cv2.INTER_CUBIC, max_pixels=MAX_IMAGE_PIXELS):
        super().__init__(size, interp, max_pixels)
        self.resize = size * 256 // 224

    def box(self, shape):
        h, w = shape
        side = max(int(round(self.size * min(h, w) / float(self.resize))), 1)
        side_h, side_w = min(side, h), min(side, w)
        return int((h - side_h) * 0.5), int((w - side_w) * 0.5), side_h, side_w


def decoder(is_train, image_size=224, max_pixels=MAX_IMAGE_PIXELS):
    """The loaders' decoder: a random-resized crop for training, the centre crop otherwise."""
    cls = RandomCropDecoder if is_train else CenterCropDecoder
    return cls(image_size, max_pixels=max_pixels)


def batch_color_augment(images):
    """fb.resnet.torch's colour augmentation on a float BGR batch in [0, 255], per image and in a
    random order per image: brightness and contrast x U(0.6, 1.4), saturation 1 + U(-0.4, 0.4), PCA
    lighting with std 0.1; then clipped to [0, 255]. In the loaders it cost 3.9 of 5.3 ms per image."""
    with tf.name_scope('color_augment'):
        n = tf.shape(images)[0]
        draw = functools.partial(tf.random.uniform, [n, 1, 1, 1])
        bright, contrast, sat = draw(minval=0.6, maxval=1.4), draw(minval=0.6, maxval=1.4), draw(minval=0.6, maxval=1.4)
        gray_w = tf.constant([0.114, 0.587, 0.299])     # BGR, as cv2.COLOR_BGR2GRAY
        alpha = tf.random.normal([n, 3], stddev=0.1) * (PCA_EIGVAL[::-1].astype('float32'))
        shift = tf.matmul(alpha, PCA_EIGVEC[::-1, ::-1], transpose_b=True)[:, None, None, :]

        def gray(x):
            return tf.reduce_sum(x * gray_w, axis=-1, keepdims=True)
        ops = [lambda x: x * bright,
               lambda x: x * contrast + tf.reduce_mean(gray(x), axis=[1, 2, 3], keepdims=True) * (1 - contrast),
               lambda x: x * sat + gray(x) * (1 - sat),
               lambda x: x + shift]
        order = tf.argsort(tf.random.uniform([n, len(ops)]), axis=1)
        for step in range(len(ops)):
            pick = order[:, step]
            out = images
            for k, op in enumerate(ops):
                out = tf.where(tf.equal(pick, k)[:, None, None, None], op(images), out)
            images = out
        return tf.clip_by_value(images, 0., 255.)


HEAD_PREFIX = 'linear/'     # the classifier head's variables (get_logits' last layer)

# error_rates() keys -> names in stats.json / TensorBoard (after a "val-" prefix)
METRIC_KEYS = {'Top1': 'error-top1', 'Top5': 'error-top5',
               'Balanced Top1': 'balanced-error-top1', 'Balanced Top5': 'balanced-error-top5'}


class ValidationErrors(Inferencer):
    """val-error-top1/top5 and their class-balanced versions, from one validation pass."""

    def __init__(self, num_classes, prefix='val-'):
        self.num_classes, self.prefix = num_classes, prefix

    def _before_inference(self):
        self.wrong1, self.wrong5, self.labels = [], [], []

    def _get_fetches(self):
        return ['wrong-top1', 'wrong-top5', 'label']

    def _on_fetches(self, outputs):
        for store, value in zip((self.wrong1, self.wrong5, self.labels), outputs):
            store.append(value)

    def _after_inference(self):
        errs = error_rates(np.concatenate(self.wrong1), np.concatenate(self.wrong5),
                           np.concatenate(self.labels), self.num_classes)
        return {self.prefix + METRIC_KEYS[k]: v for k, v in errs.items()}


class ImageNetModel(ModelDesc):
    """Holds the input, normalisation, loss, metrics and weight decay; variants build logits."""
    weight_decay = 1e-4
    weight_decay_pattern = '.*/W'
    label_smoothing = 0.
    image_bgr = True        # DataFlows produce BGR (OpenCV)
    trunk_lr_mult = 1.      # fine-tuning: learning-rate multiplier for all but the head
    color_augment = False   # training: batch_color_augment on the input (the loaders only crop and flip)
    float16_loss_scaling = False    # --amp on GPUs

    def __init__(self, num_classes, data_format='NHWC', image_size=224):
        if data_format not in ('NCHW', 'NHWC'):
            raise ValueError('data_format must be NCHW or NHWC, got {!r}'.format(data_format))
        self.num_classes, self.data_format, self.image_size = num_classes, data_format, image_size

    def inputs(self):
        # uint8 input: 4x less to copy from the loaders than float32.
        return [tf.TensorSpec([None, self.image_size, self.image_size, 3], tf.uint8, 'input'),
                tf.TensorSpec([None], tf.int32, 'label')]

    def build_graph(self, image, label):
        if self.color_augment and get_current_tower_context().is_training:
            image = batch_color_augment(tf.cast(image, tf.float32))
        image = self.image_preprocess(image)
        if self.data_format == 'NCHW':
            image = tf.transpose(image, [0, 3, 1, 2])
        logits = tf.identity(self.get_logits(image), name='logits')
        prob = tf.nn.softmax(logits, name='prob')
        top_prob, top_ids = tf.nn.top_k(prob, k=min(5, self.num_classes))
        tf.identity(top_prob, name='top5-prob')
        tf.identity(top_ids, name='top5')

        loss = self.compute_loss_and_error(logits, label, self.label_smoothing)
        if self.weight_decay > 0:
            wd_loss = regularize_cost(self.weight_decay_pattern,
                                      lambda v: self.weight_decay * tf.nn.l2_loss(v),
                                      name='l2_regularize_loss')
            add_moving_summary(loss, wd_loss)
            return tf.add_n([loss, wd_loss], name='cost')
        add_moving_summary(loss)
        return tf.identity(loss, name='cost')

    @abstractmethod
    def get_logits(self, image):
        """image: 4D float tensor in ``self.data_format``. Returns [N, num_classes] logits."""

    def optimizer(self):
        lr = tf.compat.v1.get_variable('learning_rate', initializer=0.1, trainable=False)
        tf.compat.v1.summary.scalar('learning_rate-summary', lr)
        opt = tf.compat.v1.train.MomentumOptimizer(lr, 0.9, use_nesterov=True)
        if self.float16_loss_scaling:
            # float16 gradients underflow without it; the rewrite itself is switched on for the session
            opt = tf.compat.v1.mixed_precision.enable_mixed_precision_graph_rewrite(opt)
        if self.trunk_lr_mult != 1:
            # everything but the classifier head learns at trunk_lr_mult x the learning rate
            opt = optimizer.apply_grad_processors(
                opt, [gradproc.ScaleGradient(('^(?!{}).*'.format(HEAD_PREFIX), self.trunk_lr_mult), verbose=False)])
        return opt

    def image_preprocess(self, image):
        with tf.name_scope('image_preprocess'):
            image = tf.cast(image, tf.float32)
            mean = np.array([0.485, 0.456, 0.406]) * 255.    # RGB
            std = np.array([0.229, 0.224, 0.225]) * 255.
            if self.image_bgr:
                mean, std = mean[::-1], std[::-1]
            return (image - mean.astype('float32')) * (1. / std).astype('float32')

    @staticmethod
    def compute_loss_and_error(logits, label, label_smoothing=0.):
        if label_smoothing == 0.:
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=label)
        else:
            loss = tf.compat.v1.losses.softmax_cross_entropy(
                tf.one_hot(label, logits.shape[-1]), logits, label_smoothing=label_smoothing,
                reduction=tf.compat.v1.losses.Reduction.NONE)
        loss = tf.reduce_mean(loss, name='xentropy-loss')
        for k in (1, 5):
            wrong = tf.cast(tf.logical_not(tf.nn.in_top_k(predictions=logits, targets=label, k=k)),
                            tf.float32, name='wrong-top{}'.format(k))
            add_moving_summary(tf.reduce_mean(wrong, name='train-error-top{}'.format(k)))
        return loss


def predict_dataflow(model, session_init, dataflow, creator=None, towers=1):
    """Runs the model over a DataFlow of (images, labels, indices) batches, each batch split
    across ``towers`` devices, and returns top-5 ids, their probabilities, labels and indices,
    ordered by index (so: list order)."""
    config = PredictConfig(model=model, session_init=session_init, session_creator=creator,
                           input_names=['input'], output_names=['top5', 'top5-prob'])
    pred = inference_predictor(config, towers)
    run = functools.partial(_run_split, pred, towers) if towers > 1 else pred
    top5, prob, labels, indices = [], [], [], []
    dataflow.reset_state()
    for images, batch_labels, batch_indices in tqdm.tqdm(dataflow, total=len(dataflow), desc='eval'):
        ids, p = run(images)
        top5.append(ids), prob.append(p), labels.append(batch_labels), indices.append(batch_indices)
    indices = np.concatenate(indices)
    order = np.argsort(indices, kind='stable')
    return (np.concatenate(top5)[order], np.concatenate(prob)[order],
            np.concatenate(labels)[order], indices[order])


"""
====== Inference graph =======
"""

# A GraphDef is a protobuf, which cannot exceed 2 GB; the weights of a frozen graph are in it.
FREEZE_LIMIT_BYTES = int(1.75 * 2 ** 30)


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
        self.graph = config._maybe_create_graph()
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
            config.session_init._setup_graph()
            sess = config.session_creator.create_session()
            config.session_init._run_init(sess)
            super().__init__(inputs, outputs, config.return_input, sess)


def _run_split(pred, towers, images):
    """One batch on several towers: every tower needs an input, so a batch smaller than the tower
    count is padded and the padding's outputs dropped."""
    n = len(images)
    if n < towers:
        images = np.concatenate([images, np.repeat(images[:1], towers - n, axis=0)])
    chunks = np.array_split(images, towers)
    outs = pred(*chunks)            # [top5 of tower 0, prob of tower 0, top5 of tower 1, ...]
    return [np.concatenate(outs[k::2])[:n] for k in range(2)]


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
            config.session_init._setup_graph()
            config.session_init._run_init(sess)
            outputs = [name.split(':')[0] for name in config.output_names]
            frozen = v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
    return fold_batch_norms(frozen, outputs)


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


def write_saved_model(graph_def, saved_model_dir, input_name='input', output_name='prob'):
    """A frozen GraphDef as a SavedModel with signature serving_default: "input" -> "prob"
    (tensorpack's exporter keys the signature by tensor names, "input:0")."""
    v1 = tf.compat.v1
    with tf.Graph().as_default() as graph:
        tf.import_graph_def(graph_def, name='')
        image, prob = graph.get_tensor_by_name(input_name + ':0'), graph.get_tensor_by_name(output_name + ':0')
        with v1.Session(config=session_config()) as sess:
            builder = v1.saved_model.builder.SavedModelBuilder(saved_model_dir)
            signature = v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={input_name: image}, outputs={output_name: prob})
            builder.add_meta_graph_and_variables(sess, [v1.saved_model.tag_constants.SERVING],
                                                 signature_def_map={'serving_default': signature})
            builder.save()


"""
====== Training helpers =======
"""


def learning_rate_at(step, base_lr, steps_per_epoch, epochs, warmup_epochs=3.,
                     decay_at=(30 / 110, 60 / 110, 90 / 110)):
    """The learning rate before step ``step``: a linear warm-up from 0.1 when ``base_lr`` exceeds
    it (Goyal et al.), then 10x drops at fixed fractions of the run. A pure function of the step,
    so a resumed run continues the same schedule."""
    epoch = step / float(steps_per_epoch)
    if base_lr > 0.1 and epoch < warmup_epochs:
        return 0.1 + (base_lr - 0.1) * epoch / warmup_epochs
    drops = sum(step >= int(round(f * epochs)) * steps_per_epoch for f in decay_at)
    return base_lr * 0.1 ** drops


class LearningRateSchedule(HyperParamSetter):
    """Sets ``learning_rate`` from the global step before training and after every step in which
    the schedule changes it."""

    def __init__(self, **schedule):
        super().__init__('learning_rate')
        self.schedule = schedule

    def _get_value_to_set(self):
        return learning_rate_at(self.global_step, **self.schedule)

    def _trigger_step(self):
        if learning_rate_at(self.global_step, **self.schedule) != self._last_value:
            self._set_param()


def session_config(threads=None, gpu=False, amp=False, xla=False):
    """Session settings. On the CPU every core works on each op: tensorpack's default runs each op
    on one thread, which left most cores idle (1.84 vs 2.37 images/s training ResNet-50 on 2 cores).
    ``amp``: mixed precision by TensorFlow's graph rewrite, float16 on GPUs (with loss scaling, see
    ImageNetModel.optimizer), bfloat16 on CPUs through oneDNN. ``xla``: XLA auto-clustering."""
    conf = get_default_sess_config()
    if not gpu:
        conf.intra_op_parallelism_threads = threads or len(os.sched_getaffinity(0))
        conf.inter_op_parallelism_threads = 1
    rewrite = conf.graph_options.rewrite_options
    if amp and not gpu:
        rewrite.auto_mixed_precision_onednn_bfloat16 = rewrite.ON
    if xla:     # on the CPU this needs the flag tfcompat sets
        conf.graph_options.optimizer_options.global_jit_level = tf.compat.v1.OptimizerOptions.ON_1
    return conf


class ConfiguredSessionCreator(NewSessionCreator):
    """NewSessionCreator with a config of ours (session_config()), without tensorpack's warning about
    custom configs (it concerns GPUs initialised too early); ``target``: a server's, for clusters."""

    def __init__(self, config, target=''):
        self.target, self.config, self.user_provided_config = target, config, True


class CPUSessionCreator(ConfiguredSessionCreator):
    def __init__(self, threads=None, amp=False, xla=False):
        super().__init__(session_config(threads, False, amp, xla))


class Throughput(Callback):
    """Prints images/s at the end of training, leaving out the first steps (graph optimisation
    and warm-up)."""

    def __init__(self, batch_size, warmup_steps=1):
        self.batch_size, self.warmup_steps = batch_size, warmup_steps
        self.images_per_sec = None

    def _before_train(self):
        self._steps, self._start = 0, None

    def _trigger_step(self):
        self._steps += 1
        if self._steps == self.warmup_steps:
            self._start = time.perf_counter()

    def _after_train(self):
        timed = self._steps - self.warmup_steps
        if self._start is None or timed < 1:
            logger.warn('Throughput: {} steps run, too few to time after {} warm-up step(s)'.format(
                self._steps, self.warmup_steps))
            return
        self.images_per_sec = timed * self.batch_size / (time.perf_counter() - self._start)
        logger.info('Throughput: {:.2f} images/s ({} steps of {} images after {} warm-up)'.format(
            self.images_per_sec, timed, self.batch_size, self.warmup_steps))
        print('images/s: {:.2f}'.format(self.images_per_sec), flush=True)


class EpochCheckpoint(ModelSaver):
    """Checkpoints each epoch after its statistics (validation, stats.json) are written, i.e. at
    the start of the next epoch or the end of training; tensorpack's ModelSaver writes before them.
    A run killed in between resumes from the previous checkpoint and drops the newer statistics,
    so stats.json stays one continuous history. A run stopped by SIGTERM or Ctrl-C
    (``interrupted``) is checkpointed where it stopped, mid-epoch; one stopped by an error is not,
    so that a broken state (say NaN weights) never becomes the newest checkpoint."""

    interrupted = False
    saving = False          # a checkpoint is being written: the signal watcher waits for it

    def __init__(self, steps_per_epoch, **kwargs):
        super().__init__(**kwargs)
        self.steps_per_epoch = steps_per_epoch
        self.error = None

    def _before_train(self):
        super()._before_train()
        self._saved_step = self.global_step

    def _trigger_epoch(self):
        pass

    def _before_epoch(self):
        self._save_if_new()

    def _after_train(self):
        self._save_if_new(anywhere=EpochCheckpoint.interrupted)

    def _save_if_new(self, anywhere=False):
        step = self.global_step
        if step != self._saved_step and (anywhere or step % self.steps_per_epoch == 0):
            self._trigger()
            self._saved_step = step

    def _trigger(self):
        # tensorpack's ModelSaver logs a failed save and trains on: a full disk would go unnoticed
        # for days, each epoch lost. Stop instead, with the last good checkpoint named.
        step = self.global_step
        try:
            EpochCheckpoint.saving = True
            self.saver.save(tf.compat.v1.get_default_session(), self.path,
                            global_step=tf.compat.v1.train.get_global_step(), write_meta_graph=False)
        except (OSError, tf.errors.OpError) as e:
            for partial in glob.glob('{}-{}.*'.format(self.path, step)) + glob.glob('{}-{}_temp*'.format(self.path, step)):
                shutil.rmtree(partial, ignore_errors=True) if os.path.isdir(partial) else os.remove(partial)
            previous = latest_checkpoint(self.checkpoint_dir)
            # kept, because tensorpack only prints what after_train raises; the driver re-raises it
            self.error = CheckpointError('could not write checkpoint {}-{} ({}); is the disk full? {}'.format(
                self.path, step, getattr(e, 'message', None) or e,
                'The previous checkpoint {} is intact: free some space and rerun the same command to resume '
                'from it.'.format(previous) if previous else 'There is no earlier checkpoint.'))
            raise self.error from None
        finally:
            EpochCheckpoint.saving = False
        logger.info('Model saved to {}-{}.'.format(self.path, step))


class CheckpointError(RuntimeError):
    pass


class FinishInterruptedEpoch(Callback):
    """A run resumed from a mid-epoch checkpoint runs only the rest of that epoch, so that epochs
    keep their boundaries (tensorpack's loop always runs whole epochs)."""
    _chief_only = False     # every worker of a multi-machine run

    def _before_train(self):
        self.full = self.trainer.loop.steps_per_epoch
        done = self.global_step % self.full
        if done:
            logger.info('Finishing the interrupted epoch {}: {} of its {} steps are left'.format(
                self.epoch_num + 1, self.full - done, self.full))
            self.trainer.loop.steps_per_epoch = self.full - done

    def _after_epoch(self):
        self.trainer.loop.steps_per_epoch = self.full


STOP_GRACE_SECONDS = 20     # after SIGTERM or Ctrl-C, the run checkpoints and ends within this
STOP_EXIT_CODES = {'SIGTERM': 143, 'SIGINT': 130}
_on_stop_signal = []        # called from the signal watcher thread: unblock the main thread


class _Stop:
    requested = None        # 'SIGTERM' or 'SIGINT' once one arrived
    in_step = False         # a training step runs: the loop stops after it (StopOnSignal), nothing is raised


def stop_requested():
    """The name of the signal that asked training to stop, or None."""
    return _Stop.requested


def stop_on_signals(grace=STOP_GRACE_SECONDS):
    """SIGTERM (a scheduler preempting the job) and Ctrl-C stop training: during a step, after it
    (StopOnSignal asks the loop to stop), elsewhere (validation, callbacks, set-up) by raising
    KeyboardInterrupt; either way the run is checkpointed where it stopped. Nothing is raised
    during a step: raised while TensorFlow built an exception of its own (the input queue closed,
    below), it became a RuntimeError with a traceback. Python runs
    handlers only in the main thread between bytecodes, so a main thread blocked inside TensorFlow
    (say, waiting for data that never comes) would never hear them: a watcher thread, woken through
    the signal wakeup fd, closes the input queue (the blocked step ends) and, should the process
    still be alive ``grace`` seconds later (a checkpoint being written excepted), ends it."""
    owner = os.getpid()

    def handler(signum, _):
        if os.getpid() != owner:         # a forked loader: end as the signal would by default
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        name = signal.Signals(signum).name
        EpochCheckpoint.interrupted = True
        if _Stop.requested is None:
            logger.warn('{} received: saving a checkpoint and stopping'.format(name))
        _Stop.requested = name
        if not _Stop.in_step:
            raise KeyboardInterrupt(name)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch_stop_signals, args=(read_fd, owner, grace), name='stop-signal-watcher',
                     daemon=True).start()


def _watch_stop_signals(read_fd, owner, grace):
    stops = {int(signal.SIGTERM): 'SIGTERM', int(signal.SIGINT): 'SIGINT'}
    while True:
        got = [stops[b] for b in os.read(read_fd, 64) if b in stops]
        if got and os.getpid() == owner:
            break
    EpochCheckpoint.interrupted = True
    _Stop.requested = _Stop.requested or got[0]
    for unblock in list(_on_stop_signal):
        try:
            unblock()
        except Exception:    # noqa: BLE001  (the session may be closing already)
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline or EpochCheckpoint.saving:
        time.sleep(0.2)
    logger.error('{} received {:.0f} s ago and the run has not ended: exiting now (the last checkpoint written '
                 'is intact)'.format(got[0], grace))
    tfcompat.flush_std_streams()
    os._exit(STOP_EXIT_CODES[got[0]])


class StopOnSignal(Callback):
    """Ends the training loop after the step during which SIGTERM or Ctrl-C arrived (stop_on_signals)."""
    _chief_only = False

    def _before_run(self, _):
        _Stop.in_step = True
        if _Stop.requested:         # arrived between steps and was raised already, or just now
            raise KeyboardInterrupt(_Stop.requested)

    def _after_run(self, run_context, _):
        _Stop.in_step = False
        if _Stop.requested:
            run_context.request_stop()

    def _after_train(self):
        _Stop.in_step = False


class LoaderWatchdog(Callback):
    """Stops training with an error when a loader process dies. tensorpack's ZMQ flow would wait
    for its data forever; closing the input queue ends the blocked training step, and ``error``
    names the process, or the reason its exit status stands for in ``reasons`` (the driver exits
    with it). The same closing unblocks a run that got SIGTERM or Ctrl-C (stop_on_signals)."""
    _chief_only = False     # every worker of a multi-machine run

    def __init__(self, processes, input_source, interval=2., reasons=None):
        self.processes, self.input, self.interval = processes, input_source, interval
        self.reasons = reasons or {}
        self.error = None

    def _before_train(self):
        self._stop = threading.Event()
        _on_stop_signal.append(self.close_input)
        threading.Thread(target=self._watch, name='loader-watchdog', daemon=True).start()

    def close_input(self):
        self.input.thread.close_op.run(session=self.trainer.sess)

    def _watch(self):
        while not self._stop.wait(self.interval):
            dead = [p for p in self.processes() if not p.is_alive()]
            if dead:
                p = dead[0]
                self.error = self.reasons.get(p.exitcode) or 'loader process {} (pid {}) died with exit code {}; ' \
                    'stopping training'.format(p.name, p.pid, p.exitcode)
                logger.error(self.error)
                self.close_input()
                return

    def _after_train(self):
        self._stop.set()
        if self.close_input in _on_stop_signal:
            _on_stop_signal.remove(self.close_input)


class InputMonitor(Callback):
    """Each epoch: the images/s the loaders delivered and how full the input queue was on average,
    in the log and stats.json (input/images_per_sec, input/queue_fill). A queue that runs near empty
    means the data, not the model, limits the run."""
    _chief_only = False

    def __init__(self, queue_input, counted_flow, capacity=50):
        self.queue_input, self.flow, self.capacity = queue_input, counted_flow, capacity

    def _setup_graph(self):
        self._size = self.queue_input.queue.size()

    def _before_train(self):
        self._mark()

    def _mark(self):
        self._images, self._time, self._fill = self.flow.images, time.time(), []

    def _before_run(self, _):
        return tf.compat.v1.train.SessionRunArgs(fetches=self._size)

    def _after_run(self, _, values):
        self._fill.append(values.results)

    def _trigger_epoch(self):
        rate = (self.flow.images - self._images) / max(time.time() - self._time, 1e-9)
        fill = float(np.mean(self._fill)) if self._fill else 0.
        self.trainer.monitors.put_scalar('input/images_per_sec', rate)
        self.trainer.monitors.put_scalar('input/queue_fill', fill)
        logger.info('input: the loaders delivered {:,.0f} images/s; the queue held {:.1f} of {} batches on '
                    'average{}'.format(rate, fill, self.capacity,
                                       ' (mostly empty: data loading limits this run)' if fill < 0.2 * self.capacity else ''))
        self._mark()


class CountedFlow(ProxyDataFlow):
    """Counts the images of the batches that pass (for InputMonitor)."""

    def __init__(self, ds):
        super().__init__(ds)
        self.images = 0

    def __iter__(self):
        for dp in self.ds:
            self.images += len(dp[0])
            yield dp


class BadImageReport(Callback):
    """At each epoch's end: how many images could not be decoded so far, and where they are listed."""
    _chief_only = False     # every worker of a multi-machine run

    def __init__(self, bad_log):
        self.bad_log = bad_log

    def _trigger_epoch(self):
        n = self.bad_log.count()
        self.trainer.monitors.put_scalar('bad-images', n)
        if n:
            logger.warn('{} undecodable image(s) skipped so far; listed in {}'.format(n, self.bad_log.path))


"""
====== Loading weights =======
"""


def model_variables():
    """Weights and batch-norm statistics: what a pretrained model carries (no optimizer state,
    no global step, no learning rate). On TF 2.21 tensorpack's BN statistics (``.../EMA``) are no
    longer in the MODEL_VARIABLES collection, so they are also picked by name."""
    v1 = tf.compat.v1
    trainable = {v.op.name for v in v1.trainable_variables()}
    listed = {v.op.name for v in v1.get_collection(v1.GraphKeys.MODEL_VARIABLES)}
    return [v for v in v1.global_variables()
            if v.op.name in trainable or v.op.name in listed or v.op.name.endswith('/EMA')]


def latest_checkpoint(folder):
    """The newest complete checkpoint in a folder, by its files rather than the ``checkpoint``
    state file: a run killed after TF wrote model-N (index last) but before it updated that file
    would otherwise resume from an older one, or from scratch."""
    steps = []
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        m = re.match(r'^model-(\d+)\.index$', name)
        prefix = os.path.join(folder, name[:-len('.index')])
        if m and glob.glob(glob.escape(prefix) + '.data-*'):
            steps.append((int(m.group(1)), prefix))
    return max(steps)[1] if steps else tf.train.latest_checkpoint(folder)


class WeightsError(ValueError):
    """A weight file that is missing, unreadable, or does not fit the model; names the file."""


def resolve_checkpoint(path):
    """A checkpoint prefix from a prefix, its .index file, a directory (its newest) or an .npz."""
    if path.endswith('.npz'):
        if not os.path.isfile(path):
            raise WeightsError('{}: no such file'.format(path))
        return path
    if os.path.isdir(path):
        latest = latest_checkpoint(path)
        if latest is None:
            raise WeightsError('{}: no checkpoint in this directory'.format(path))
        return latest
    if path.endswith('.index'):
        path = path[:-len('.index')]
    if not os.path.isfile(path + '.index'):
        raise WeightsError('{}: not a checkpoint (no {}.index) nor an .npz file'.format(path, path))
    return path


@contextlib.contextmanager
def _readable(path):
    """Turns what numpy, zipfile and TensorFlow raise on a damaged file into a WeightsError."""
    try:
        yield
    except WeightsError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, tf.errors.OpError) as e:
        reason = (getattr(e, 'message', None) or str(e)).strip() or type(e).__name__
        raise WeightsError('{}: cannot be read as weights ({}); is it damaged or cut short?'.format(
            path, reason.splitlines()[0])) from None


def read_weights(path):
    """name -> array from a TF checkpoint (prefix, .index file or directory) or an .npz."""
    path = resolve_checkpoint(path)
    with _readable(path):
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=False) as f:
                return {k[:-2] if k.endswith(':0') else k: f[k] for k in f.files}
        reader = tf.train.load_checkpoint(path)
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def read_num_classes(path):
    """The class count of a checkpoint or .npz, from its head (linear/b), without loading the rest."""
    path = resolve_checkpoint(path)
    with _readable(path):
        if path.endswith('.npz'):
            with np.load(path, allow_pickle=False) as f:
                key = next((k for k in ('linear/b', 'linear/b:0') if k in f.files), None)
                shape = f[key].shape if key else None
        else:
            shape = tf.train.load_checkpoint(path).get_variable_to_shape_map().get('linear/b')
    if not shape:
        raise WeightsError('{}: no classifier head (linear/b) in it'.format(path))
    return int(shape[0])


class ResumeRestore(SaverRestore):
    """Restores a run from its checkpoint, refusing one of another model: tensorpack's SaverRestore
    only warns about variables it cannot find and trains on with them freshly initialised."""

    def _setup_graph(self):
        with _readable(self.path):
            shapes = tf.train.load_checkpoint(self.path).get_variable_to_shape_map()
        problems = []
        for v in tf.compat.v1.global_variables():
            name, shape = v.op.name, tuple(v.shape.as_list())
            if name not in shapes:
                problems.append('{}: {} in the model, not in the checkpoint'.format(name, shape))
            elif tuple(shapes[name]) != shape:
                problems.append('{}: {} in the checkpoint, {} in the model'.format(name, tuple(shapes[name]), shape))
        if problems:
            raise WeightsError('{} is from another model (architecture or class count) than this run; use the same '
                             'model flags or another --logdir. {} variable(s) differ:\n  {}'.format(
                                 self.path, len(problems), '\n  '.join(problems[:10])))
        super()._setup_graph()


class WeightLoader(SessionInit):
    """Loads model variables from a checkpoint or .npz. ``strict=False`` (initialising a new run)
    skips and lists variables whose shape differs, e.g. a 1,000-class head in a 5,000-class model,
    and those the file lacks; ``strict=True`` (evaluation) fails on either."""

    def __init__(self, path, strict=False, drop=None):
        self.path, self.strict, self.drop = path, strict, drop and re.compile(drop)

    def _run_init(self, sess):
        weights = read_weights(self.path)
        mismatched, missing, loaded = [], [], 0
        for var in model_variables():
            name = var.op.name
            if self.drop and self.drop.match(name):
                logger.info('Dropped {} (left at its initial value)'.format(name))
                continue
            if name not in weights:
                missing.append(name)
                continue
            value, shape = weights[name], tuple(var.shape.as_list())
            if value.shape != shape:
                mismatched.append('{}: {} in {} but {} in the model'.format(name, value.shape, self.path, shape))
                continue
            var.load(value.astype(var.dtype.as_numpy_dtype, copy=False), sess)
            loaded += 1
        if self.strict and (mismatched or missing):
            raise WeightsError('{} does not fit this model (another architecture or class count?):\n  {}'.format(
                self.path, '\n  '.join(mismatched + ['{}: missing from the file'.format(m) for m in missing[:20]])))
        if loaded == 0:
            raise WeightsError('{}: none of the model\'s variables were found in it'.format(self.path))
        for m in mismatched:
            logger.warn('Skipped (shape differs) ' + m)
        for name in missing:
            logger.warn('Not in {}, left at its initial value: {}'.format(self.path, name))
        logger.info('Loaded {} variables from {}'.format(loaded, self.path))
