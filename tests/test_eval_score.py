"""utils/eval_score.py, utils/json2sub.py and utils/plot_log.py on made-up predictions."""
import csv
import json
import os
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import ROOT
from utils import eval_score
from lib.errors import InputError
from lib.predictions import read_predictions

SCRIPTS = os.path.join(ROOT, 'utils')


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def records(names, top5, labels=None):
    return [{'file': n, 'label': None if labels is None else int(l), 'top5': [int(c) for c in t],
             'prob': [0.2] * 5} for n, t, l in zip(names, top5, labels if labels is not None else [None] * len(names))]


def reference_scores(top5, labels, num_classes):
    """An independent, loop-by-loop version of the challenge metric, as the original scorer did."""
    n = len(labels)
    top1 = sum(t[0] != l for t, l in zip(top5, labels)) / n
    top5e = sum(l not in t for t, l in zip(top5, labels)) / n
    out = {'Top1': top1, 'Top5': top5e}
    for name, wrong in (('Balanced Top1', lambda t, l: t[0] != l), ('Balanced Top5', lambda t, l: l not in t)):
        rates = []
        for c in range(num_classes):
            rows = [(t, l) for t, l in zip(top5, labels) if l == c]
            if rows:
                rates.append(sum(wrong(t, l) for t, l in rows) / len(rows))
        out[name] = sum(rates) / len(rates)
    return out


@pytest.fixture
def meta_dir(tmp_path):
    d = tmp_path / 'meta'
    d.mkdir()
    write(d / 'synsets.txt', ''.join('n{:08d}\n'.format(i) for i in range(8)))
    write(d / 'synset_words.txt', ''.join('n{:08d} thing {}\n'.format(i, i) for i in range(8)))
    return d


def test_scores_agree_with_an_independent_implementation(meta_dir, tmp_path):
    rng = np.random.RandomState(1)
    n, classes = 500, 8
    labels = rng.choice(7, n, p=[.4, .2, .1, .1, .1, .05, .05])     # imbalanced; class 7 has no image
    top5 = np.array([rng.permutation(classes)[:5] for _ in range(n)])
    hit = rng.rand(n) < 0.5
    top5[hit, 0] = labels[hit]                                         # some right answers
    top5[hit, 1:] = [[c for c in rng.permutation(classes) if c != l][:4] for l in labels[hit]]
    names = ['img{:04d}.jpg'.format(i) for i in range(n)]
    write(meta_dir / 'val.txt', ''.join('{} {}\n'.format(a, b) for a, b in zip(names, labels)))
    shuffled = rng.permutation(n)                                      # rows matched by name, not order
    pred = write(tmp_path / 'p.json', json.dumps(records([names[i] for i in shuffled], top5[shuffled])))
    errors, _ = eval_score.score(pred, str(meta_dir / 'val.txt'))
    expected = reference_scores(top5.tolist(), labels.tolist(), classes)
    for k in expected:
        assert errors[k] == pytest.approx(expected[k], abs=1e-12), k


def test_hand_computed_case_with_an_empty_class_ties_and_per_class_csv(meta_dir, tmp_path):
    # class 0: 2 images (1 top-1 miss, 0 top-5 misses); class 1: 1 image (missed entirely);
    # class 2: 1 image right; classes 3-7: no images.
    write(meta_dir / 'val.txt', 'a.jpg 0\nb.jpg 0\nc.jpg 1\nd.jpg 2\n')
    recs = records(['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg'],
                   [[0, 1, 2, 3, 4], [5, 0, 1, 2, 3], [0, 2, 3, 4, 5], [2, 0, 1, 3, 4]])
    recs[1]['prob'] = [0.3, 0.3, 0.2, 0.1, 0.1]        # a tie: the file's order decides, 5 is top-1
    pred = write(tmp_path / 'p.json', json.dumps(recs))
    out_csv = str(tmp_path / 'pc.csv')
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, 'eval_score.py'), '--predictions', pred,
                           '--labels', str(meta_dir / 'val.txt'), '--per-class', out_csv],
                          capture_output=True, text=True, check=True)
    assert 'Top1 Error: 0.5000' in proc.stdout                         # b and c
    assert 'Top5 Error: 0.2500' in proc.stdout                         # c
    assert 'Balanced Top1 Error: 0.5000' in proc.stdout                # (1/2 + 1 + 0) / 3
    assert 'Balanced Top5 Error: 0.3333' in proc.stdout                # (0 + 1 + 0) / 3
    rows = list(csv.DictReader(open(out_csv)))
    assert [r['class_id'] for r in rows[:3]] == ['1', '0', '2']        # worst first
    assert rows[0] == {'class_id': '1', 'synset': 'n00000001', 'name': 'thing 1', 'images': '1',
                       'top1_error': '1.000000', 'top5_error': '1.000000'}
    assert rows[1]['top1_error'] == '0.500000' and rows[1]['top5_error'] == '0.000000'
    assert len(rows) == 8 and rows[-1]['images'] == '0' and rows[-1]['top1_error'] == ''


def test_reads_the_original_format_in_list_order(meta_dir, tmp_path):
    write(meta_dir / 'val.txt', 'a.jpg 3\nb.jpg 4\n')
    pred = write(tmp_path / 'old.json', json.dumps([[3, 0, 1, 2, 5], [0, 1, 2, 3, 5]]))
    errors, _ = eval_score.score(pred, str(meta_dir / 'val.txt'))
    assert errors['Top1'] == 0.5 and errors['Top5'] == 0.5
    assert read_predictions(pred)[0] is None


def test_scorer_refuses_a_label_outside_the_classes(meta_dir, tmp_path):
    write(meta_dir / 'val.txt', 'a.jpg 0\nb.jpg 9\n')
    pred = write(tmp_path / 'p.json', json.dumps(records(['a.jpg', 'b.jpg'], [[0, 1, 2, 3, 4]] * 2)))
    with pytest.raises(InputError, match=r"'b.jpg' has label 9, outside the 8 classes"):
        eval_score.score(pred, str(meta_dir / 'val.txt'))


@pytest.fixture
def test_list(meta_dir):
    return write(meta_dir / 'test.txt', 'x1.jpg 0\nx2.jpg 0\nx3.jpg 0\n')


def run_json2sub(pred, test_list, out, *extra):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, 'json2sub.py'), '--predictions', pred,
                           '--test-list', test_list, '--out', out] + list(extra), capture_output=True, text=True)


def test_json2sub_writes_the_list_order_and_a_zip(test_list, tmp_path):
    pred = write(tmp_path / 'p.json', json.dumps(records(['x3.jpg', 'x1.jpg', 'x2.jpg'],
                                                         [[7, 6, 5, 4, 3], [0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])))
    out = str(tmp_path / 'predictions.txt')
    proc = run_json2sub(pred, test_list, out, '--zip')
    assert proc.returncode == 0, proc.stderr
    expected = 'x1.jpg 0 1 2 3 4\nx2.jpg 1 2 3 4 5\nx3.jpg 7 6 5 4 3\n'
    assert open(out).read() == expected
    with zipfile.ZipFile(str(tmp_path / 'predictions.zip')) as z:
        assert z.namelist() == ['predictions.txt'] and z.read('predictions.txt').decode() == expected


GOOD = [('x1.jpg', [0, 1, 2, 3, 4]), ('x2.jpg', [1, 2, 3, 4, 5]), ('x3.jpg', [7, 6, 5, 4, 3])]


@pytest.mark.parametrize('rows,message', [
    (GOOD[:2], r'has 2 predictions but .*test.txt lists 3 images'),
    (GOOD[:2] + [('x9.jpg', [0, 1, 2, 3, 4])], r"row 3: image 'x9.jpg' is not in"),
    (GOOD[:2] + [('x1.jpg', [0, 1, 2, 3, 4])], r"row 3: image 'x1.jpg' predicted twice \(also row 1\)"),
    (GOOD[:1] + [('x2.jpg', [1, 2, 3, 4])] + GOOD[2:], r'row 2 \(x2.jpg\): 4 class id\(s\), need 5'),
    (GOOD[:2] + [('x3.jpg', [7, 6, 7, 4, 3])], r'row 3 \(x3.jpg\): class id 7 appears more than once'),
    (GOOD[:2] + [('x3.jpg', [7, 6, 8, 4, 3])], r'row 3 \(x3.jpg\): class id 8 is outside \[0, 8\)'),
    (GOOD[:2] + [('x3.jpg', [7, 6, '5', 4, 3])], r'row 3 \(x3.jpg\): expected a list of integer class ids'),
])
def test_json2sub_refuses_and_writes_nothing(test_list, tmp_path, rows, message):
    pred = write(tmp_path / 'p.json', json.dumps([{'file': n, 'top5': t} for n, t in rows]))
    out = str(tmp_path / 'predictions.txt')
    write(out, 'an earlier submission\n')
    proc = run_json2sub(pred, test_list, out, '--zip')
    assert proc.returncode == 1
    assert re.search(message, proc.stderr), proc.stderr
    assert 'nothing written' in proc.stderr
    assert open(out).read() == 'an earlier submission\n'
    assert not os.path.exists(str(tmp_path / 'predictions.zip'))
    assert sorted(os.listdir(str(tmp_path))) == ['meta', 'p.json', 'predictions.txt']   # no temp files


def test_json2sub_needs_the_class_count(tmp_path):
    lst = write(tmp_path / 'test.txt', 'x1.jpg\n')
    pred = write(tmp_path / 'p.json', json.dumps([{'file': 'x1.jpg', 'top5': [0, 1, 2, 3, 4]}]))
    proc = run_json2sub(pred, lst, str(tmp_path / 'o.txt'))
    assert proc.returncode == 1 and 'pass --num-classes or --synsets' in proc.stderr
    assert run_json2sub(pred, lst, str(tmp_path / 'o.txt'), '--num-classes', '5').returncode == 0
    assert open(str(tmp_path / 'o.txt')).read() == 'x1.jpg 0 1 2 3 4\n'


def test_plot_log_draws_a_png(tmp_path):
    stats = [{'epoch_num': e, 'global_step': 10 * e, 'learning_rate': 0.1 / e, 'train-error-top1': 0.9 / e,
              'train-error-top5': 0.5 / e, 'val-error-top1': 0.8 / e, 'val-error-top5': 0.4 / e,
              'val-balanced-error-top1': 0.85 / e, 'val-balanced-error-top5': 0.45 / e} for e in (1, 2, 3)]
    write(tmp_path / 'stats.json', json.dumps(stats))
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, 'plot_log.py'), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    png = open(str(tmp_path / 'curves.png'), 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10000
    empty = tmp_path / 'none'
    empty.mkdir()
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, 'plot_log.py'), str(empty)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and 'stats.json: no such file' in proc.stderr


@pytest.mark.parametrize('text,names,labels', [
    ('a.jpg 3\nb.jpg 0\n', ['a.jpg', 'b.jpg'], [3, 0]),                      # the bulk path
    ('a.jpg 3\r\n\r\n  b.jpg\t0  \n\n', ['a.jpg', 'b.jpg'], [3, 0]),         # CRLF, blanks
    ('my photo.jpg 3\nb.jpg 1', ['my photo.jpg', 'b.jpg'], [3, 1]),          # a name with a space
    ('a 1 2\nb 3\n', ['a 1', 'b'], [2, 3]),                                  # not three "pairs"
])
def test_read_list_splits_lines_as_name_and_last_field(tmp_path, text, names, labels):
    from lib.lists import read_list
    got_names, got_labels = read_list(write(tmp_path / 'list.txt', text))
    assert got_names == names and got_labels.tolist() == labels


@pytest.mark.parametrize('text,message', [
    ('a.jpg 3\nb.jpg\n', r'list.txt:2: expected "name label", got .b\.jpg.'),
    ('a.jpg 3\nb.jpg +1\n', r'list.txt:2: expected "name label", got .b\.jpg \+1.'),
    ('a.jpg 3\na.jpg 1\n', r"image 'a.jpg' is listed more than once"),
])
def test_read_list_names_the_bad_line(tmp_path, text, message):
    from lib.lists import read_list
    with pytest.raises(InputError, match=message):
        read_list(write(tmp_path / 'list.txt', text))


def test_topk_rows_longer_than_five_and_ragged_rows_use_the_first_five():
    from lib.predictions import topk_array
    want = [[0, 1, 2, 3, 4], [5, 6, 7, 0, 1]]
    assert topk_array('p', [[0, 1, 2, 3, 4, 5], [5, 6, 7, 0, 1, 2]], 8).tolist() == want
    assert topk_array('p', [[0, 1, 2, 3, 4], [5, 6, 7, 0, 1, 2]], 8).tolist() == want
    with pytest.raises(InputError, match=r'p: row 2: expected a list of integer class ids, got \[5, 6.5'):
        topk_array('p', [[0, 1, 2, 3, 4], [5, 6.5, 7, 0, 1]], 8)
    with pytest.raises(InputError, match=r'p: row 2: 4 class id\(s\), need 5'):
        topk_array('p', [[0, 1, 2, 3, 4], [5, 6, 7, 0]], 8)


@pytest.mark.parametrize('data,message', [
    (b'a.jpg 3\nb.jpg 1\nc\xff.jpg 2\n', r"list.txt:3: not UTF-8 text: byte b'\\xff' at column 2"),
    (b'a.jpg 3\nb.jpg -1\n', r'list.txt:2: label -1 is outside \[0, 2147483648\)'),
    (b'a.jpg 3\nb.jpg 99999999999999999999999\n', r'list.txt:2: label 99999999999999999999999 is outside'),
    ('a.jpg 3\nb.jpg \u00b2\n'.encode(), r'list.txt:2: expected "name label"'),       # int('²') would be 2
    (b'a.jpg 3\nb.jpg 1\na.jpg 1\n', r"list.txt:3: image 'a.jpg' is listed more than once \(also line 1\)"),
])
def test_read_list_refuses_bytes_labels_and_repeats_naming_the_line(tmp_path, data, message):
    from lib.lists import read_list
    (tmp_path / 'list.txt').write_bytes(data)
    with pytest.raises(InputError, match=message):
        read_list(str(tmp_path / 'list.txt'))


def test_read_list_drops_a_byte_order_mark(tmp_path):
    from lib.fileio import read_lines
    from lib.lists import read_list
    path = tmp_path / 'list.txt'
    path.write_bytes('\ufeffa.jpg 3\nb.jpg 1\n'.encode())
    assert read_list(str(path))[0] == ['a.jpg', 'b.jpg']
    assert [line for _, line in read_lines(str(path))] == ['a.jpg 3', 'b.jpg 1']


def run_eval_score(*args):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, 'eval_score.py')] + [str(a) for a in args],
                          capture_output=True, text=True)


@pytest.mark.parametrize('listed,message', [
    ('', r'val.txt: no images listed'),
    ('a.jpg 0\nb.jpg -3\n', r'val.txt:2: label -3 is outside'),
    ('a.jpg 0\nb.jpg 18446744073709551616\n', r'val.txt:2: label 18446744073709551616 is outside'),
])
def test_eval_score_refuses_bad_lists_without_a_traceback(meta_dir, tmp_path, listed, message):
    write(meta_dir / 'val.txt', listed)
    pred = write(tmp_path / 'p.json', json.dumps(records(['a.jpg', 'b.jpg'], [[0, 1, 2, 3, 4]] * 2)))
    proc = run_eval_score('--predictions', pred, '--labels', meta_dir / 'val.txt')
    assert proc.returncode == 1 and re.search('^error: .*' + message, proc.stderr), proc.stderr
    assert 'Traceback' not in proc.stderr


def test_eval_score_without_synsets_needs_the_class_count(tmp_path):
    lst = write(tmp_path / 'val.txt', 'a.jpg 0\nb.jpg 1\n')
    # predicted ids up to 6 are valid in a 7-class problem whose list only has labels 0 and 1
    pred = write(tmp_path / 'p.json', json.dumps(records(['a.jpg', 'b.jpg'], [[6, 0, 2, 3, 4], [1, 5, 2, 3, 4]])))
    proc = run_eval_score('--predictions', pred, '--labels', lst)
    assert proc.returncode == 1 and 'pass --num-classes or --synsets' in proc.stderr, proc.stderr
    proc = run_eval_score('--predictions', pred, '--labels', lst, '--num-classes', 7)
    assert proc.returncode == 0, proc.stderr
    assert 'Top1 Error: 0.5000' in proc.stdout and 'Top5 Error: 0.0000' in proc.stdout
    proc = run_eval_score('--predictions', pred, '--labels', lst, '--num-classes', 'x')
    assert proc.returncode == 2 and "expected a positive whole number, got 'x'" in proc.stderr


def test_outputs_in_missing_folders_are_refused_before_the_work(meta_dir, tmp_path, test_list):
    write(meta_dir / 'val.txt', 'a.jpg 0\n')
    pred = write(tmp_path / 'p.json', json.dumps(records(['a.jpg'], [[0, 1, 2, 3, 4]])))
    missing = tmp_path / 'nope' / 'x.csv'
    proc = run_eval_score('--predictions', pred, '--labels', meta_dir / 'val.txt', '--per-class', missing)
    assert proc.returncode == 1 and 'Top1' not in proc.stdout                 # refused before scoring
    assert 'error: --per-class {}: the folder {} does not exist'.format(missing, missing.parent) in proc.stderr
    proc = run_json2sub(pred, test_list, str(missing))
    assert proc.returncode == 1 and 'the folder {} does not exist'.format(missing.parent) in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_json2sub_refuses_booleans_and_a_zip_named_like_its_text(test_list, tmp_path):
    rows = [{'file': n, 'top5': t} for n, t in GOOD]
    rows[1]['top5'] = [True, 2, 3, 4, 5]                  # numpy would read it as class 1
    pred = write(tmp_path / 'p.json', json.dumps(rows))
    proc = run_json2sub(pred, test_list, str(tmp_path / 'o.txt'))
    assert proc.returncode == 1 and 'row 2 (x2.jpg): expected a list of integer class ids' in proc.stderr
    good = write(tmp_path / 'g.json', json.dumps([{'file': n, 'top5': t} for n, t in GOOD]))
    write(tmp_path / 'sub.zip', 'keep')
    proc = run_json2sub(good, test_list, str(tmp_path / 'sub.zip'), '--zip')
    assert proc.returncode == 1 and 'the zip would overwrite the text file' in proc.stderr
    assert open(str(tmp_path / 'sub.zip')).read() == 'keep'


def test_json2sub_drops_a_byte_order_mark_from_the_test_list(tmp_path, meta_dir):
    lst = meta_dir / 'test.txt'
    lst.write_bytes('\ufeffx1.jpg\r\nx2.jpg\r\n'.encode())
    pred = write(tmp_path / 'p.json', json.dumps([{'file': n, 'top5': t} for n, t in GOOD[:2]]))
    proc = run_json2sub(pred, str(lst), str(tmp_path / 'o.txt'))
    assert proc.returncode == 0, proc.stderr
    assert open(str(tmp_path / 'o.txt'), 'rb').read() == b'x1.jpg 0 1 2 3 4\nx2.jpg 1 2 3 4 5\n'


def test_predictions_with_non_string_names_are_refused(tmp_path):
    pred = write(tmp_path / 'p.json', json.dumps([{'file': 'a', 'top5': [0]}, {'file': [1], 'top5': [0]}]))
    with pytest.raises(InputError, match=r'row 2: "file" must be a string, got \[1\]'):
        read_predictions(pred)


@pytest.mark.parametrize('stats,message', [('{"a": 1}', 'expected a list of epochs, got dict'),
                                           ('[1, 2]', 'entry 1 has no epoch_num: 1'),
                                           ('[{"epoch_num": 1}', 'not JSON')])
def test_plot_log_refuses_stats_that_are_not_a_history(tmp_path, stats, message):
    write(tmp_path / 'stats.json', stats)
    proc = subprocess.run([sys.executable, os.path.join(SCRIPTS, 'plot_log.py'), str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and message in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr
