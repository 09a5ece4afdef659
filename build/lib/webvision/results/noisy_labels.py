"""Splitting a noisy training list by per-image losses, with DivideMix's criterion (Li et al. 2020):
the losses, normalised to [0, 1], are fitted with a two-component Gaussian mixture, and an image is
likely clean when the component of the smaller mean explains it with probability above a threshold.
Fitted once over all images (DivideMix), or per class (classes differ in how hard they are)."""
import warnings

import numpy as np

BY = ('global', 'class')


def clean_probability(losses):
    """Per loss (no NaN), the probability of the low-loss component of a two-component GMM fitted
    as DivideMix does (max_iter 10, tol 1e-2, reg_covar 5e-4) on the losses scaled to [0, 1]."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    losses = np.asarray(losses, np.float64)
    span = losses.max() - losses.min() if len(losses) else 0.
    if len(losses) < 2 or not span > 0:
        return np.ones(len(losses))         # nothing to tell apart
    x = ((losses - losses.min()) / span).reshape(-1, 1).astype(np.float64)
    gmm = GaussianMixture(n_components=2, max_iter=10, tol=1e-2, reg_covar=5e-4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', ConvergenceWarning)
        gmm.fit(x)
    return gmm.predict_proba(x)[:, int(gmm.means_.argmin())]


def split(losses, labels, num_classes, by='global', threshold=0.5, min_images=10):
    """(clean: bool per image, probability of clean per image: NaN where the loss is NaN, i.e. not seen).
    An infinite loss is the noisiest there is: probability 0, and the mixture is fitted on the
    finite ones. ``by`` class fits a mixture per class with at least ``min_images`` seen images;
    the others take the global fit's verdict."""
    if by not in BY:
        raise ValueError('by {!r} is not one of {}'.format(by, ', '.join(BY)))
    losses = np.asarray(losses, np.float64)
    finite = np.isfinite(losses)
    prob = np.where(np.isnan(losses), np.nan, 0.)
    if finite.any():
        prob[finite] = clean_probability(losses[finite])
    if by == 'class':
        for c in range(num_classes):
            members = finite & (labels == c)
            if members.sum() >= min_images:
                prob[members] = clean_probability(losses[members])
    return ~np.isnan(losses) & (prob > threshold), prob


def noise_report(clean, seen, labels, num_classes):
    """Per class: (images, seen, likely clean, estimated noise = 1 - clean / seen or NaN)."""
    images = np.bincount(labels, minlength=num_classes)
    seen_n = np.bincount(labels[seen], minlength=num_classes)
    clean_n = np.bincount(labels[clean], minlength=num_classes)
    with np.errstate(invalid='ignore', divide='ignore'):
        noise = np.where(seen_n > 0, 1. - clean_n / np.maximum(seen_n, 1), np.nan)
    return images, seen_n, clean_n, noise
