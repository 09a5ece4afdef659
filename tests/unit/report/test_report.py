"""webvision-report (utils/report.py) and webvision/report/report.py, in-process: the numbers on the page,
its bounds and escaping (the page in a real browser is tests/e2e/test_report_browser.py)."""
import os

import numpy as np
import pytest

from helpers.programs import run_program
from helpers.reports import make_root, make_run, page_data, predict
from webvision.report import report

def run_report(*args):
    return run_program('report', *args)


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
