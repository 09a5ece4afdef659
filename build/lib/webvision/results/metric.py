"""The WebVision challenge metric: top-1/top-5 error over images and averaged over classes."""
import numpy as np


def per_class_errors(wrong, labels, num_classes):
    """(image count per class, error per class with NaN for classes without images)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    wrong_sum = np.bincount(labels, weights=np.asarray(wrong, dtype=np.float64), minlength=num_classes)
    with np.errstate(invalid='ignore', divide='ignore'):
        return counts, np.where(counts > 0, wrong_sum / np.maximum(counts, 1), np.nan)


def error_rates(wrong1, wrong5, labels, num_classes):
    """Top-1/top-5 error over images, and the challenge's class-balanced versions: per class, the
    fraction of its images that are wrong, then the mean over the classes that have images. Keys
    are webvision.core.constants.ERROR_NAMES."""
    out = {}
    for k, wrong in (('1', wrong1), ('5', wrong5)):
        wrong = np.asarray(wrong, dtype=np.float64)
        counts, per_class = per_class_errors(wrong, labels, num_classes)
        out['Top' + k] = float(wrong.mean()) if len(wrong) else float('nan')
        out['Balanced Top' + k] = float(per_class[counts > 0].mean()) if (counts > 0).any() else float('nan')
    return out


def wrong_from_topk(topk, labels):
    """Whether the label is missing from the first 1 and the first 5 predictions of each row.
    Rows are taken in the order given: ties in score are broken by the file, never re-sorted."""
    topk, labels = np.asarray(topk), np.asarray(labels)[:, None]
    return topk[:, 0] != labels[:, 0], ~(topk[:, :5] == labels).any(axis=1)
