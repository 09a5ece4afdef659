"""The learning rate as a pure function of the global step (TensorFlow-free: benchmarks and peers
use the same one); webvision.train.schedule sets it in a run."""
import math


def learning_rate_at(step, base_lr, steps_per_epoch, epochs, warmup_epochs=3., warmup_lr=0.,
                     decay_at=(30 / 110, 60 / 110, 90 / 110), kind='step'):
    """The learning rate before step ``step``: a linear warm-up from ``warmup_lr`` over
    ``warmup_epochs`` when ``warmup_lr`` is below ``base_lr`` (Goyal et al.; the original warmed up
    from 0.1, and only when ``base_lr`` exceeded it: ``warmup_lr`` 0.1), then 10x drops at fixed
    fractions of the run (``kind`` step) or half a cosine from ``base_lr`` to zero at the last step
    (cosine, Loshchilov & Hutter's SGDR without restarts). A pure function of the step, so a
    resumed run continues the same schedule."""
    epoch = step / float(steps_per_epoch)
    warmup = warmup_epochs if warmup_lr < base_lr else 0.
    if epoch < warmup:
        return warmup_lr + (base_lr - warmup_lr) * epoch / warmup
    if kind == 'cosine':
        done = (epoch - warmup) / max(epochs - warmup, 1e-9)
        return base_lr * 0.5 * (1. + math.cos(math.pi * min(done, 1.)))
    drops = sum(step >= int(round(f * epochs)) * steps_per_epoch for f in decay_at)
    return base_lr * 0.1 ** drops
