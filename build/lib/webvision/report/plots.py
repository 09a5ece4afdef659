"""Figures (matplotlib, Agg): a run's training curves, and scatter plots of per-class values. Each
returns a Figure; the caller saves it (utils/plot_log.py to a PNG, webvision/report/report.py inline)."""
import base64
import io

import numpy as np

from webvision.results.stats import LEARNING_RATE, TRAIN_ERRORS, VAL_ERRORS, series

LABELS = ['train top-1', 'train top-5', 'val top-1', 'val top-5', 'val balanced top-1', 'val balanced top-5']
STYLES = ['C0--', 'C1--', 'C0-', 'C1-', 'C2-', 'C3-']
CURVES = list(zip(TRAIN_ERRORS + VAL_ERRORS, LABELS, STYLES))    # (stats.json key, label, style)


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def curves_figure(stats, title):
    """Train and val top-1/top-5 error (plain and balanced) and the learning rate against epoch;
    ValueError when the stats have none of the curves."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    drawn = 0
    for key, label, style in CURVES:
        x, y = series(stats, key)
        if x:
            ax.plot(x, y, style, marker='.', label=label)
            drawn += 1
    if not drawn:
        plt.close(fig)
        raise ValueError('stats.json has none of {}'.format(', '.join(k for k, _, _ in CURVES)))
    ax.set_xlabel('epoch')
    ax.set_ylabel('error')
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    x, lr = series(stats, LEARNING_RATE)
    if x:
        ax2 = ax.twinx()
        ax2.plot(x, lr, 'k:', label='learning rate')
        ax2.set_yscale('log')
        ax2.set_ylabel('learning rate')
        ax2.legend(loc='upper center', fontsize='small')
    ax.legend(loc='upper right', fontsize='small')
    ax.set_title(title)
    fig.tight_layout()
    return fig


def scatter_figure(x, y, xlabel, ylabel, title, log_x=False):
    """Per-class points (NaN dropped), with the mean of y in 10 bins of x drawn over them."""
    plt = _pyplot()
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    keep = np.isfinite(x) & np.isfinite(y) & ((x > 0) if log_x else True)
    x, y = x[keep], y[keep]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=90)
    ax.scatter(x, y, s=6, alpha=0.35, linewidths=0)
    if len(x) >= 10 and x.max() > x.min():
        edges = np.geomspace(x.min(), x.max(), 11) if log_x else np.linspace(x.min(), x.max(), 11)
        which = np.clip(np.searchsorted(edges, x, side='right') - 1, 0, 9)
        means = [y[which == b].mean() if (which == b).any() else np.nan for b in range(10)]
        ax.plot((edges[:-1] + edges[1:]) / 2, means, 'C3-', marker='o', label='mean per bin')
        ax.legend(fontsize='small')
    if log_x:
        ax.set_xscale('log')
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def reliability_figure(centres, accuracy, confidence, counts, ece):
    """Accuracy against confidence per bin of top-1 probability, and the images per bin."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=90)
    ax.bar(centres, accuracy, width=0.09, alpha=0.6, label='accuracy')
    ax.plot(confidence, accuracy, 'C1o', label='at the mean confidence')
    ax.plot([0, 1], [0, 1], 'k:', label='calibrated')
    for x, n in zip(centres, counts):
        if n:
            ax.annotate('{:,}'.format(int(n)), (x, 0.02), ha='center', fontsize=7, rotation=90)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel('top-1 probability')
    ax.set_ylabel('top-1 accuracy')
    ax.set_title('calibration: expected calibration error {:.2f} %'.format(100 * ece))
    ax.legend(fontsize='small', loc='upper left')
    fig.tight_layout()
    return fig


def png_data_uri(fig):
    """The figure as an inline PNG (data URI), and closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format='png')
    close(fig)
    return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode('ascii')


def close(fig):
    _pyplot().close(fig)
