"""webvision-score (utils/eval_score.py): the challenge scorer, against an independent implementation."""
import csv
import json
import re

import numpy as np
import pytest

from helpers.scoring import records, reference_scores, run_eval_score, run_json2sub, write
from webvision.core.errors import InputError
from webvision.results.predictions import read_predictions
from webvision.commands import eval_score


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
    proc = run_eval_score('--predictions', pred, '--labels', meta_dir / 'val.txt', '--per-class', out_csv)
    assert proc.returncode == 0, proc.stderr
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
