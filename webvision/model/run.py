"""One run's settings, resolved once from the flags and frozen, and what is built from them the same
way for training, evaluation, prediction and export: the model, the image decoder, the session."""
import argparse
import dataclasses

import numpy as np

from webvision.data import transform as tr
from webvision.data.augment import color_strengths
from webvision.data.decode import decoder
from webvision.model.init import init_options
from webvision.model.recipe import recipe_from_args
from webvision.model.resnet import ResNetModel
from webvision.runtime.session import session_creator as new_session_creator


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything a run needs, computed once from the flags (nothing changes it afterwards);
    webvision.commands.train.make_run makes it."""
    args: argparse.Namespace        # the flags as given, for the settings used as they are
    towers: int
    cluster: object                 # webvision.train.cluster.Cluster, or None on one machine
    data: str | None                # the prepared root; the demo set when --data is not given
    logdir: str | None
    data_format: str
    on_gpu: bool
    per_tower: int
    global_batch: int
    steps_per_epoch: int
    base_lr: float
    workers: int
    load: str | None                # --load resolved to a checkpoint prefix or .npz
    transform: object               # webvision.data.transform.Transform of evaluation images (.at_size(image size))

    @property
    def is_chief(self):
        return self.cluster is None or self.cluster.is_chief

    @property
    def shard(self):
        """(this worker, workers) of a multi-machine run, else None."""
        return (self.cluster.task_index, self.cluster.size) if self.cluster else None


def make_model(run, num_classes):
    a = run.args
    return ResNetModel(a.depth, a.mode, num_classes=num_classes, group_width=a.group_width, padding=a.padding,
                       data_format=run.data_format, image_size=a.image_size, trunk_lr_mult=a.trunk_lr_mult,
                       color_augment=None if a.fake else color_strengths(a),   # the loaders only crop and flip
                       float16_loss_scaling=a.amp and run.on_gpu, recipe=recipe_from_args(a, run.steps_per_epoch),
                       float_input=bool(run.transform and run.transform.float_input),
                       **init_options(a), **normalisation(run.transform))


def normalisation(t):
    """The graph's mean and std (0-255 RGB) for a transform recording another one than ImageNet's
    (a timm model trained with 0.5, say); none for ImageNet's, whose constants the graph keeps."""
    if t is None or tr.is_imagenet(t):
        return {}
    return dict(mean_rgb=np.asarray(t.mean) * 255., std_rgb=np.asarray(t.std) * 255.)


def session_creator(run):
    a = run.args
    return new_session_creator(a.threads, run.on_gpu, a.amp, a.xla, run.cluster)


def image_decoder(run, is_train):
    a = run.args
    return decoder(is_train, a.image_size, max_pixels=a.max_image_pixels, tta=a.tta, transform=run.transform,
                   crop_area=a.crop_area, hflip=a.hflip)
