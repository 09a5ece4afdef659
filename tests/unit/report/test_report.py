"""utils/report.py and webvision/report/report.py: the numbers on the page, its bounds and escaping, and the page
in a real browser (headless Chromium, installed where it can be, else the test says why it skips)."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from helpers.images import encode, photo
from webvision.report import report
from webvision.results.predictions import write_predictions
from webvision.results.sample_loss import epoch_path, write_losses

REPORT = os.path.join(ROOT, 'utils', 'report.py')


def make_root(tmp_path, num_classes=6, per_class=5, hostile_name=False):
    """A root of real photo crops: val images per class, a train list of uneven classes."""
    root = tmp_path / 'root'
    for d in ('meta', 'val'):
        (root / d).mkdir(parents=True)
    synsets = ['n{:08d}'.format(c) for c in range(num_classes)]
    (root / 'meta' / 'synsets.txt').write_text('\n'.join(synsets) + '\n')
    words = ['{} thing {}'.format(s, c) for c, s in enumerate(synsets)]
    if hostile_name:
        words[1] = '{} <script>document.body.dataset.errors="injected"</script></script>'.format(synsets[1])
    (root / 'meta' / 'synset_words.txt').write_text('\n'.join(words) + '\n')
    val = []
    for c in range(num_classes):
        for i in range(per_class):
            name = 'v{}_{}.jpg'.format(c, i)
            (root / 'val' / name).write_bytes(encode(photo(c + i, (60, 90))))
            val.append('{} {}'.format(name, c))
    (root / 'meta' / 'val.txt').write_text('\n'.join(val) + '\n')
    train = ['t{}_{}.jpg {}'.format(c, i, c) for c in range(num_classes) for i in range(3 + 4 * c)]
    (root / 'meta' / 'train.txt').write_text('\n'.join(train) + '\n')
    return root, [v.split()[0] for v in val], np.array([int(v.split()[1]) for v in val])


def predict(names, labels, num_classes, tmp_path, seed=0):
    """Predictions right for 60 % of the images, else the next class first."""
    rng = np.random.RandomState(seed)
    top1 = np.where(rng.rand(len(labels)) < 0.6, labels, (labels + 1) % num_classes)
    top5 = np.stack([(top1 + k) % num_classes for k in (0, -1, 1, 2, 3)], axis=1)     # the label in the top 5
    prob = np.tile([0.5, 0.2, 0.1, 0.1, 0.1], (len(labels), 1))
    path = str(tmp_path / 'pred.json')
    write_predictions(path, names, labels, top5, prob)
    return path, top1


def run_report(*args):
    return subprocess.run([sys.executable, REPORT] + [str(a) for a in args], capture_output=True, text=True)


def page_data(html):
    """The class table's rows, as the page's script reads them."""
    data = re.search(r'<script type="application/json" id="classes">(.*?)</script>', html, re.S).group(1)
    return json.loads(data)


def test_the_table_has_one_row_per_class_with_the_scorers_numbers(tmp_path):
    root, names, labels = make_root(tmp_path)
    pred, top1 = predict(names, labels, 6, tmp_path)
    out = tmp_path / 'r' / 'report.html'
    out.parent.mkdir()
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--out', out)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text()
    rows = page_data(html)
    assert [r[0] for r in rows] == list(range(6)) and rows[2][1:3] == ['n00000002', 'thing 2']
    for c in range(6):
        wrong = top1[labels == c] != c
        assert rows[c][3] == 5 and rows[c][4] == 3 + 4 * c                     # val and train images
        assert rows[c][5] == pytest.approx(wrong.mean(), abs=1e-4) and rows[c][6] == 0.0
    assert '{:.2f} %'.format(100 * (top1 != labels).mean()) in html           # Top1 error
    # the most confused pair: each wrong image went to the next class
    pairs = report.confused_pairs(labels, top1, 6, 3)
    counts = [int(((labels == c) & (top1 != c)).sum()) for c in range(6)]
    assert pairs[0][2] == max(counts) and pairs[0][1] == (pairs[0][0] + 1) % 6
    assert html.count('<figure class="t">') == min(sum(counts), 6 * 6)         # thumbnails of the wrong ones
    assert 'http://' not in html and 'https://' not in html and "default-src 'none'" in html


def test_thumbnails_stay_within_the_budget_and_the_image_folder(tmp_path):
    root, names, labels = make_root(tmp_path)
    _, top1 = predict(names, labels, 6, tmp_path)
    one = len(report.thumbnail(str(root / 'val' / names[0]), 64))
    limits = report.Limits(classes=6, per_class=6, size=64, max_bytes=int(2.5 * one))
    thumbs, unreadable, full = report.thumbnails(names, labels, top1, list(range(6)), str(root / 'val'), limits)
    assert full and 1 <= sum(len(v) for v in thumbs.values()) <= 2 and unreadable == 0
    hostile = ['../../etc/passwd', '/etc/hostname'] + names[2:]
    labels2, top2 = labels.copy(), top1.copy()
    labels2[:2], top2[:2] = 0, 1                                               # both "misclassified"
    thumbs, unreadable, _ = report.thumbnails(hostile, labels2, top2, [0], str(root / 'val'), report.Limits())
    assert unreadable == 2 and all(f not in hostile[:2] for _, f, _ in thumbs.get(0, []))


def test_names_from_files_are_escaped_and_cannot_close_the_script(tmp_path):
    root, names, labels = make_root(tmp_path, hostile_name=True)
    pred, _ = predict(names, labels, 6, tmp_path)
    out = tmp_path / 'report.html'
    assert run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--out', out).returncode == 0
    html = out.read_text()
    assert '<script>document.body' not in html and html.count('</script>') == 2
    assert page_data(html)[1][2].startswith('<script>document.body.dataset.errors="injected"</script>')


def test_bad_inputs_are_one_line_errors(tmp_path):
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--out', tmp_path / 'no' / 'r.html')
    assert proc.returncode == 1 and 'error: --out' in proc.stderr and 'does not exist' in proc.stderr
    (tmp_path / 'bad.json').write_text('{"file": 3')
    proc = run_report('--predictions', tmp_path / 'bad.json', '--labels', root / 'meta' / 'val.txt',
                      '--out', tmp_path / 'r.html')
    assert proc.returncode == 1 and 'bad.json' in proc.stderr and 'Traceback' not in proc.stderr
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--out', tmp_path / 'r.html',
                      '--logdir', tmp_path / 'nothere')
    assert proc.returncode == 1 and 'no such folder' in proc.stderr
    assert not (tmp_path / 'r.html').exists()


def make_run(tmp_path, train_count):
    """A run folder as the driver leaves it: stats.json, log.log, a checkpoint, sample-loss files."""
    run = tmp_path / 'run'
    run.mkdir()
    stats = [{'epoch_num': e, 'train-error-top1': 0.9 - 0.1 * e, 'val-error-top1': 0.8 - 0.1 * e,
              'learning_rate': 0.1} for e in range(1, 4)]
    (run / 'stats.json').write_text(json.dumps(stats))
    (run / 'log.log').write_text('[1127 17:51:44 @logger.py:92] Argv: imagenet-resnet.py -d 18 --sample-loss\n'
                                 '[1127 18:51:44 @logger.py:92] Argv: imagenet-resnet.py -d 18 --sample-loss --lr <b>\n')
    (run / 'model-40.index').write_bytes(b'')
    (run / 'model-120.index').write_bytes(b'')
    rng = np.random.RandomState(0)
    write_losses(epoch_path(str(run), 2), rng.rand(train_count))
    write_losses(epoch_path(str(run), 3), np.concatenate([rng.rand(train_count // 2) * 0.1,
                                                          3 + rng.rand(train_count - train_count // 2)]))
    return run


def test_with_a_run_the_page_has_its_curves_command_checkpoint_and_noise(tmp_path):
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    train_count = sum(3 + 4 * c for c in range(6))
    run = make_run(tmp_path, train_count)
    out = tmp_path / 'report.html'
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--logdir', run, '--out', out)
    assert proc.returncode == 0 and '3 figures' in proc.stdout, proc.stderr
    html = out.read_text()
    assert 'imagenet-resnet.py -d 18 --sample-loss --lr &lt;b&gt;' in html and 'model-120' in html
    assert 'estimated label noise per class (epoch 3)' in html
    (run / 'config.yaml').write_text('depth: 18\nsample_loss: true\nlr: 0.1\nlogdir: <i>run</i>\nno_val: false\n')
    assert run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--logdir', run,
                      '--out', out).returncode == 0
    settings = out.read_text()
    assert 'depth: 18, logdir: &lt;i&gt;run&lt;/i&gt;, lr: 0.1, sample_loss: True' in settings    # the settings, escaped
    assert 'Argv' not in settings and 'no_val' not in settings
    noise = [r[7] for r in page_data(html)]
    # epoch 3: the first half of the list (classes 0..3) low losses, the rest high: noisy
    assert noise[0] == 0.0 and noise[5] == 1.0 and all(0 <= n <= 1 for n in noise)


def chromium():
    """The chromium binary, installed with apt-get where possible; pytest.skip saying why not."""
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found:
        return found
    if not shutil.which('apt-get') or os.geteuid() != 0:
        pytest.skip('headless Chromium is not installed and cannot be (needs apt-get as root): '
                    'apt-get install chromium to run this test')
    for cmd in (['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', 'chromium']):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
        if proc.returncode != 0:
            pytest.skip('could not install chromium ({}): {}'.format(' '.join(cmd), proc.stderr[-300:]))
    return shutil.which('chromium')


@pytest.mark.e2e       # a browser in fresh processes, perhaps installed first
def test_the_page_renders_in_a_real_browser_without_script_errors(tmp_path):
    browser = chromium()
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    run = make_run(tmp_path, sum(3 + 4 * c for c in range(6)))
    out, shot = tmp_path / 'report.html', tmp_path / 'report.png'
    assert run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--logdir', run,
                      '--out', out).returncode == 0
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--enable-logging=stderr',
             '--v=0', '--host-resolver-rules=MAP * ~NOTFOUND', '--virtual-time-budget=5000']
    dom = subprocess.run([browser] + flags + ['--dump-dom', out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'<body[^>]* data-ready="6"', dom.stdout), dom.stdout[:500]         # the script ran
    assert 'data-errors' not in dom.stdout
    tbody = re.search(r'<table id="table">.*?<tbody>(.*?)</tbody>', dom.stdout, re.S).group(1)   # the script's rows
    assert tbody.count('<tr class="cls">') == 6 and 'n00000005' in tbody
    console = [line for line in dom.stderr.splitlines() if 'CONSOLE' in line or 'Uncaught' in line]
    assert not console, console
    subprocess.run([browser] + flags + ['--window-size=1280,2400', '--screenshot={}'.format(shot), out.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and shot.stat().st_size > 20000


def test_probabilities_give_a_calibration_panel_with_its_error(tmp_path):
    from webvision.results.probs import probs_writer
    root, names, labels = make_root(tmp_path)
    pred, top1 = predict(names, labels, 6, tmp_path)
    right = top1 == labels
    probs = str(tmp_path / 'p.npy')
    with probs_writer(probs, names, 6, list=str(root / 'meta' / 'val.txt')) as m:
        top = np.where(right, 0.95, 0.55)                                       # sure when right, unsure when wrong
        m[:] = ((1 - top) / 5)[:, None]                                         # rows sum to 1
        m[np.arange(len(names)), top1] = top
    centres, acc, conf, n, ece = report.reliability(*report.confidence(report_probs(probs), labels))
    assert n[9] == right.sum() and n[5] == (~right).sum() and acc[9] == 1 and acc[5] == 0
    assert ece == pytest.approx((right.sum() * 0.05 + (~right).sum() * 0.55) / len(labels), abs=1e-3)   # float16
    out = tmp_path / 'report.html'
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--probs', probs, '--out', out)
    assert proc.returncode == 0, proc.stderr
    assert 'expected calibration error {:.2f} %'.format(100 * ece) in out.read_text()
    other = str(tmp_path / 'other.npy')
    with probs_writer(other, names[::-1], 6) as m:                              # the same images, another order
        m[:] = 1. / 6
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--probs', other, '--out', out)
    assert proc.returncode == 1 and 'made for another list' in proc.stderr and 'Traceback' not in proc.stderr


def report_probs(path):
    from webvision.results.probs import ProbsFile
    return ProbsFile(path)


def test_sample_losses_of_another_list_skip_the_noise_panel_with_a_warning(tmp_path):
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    run = make_run(tmp_path, 7)                               # losses of a 7-line list, not this one's
    out = tmp_path / 'report.html'
    proc = run_report('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--logdir', run, '--out', out)
    assert proc.returncode == 0 and '2 figures' in proc.stdout, proc.stderr
    assert 'warning: no noise panel: ' in proc.stderr and 'epoch-3.npy' in proc.stderr
    assert 'estimated label noise per class' not in out.read_text()


def report_main(*args):
    from webvision.commands import report as report_script
    return report_script.main([str(a) for a in args])


@pytest.mark.parametrize('fill, message', [
    (lambda m: m.fill(np.nan), 'not finite'),
    (lambda m: m.fill(-1. / 6), 'outside [0, 1]'),
    (lambda m: m.fill(1e4), 'outside [0, 1]'),        # float16 keeps 10,000
    (lambda m: m.fill(0.1), 'summing to 0.5999, not 1'),     # float16's 0.1, six times
])
def test_probabilities_that_are_not_probabilities_draw_no_panel(tmp_path, capsys, fill, message):
    from webvision.results.probs import probs_writer
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    probs, out = str(tmp_path / 'p.npy'), tmp_path / 'report.html'
    with probs_writer(probs, names, 6) as m:
        fill(m)
    assert report_main('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--probs', probs, '--out', out) == 1
    err = capsys.readouterr().err
    assert 'error: {}: row 0 holds values'.format(probs) in err and message in err and 'not probabilities' in err, err
    assert not out.exists()


def test_probabilities_of_another_class_count_and_bad_budgets_are_refused(tmp_path, capsys):
    from webvision.results.probs import probs_writer
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    probs, out = str(tmp_path / 'p.npy'), tmp_path / 'report.html'
    with probs_writer(probs, names, 7) as m:
        m[:] = 1. / 7
    assert report_main('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--probs', probs, '--out', out) == 1
    assert '--probs {}: 7 classes, but {} has 6'.format(probs, root / 'meta' / 'val.txt') in capsys.readouterr().err
    for value in ('nan', '-1', '0', 'inf', 'x'):
        with pytest.raises(SystemExit):
            report_main('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--max-thumb-mb', value, '--out', out)
        err = capsys.readouterr().err
        assert 'argument --max-thumb-mb: expected a' in err and repr(value) in err, err
    assert not out.exists()


def test_listed_folders_and_fifos_cost_their_thumbnails_only(tmp_path, capsys):
    root, names, labels = make_root(tmp_path)
    pred, top1 = predict(names, labels, 6, tmp_path)
    wrong = [names[i] for i in np.flatnonzero(top1 != labels)]
    os.remove(str(root / 'val' / wrong[0]))
    os.mkdir(str(root / 'val' / wrong[0]))                     # val/adir.jpg/ listed as an image
    os.remove(str(root / 'val' / wrong[1]))
    os.mkfifo(str(root / 'val' / wrong[1]))
    out = tmp_path / 'report.html'
    assert report_main('--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--out', out) == 0
    assert '; 2 could not be read.' in out.read_text() and 'Traceback' not in capsys.readouterr().err
