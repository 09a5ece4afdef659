# -*- coding: utf-8 -*-
# File: webvision/model/contract.py (the original benchmark's imagenet_utils.py)
"""The model contract, as in tensorpack's ImageNetModels: ImageNetModel holds the input (uint8 BGR
NHWC images, int32 labels), normalisation, colour augmentation, loss, metrics and weight decay;
a variant only builds logits (webvision.model.resnet). Also the reference augmentors of fb.resnet.torch.

Tensor names (webvision.core.constants) are the contract with predictors and exports: input, label, logits,
prob, top5, top5-prob, wrong-top1, wrong-top5.
"""
import functools
from abc import abstractmethod

import cv2
import numpy as np

import webvision.runtime.tfcompat  # noqa: F401  (before TensorFlow)
import tensorflow as tf
from tensorpack import ModelDesc
from tensorpack.dataflow import imgaug
from tensorpack.models import regularize_cost
from tensorpack.tfutils import gradproc, optimizer
from tensorpack.tfutils.common import get_global_step_var
from tensorpack.tfutils.summary import add_moving_summary
from tensorpack.tfutils.tower import get_current_tower_context

from webvision.core.constants import HEAD_PREFIX, IMAGE_MEAN_RGB, IMAGE_STD_RGB, INDEX, INPUT, LABEL, PCA_EIGVAL, PCA_EIGVEC, PROB, SAMPLE_LOSS, TOP5, TOP5_PROB, TRAIN_ERROR, WRONG_TOP
from webvision.model.losses import per_sample_loss, soft_targets
from webvision.model.mixing import mix
from webvision.model.recipe import Recipe


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


def batch_color_augment(images, jitter=0.4, lighting=0.1):
    """fb.resnet.torch's colour augmentation on a float BGR batch in [0, 255], per image and in a
    random order per image: brightness and contrast x U(1 - jitter, 1 + jitter), saturation
    1 + U(-jitter, jitter), PCA lighting with std ``lighting``; then clipped to [0, 255]. A strength
    of 0 leaves its operations out. In the loaders it cost 3.9 of 5.3 ms per image."""
    with tf.name_scope('color_augment'):
        n = tf.shape(images)[0]
        draw = functools.partial(tf.random.uniform, [n, 1, 1, 1], minval=1 - jitter, maxval=1 + jitter)
        gray_w = tf.constant([0.114, 0.587, 0.299])     # BGR, as cv2.COLOR_BGR2GRAY

        def gray(x):
            return tf.reduce_sum(x * gray_w, axis=-1, keepdims=True)
        ops = []
        if jitter:
            bright, contrast, sat = draw(), draw(), draw()
            ops += [lambda x: x * bright,
                    lambda x: x * contrast + tf.reduce_mean(gray(x), axis=[1, 2, 3], keepdims=True) * (1 - contrast),
                    lambda x: x * sat + gray(x) * (1 - sat)]
        if lighting:
            alpha = tf.random.normal([n, 3], stddev=lighting) * (PCA_EIGVAL[::-1].astype('float32'))
            shift = tf.matmul(alpha, PCA_EIGVEC[::-1, ::-1], transpose_b=True)[:, None, None, :]
            ops.append(lambda x: x + shift)
        order = tf.argsort(tf.random.uniform([n, len(ops)]), axis=1)
        for step in range(len(ops)):
            pick = order[:, step]
            out = images
            for k, op in enumerate(ops):
                out = tf.where(tf.equal(pick, k)[:, None, None, None], op(images), out)
            images = out
        return tf.clip_by_value(images, 0., 255.)


class ImageNetModel(ModelDesc):
    """Holds the input, normalisation, loss, metrics and weight decay; variants build logits.

    Options: ``data_format`` of the convolutions (the input is always NHWC BGR, uint8, or float32 0-255
    with ``float_input``, for a transform whose crop is not rounded: caffe's);
    ``weight_decay`` on every ``.*/W`` (with ``bn_weight_decay`` also on the batch-norm and
    classifier-bias parameters, as a plain PyTorch optimiser over all parameters does); ``recipe`` (webvision.model.recipe.Recipe: label smoothing, mixing, the
    loss, per-image losses); ``trunk_lr_mult``, the learning-rate multiplier of everything but the
    head (fine-tuning); ``color_augment``, batch_color_augment's (jitter, lighting) strengths on
    training batches, or None (the loaders only crop and flip); ``float16_loss_scaling`` (--amp on GPUs)."""
    weight_decay_pattern = '.*/W'
    all_parameters_pattern = '.*/(W|b|gamma|beta)$'
    image_bgr = True        # DataFlows produce BGR (OpenCV)

    def __init__(self, num_classes, data_format='NHWC', image_size=224, *, weight_decay=1e-4, bn_weight_decay=False,
                 recipe=None, trunk_lr_mult=1., color_augment=None, float16_loss_scaling=False, mean_rgb=None,
                 std_rgb=None, float_input=False):
        if data_format not in ('NCHW', 'NHWC'):
            raise ValueError('data_format must be NCHW or NHWC, got {!r}'.format(data_format))
        self.num_classes, self.data_format, self.image_size = num_classes, data_format, image_size
        self.weight_decay, self.recipe, self.trunk_lr_mult = weight_decay, recipe or Recipe(), trunk_lr_mult
        if bn_weight_decay:
            self.weight_decay_pattern = self.all_parameters_pattern
        self.color_augment, self.float16_loss_scaling = color_augment, float16_loss_scaling
        self.input_dtype = tf.float32 if float_input else tf.uint8
        # another normalisation than ImageNet's (0-255 RGB), as converted weights may record one
        self.mean_rgb = IMAGE_MEAN_RGB if mean_rgb is None else np.asarray(mean_rgb, np.float64)
        self.std_rgb = IMAGE_STD_RGB if std_rgb is None else np.asarray(std_rgb, np.float64)

    def inputs(self):
        # uint8 input: 4x less to copy from the loaders than float32.
        specs = [tf.TensorSpec([None, self.image_size, self.image_size, 3], self.input_dtype, INPUT),
                 tf.TensorSpec([None], tf.int32, LABEL)]
        return specs + ([tf.TensorSpec([None], tf.int64, INDEX)] if self.recipe.sample_loss else [])

    def build_graph(self, image, label, index=None):
        training = get_current_tower_context().is_training
        if self.color_augment and any(self.color_augment) and training:
            image = batch_color_augment(tf.cast(image, tf.float32), *self.color_augment)
        image = self.image_preprocess(image)
        if training:
            image, targets, share = self.training_targets(image, label)
        if self.data_format == 'NCHW':
            image = tf.transpose(image, [0, 3, 1, 2])
        logits = tf.identity(self.get_logits(image), name='logits')
        prob = tf.nn.softmax(logits, name=PROB)
        top_prob, top_ids = tf.nn.top_k(prob, k=min(5, self.num_classes))
        tf.identity(top_prob, name=TOP5_PROB)
        tf.identity(top_ids, name=TOP5)

        if training:
            loss = self.training_loss(logits, label, targets, share)
        else:
            loss = self.compute_loss_and_error(logits, label)
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
            mean, std = self.mean_rgb, self.std_rgb
            if self.image_bgr:
                mean, std = mean[::-1], std[::-1]
            return (image - mean.astype('float32')) * (1. / std).astype('float32')

    def training_targets(self, image, label):
        """(images, [N, K] targets, [N] share of each image's own label): smoothed labels, and mixed
        images and labels while the recipe mixes."""
        r = self.recipe
        targets = soft_targets(label, self.num_classes, r.label_smoothing)
        if not r.mixing:
            return image, targets, tf.ones_like(label, tf.float32)
        enabled = tf.constant(True) if r.mix_until_step is None else get_global_step_var() < r.mix_until_step
        return mix(image, targets, mixup=r.mixup, cutmix=r.cutmix, prob=r.mix_prob, per_image=r.mix_per_image,
                   enabled=enabled)

    def training_loss(self, logits, label, targets, share):
        """The recipe's mean loss. Also named: each image's cross-entropy against its own label
        (sample-loss), and the errors against the label with the larger share in each image."""
        r = self.recipe
        per_image = per_sample_loss(r.loss, logits, targets, **r.loss_options)
        loss = tf.reduce_mean(per_image, name='xentropy-loss' if r.loss == 'ce' else r.loss + '-loss')
        own = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=tf.cast(logits, tf.float32), labels=label)
        tf.identity(own, name=SAMPLE_LOSS)
        self.add_errors(logits, tf.where(share >= 0.5, label, tf.reverse(label, [0])))
        return loss

    @classmethod
    def compute_loss_and_error(cls, logits, label):
        """The mean cross-entropy; adds wrong-top1/5 per image and their moving averages."""
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(logits=logits, labels=label)
        loss = tf.reduce_mean(loss, name='xentropy-loss')
        cls.add_errors(logits, label)
        return loss

    @staticmethod
    def add_errors(logits, label):
        """wrong-top1/5 per image and their moving averages, train-error-top1/5."""
        for k in (1, 5):
            wrong = tf.cast(tf.logical_not(tf.nn.in_top_k(predictions=logits, targets=label, k=k)),
                            tf.float32, name=WRONG_TOP.format(k))
            add_moving_summary(tf.reduce_mean(wrong, name=TRAIN_ERROR.format(k)))
