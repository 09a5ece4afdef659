"""The analysis report of a model's predictions on a labelled list: one self-contained HTML page.

Nothing in it is fetched: the figures are inline PNGs, the thumbnails inline JPEGs, the class table
is JSON in the page, and its sorting and filtering is a small script written here. Every text that
comes from a file (names, paths, flags) is escaped. The page's script marks the body with
``data-ready`` (the number of table rows) once it ran, and ``data-errors`` if any script failed,
so that a browser test can check both.
"""
import base64
import dataclasses
import glob
import html
import json
import os
import re

import cv2
import numpy as np

from webvision.core.constants import ERROR_NAMES
from webvision.data.decode import decode_image
from webvision.core import config
from webvision.core.fileio import open_input
from webvision.results.metric import error_rates, per_class_errors, wrong_from_topk
from webvision.results.probs import check_rows

ARGV = re.compile(rb'@logger\.py:\d+\] Argv: (.*)')
MAX_ARGV_CHARS = 4000


@dataclasses.dataclass(frozen=True)
class Limits:
    """How much of the page goes to thumbnails: the worst ``classes`` classes, up to ``per_class``
    misclassified images each, ``size`` pixels on the longer side, ``max_bytes`` in all."""
    classes: int = 60
    per_class: int = 6
    size: int = 112
    max_bytes: int = 20 << 20
    pairs: int = 40


def class_rows(labels, top5, num_classes, synsets, words, train_counts=None, noise=None):
    """(errors dict, per-class rows [id, synset, name, val images, train images, top-1 error,
    top-5 error, estimated noise], None where unknown)."""
    wrong1, wrong5 = wrong_from_topk(top5, labels)
    counts, e1 = per_class_errors(wrong1, labels, num_classes)
    _, e5 = per_class_errors(wrong5, labels, num_classes)

    def value(array, c, digits=4):
        if array is None or not np.isfinite(array[c]):
            return None
        return round(float(array[c]), digits)
    rows = [[c, synsets[c] if c < len(synsets) else '', words.get(synsets[c], '') if c < len(synsets) else '',
             int(counts[c]), None if train_counts is None else int(train_counts[c]),
             value(e1, c), value(e5, c), value(noise, c)] for c in range(num_classes)]
    return error_rates(wrong1, wrong5, labels, num_classes), rows, counts, e1


def confused_pairs(labels, top1, num_classes, k):
    """The ``k`` most frequent (true class, predicted class, images) among wrong top-1 predictions."""
    wrong = top1 != labels
    pairs = labels[wrong].astype(np.int64) * num_classes + top1[wrong].astype(np.int64)
    ids, n = np.unique(pairs, return_counts=True)
    order = np.lexsort((ids, -n))[:k]
    return [(int(ids[i] // num_classes), int(ids[i] % num_classes), int(n[i])) for i in order]


def confidence(probs_file, labels, block=2048):
    """(top-1 probability, whether the top-1 class is the label) per row of a probability matrix
    (webvision.results.probs.ProbsFile), read block by block."""
    conf, right = np.empty(len(labels), np.float32), np.empty(len(labels), bool)
    for start in range(0, len(labels), block):
        rows = probs_file.rows(start, min(start + block, len(labels)))
        check_rows(rows, probs_file.path, start)
        conf[start:start + len(rows)] = rows.max(axis=1)
        right[start:start + len(rows)] = rows.argmax(axis=1) == labels[start:start + len(rows)]
    return conf, right


def reliability(conf, right, bins=10):
    """(bin centres, accuracy per bin, mean confidence per bin, images per bin, expected calibration
    error): the images binned by top-1 probability in ``bins`` equal-width bins."""
    which = np.clip((conf * bins).astype(np.int64), 0, bins - 1)
    n = np.bincount(which, minlength=bins)
    with np.errstate(invalid='ignore', divide='ignore'):
        acc = np.bincount(which, weights=right, minlength=bins) / n
        mean = np.bincount(which, weights=conf, minlength=bins) / n
    ece = float(np.nansum(n * np.abs(acc - mean)) / max(n.sum(), 1))
    return (np.arange(bins) + 0.5) / bins, acc, mean, n, ece


def worst_classes(counts, err1, k):
    """The ``k`` classes with a top-1 error above 0, highest first (more images first on ties)."""
    have = np.flatnonzero((counts > 0) & (np.nan_to_num(err1) > 0))
    order = np.lexsort((have, -counts[have], -err1[have]))
    return have[order][:k].tolist()


def thumbnail(path, size):
    """A JPEG data URI of the image at ``path``, ``size`` pixels on its longer side, or None when it
    cannot be read (webvision.data.decode's checks: regular files only, bounded size and pixels)."""
    im, _ = decode_image(path)
    if im is None:
        return None
    scale = size / float(max(im.shape[:2]))
    if scale < 1:
        im = cv2.resize(im, (max(int(im.shape[1] * scale), 1), max(int(im.shape[0] * scale), 1)),
                        interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode('.jpg', im, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return 'data:image/jpeg;base64,' + base64.b64encode(buf.tobytes()).decode('ascii') if ok else None


def inside(image_dir, name):
    """The path of a listed image, or None for a name that would leave ``image_dir``."""
    if os.path.isabs(name) or '..' in name.replace('\\', '/').split('/'):
        return None
    return os.path.join(image_dir, name)


def thumbnails(names, labels, top1, classes, image_dir, limits):
    """({class: [(data URI, file name, predicted class)]}, images that could not be shown, whether the
    byte budget ran out) for the misclassified images of ``classes``, worst class first."""
    out, total, unreadable = {}, 0, 0
    for c in classes:
        for i in np.flatnonzero((labels == c) & (top1 != c))[:limits.per_class]:
            path = inside(image_dir, names[i])
            uri = path and thumbnail(path, limits.size)
            if uri is None:
                unreadable += 1
                continue
            if total + len(uri) > limits.max_bytes:
                return out, unreadable, True
            total += len(uri)
            out.setdefault(c, []).append((uri, names[i], int(top1[i])))
    return out, unreadable, False


def run_settings(logdir):
    """The run's settings from LOGDIR/config.yaml as "key: value, ..." (unset and false ones left out),
    or None for a run made before config.yaml existed."""
    path = os.path.join(logdir, config.FILE_NAME)
    if not os.path.lexists(path):
        return None
    values = config.read_config(path)
    return ', '.join('{}: {}'.format(k, v) for k, v in sorted(values.items(), key=str)
                     if v is not None and v is not False)[:MAX_ARGV_CHARS]


def run_argv(logdir):
    """The command line of the run's latest start, from tensorpack's LOGDIR/log.log, or None."""
    path, argv = os.path.join(logdir, 'log.log'), None
    if not os.path.isfile(path):
        return None
    with open_input(path) as f:
        for line in f:
            m = ARGV.search(line)
            if m:
                argv = m.group(1).decode('utf-8', 'replace').strip()[:MAX_ARGV_CHARS]
    return argv


def newest_checkpoint(logdir):
    steps = [int(m.group(1)) for m in (re.search(r'model-(\d+)\.index$', p)
                                      for p in glob.glob(os.path.join(logdir, 'model-*.index'))) if m]
    return 'model-{}'.format(max(steps)) if steps else None


def _e(text):
    return html.escape(str(text), quote=True)


def _pct(v):
    return '' if v is None or not np.isfinite(v) else '{:.2f} %'.format(100 * v)


def render(title, about, errors, rows, pairs, thumbs, thumb_note, figures):
    """The page. ``about``: [(label, text)]; ``pairs``: confused_pairs; ``thumbs``: thumbnails();
    ``figures``: [(caption, data URI)]."""
    name = {r[0]: '{} {}'.format(r[1], r[2]).strip() or 'class {}'.format(r[0]) for r in rows}
    head = ''.join('<tr><th>{}</th><td>{}</td></tr>'.format(_e(k), _e(v)) for k, v in about)
    errs = ''.join('<tr><th>{}</th><td>{}</td></tr>'.format(_e(k + ' error'), _pct(errors[k])) for k in ERROR_NAMES)
    figs = ''.join('<figure><img alt="{0}" src="{1}"><figcaption>{0}</figcaption></figure>'.format(_e(c), u)
                   for c, u in figures)
    pair_rows = ''.join('<tr><td>{}</td><td>{}</td><td>{}</td></tr>'.format(_e(name[t]), _e(name[p]), n)
                        for t, p, n in pairs)
    blocks = []
    for c, items in thumbs.items():
        cells = ''.join('<figure class="t"><img alt="{1}" src="{0}"><figcaption>{1}<br>as {2}</figcaption></figure>'
                        .format(u, _e(f), _e(name[p])) for u, f, p in items)
        blocks.append('<h3>{} <small>(top-1 error {})</small></h3><div class="ts">{}</div>'.format(
            _e(name[c]), _pct(rows[c][5]), cells))
    # no '<' at all in the script element: neither '</script>' nor '<!--' can end or change it
    data = json.dumps(rows, ensure_ascii=True, allow_nan=False).replace('<', '\\u003c').replace('>', '\\u003e')
    return PAGE.format(title=_e(title), head=head, errs=errs, figs=figs or '<p>No figures.</p>',
                       pairs=pair_rows, thumbs=''.join(blocks) or '<p>No misclassified images to show.</p>',
                       thumb_note=_e(thumb_note), data=data, script=SCRIPT)


SCRIPT = r'''
window.onerror = function (msg) {
  document.body.dataset.errors = (document.body.dataset.errors || '') + msg + '\n';
};
(function () {
  var rows = JSON.parse(document.getElementById('classes').textContent);
  var body = document.querySelector('#table tbody'), key = 5, down = true;
  var filter = document.getElementById('filter'), minimum = document.getElementById('min');
  function fmt(v, i) {
    if (v === null) return '';
    return (i >= 5) ? (100 * v).toFixed(2) + ' %' : String(v);
  }
  function draw() {
    var text = filter.value.toLowerCase(), least = Number(minimum.value) || 0;
    var shown = rows.filter(function (r) {
      return r[3] >= least && (!text || (r[0] + ' ' + r[1] + ' ' + r[2]).toLowerCase().indexOf(text) >= 0);
    });
    shown.sort(function (a, b) {
      var x = a[key], y = b[key];
      if (x === y) return a[0] - b[0];
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (down ? -1 : 1);
    });
    var out = [];
    for (var i = 0; i < shown.length; i++) {
      var cells = [];
      for (var j = 0; j < 8; j++) {
        var td = document.createElement('td');
        td.textContent = fmt(shown[i][j], j);
        cells.push(td.outerHTML);
      }
      out.push('<tr class="cls">' + cells.join('') + '</tr>');
    }
    body.innerHTML = out.join('');
    document.getElementById('count').textContent = shown.length + ' of ' + rows.length + ' classes';
    document.body.dataset.ready = String(shown.length);
  }
  var heads = document.querySelectorAll('#table th');
  for (var h = 0; h < heads.length; h++) {
    heads[h].addEventListener('click', (function (k) {
      return function () { down = (key === k) ? !down : k >= 3; key = k; draw(); };
    })(h));
  }
  filter.addEventListener('input', draw);
  minimum.addEventListener('input', draw);
  draw();
})();
'''

PAGE = '''<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: left; }}
#table th {{ cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }}
.scroll {{ max-height: 32em; overflow: auto; border: 1px solid #ccc; }}
figure {{ display: inline-block; margin: 0 1em 1em 0; }} .ts {{ display: flex; flex-wrap: wrap; }}
figure.t {{ width: 130px; font-size: 11px; word-break: break-all; }} small {{ color: #666; font-weight: normal; }}
</style></head>
<body>
<h1>{title}</h1>
<table>{head}</table>
<h2>Errors</h2><table>{errs}</table>
<h2>Figures</h2>{figs}
<h2>Classes</h2>
<p><input id="filter" placeholder="filter: id, synset or name"> at least <input id="min" type="number" value="0"
 min="0" style="width:5em"> val images. <span id="count"></span>. Click a column to sort.</p>
<div class="scroll"><table id="table"><thead><tr><th>class</th><th>synset</th><th>name</th><th>val images</th>
<th>train images</th><th>top-1 error</th><th>top-5 error</th><th>estimated noise</th></tr></thead>
<tbody></tbody></table></div>
<h2>Most confused pairs (true class, predicted top-1)</h2>
<table><tr><th>true</th><th>predicted</th><th>images</th></tr>{pairs}</table>
<h2>Misclassified images of the worst classes</h2><p>{thumb_note}</p>{thumbs}
<script type="application/json" id="classes">{data}</script>
<script>{script}</script>
</body></html>
'''
