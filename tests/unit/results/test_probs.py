"""webvision/results/probs.py and utils/ensemble.py: probability matrices written by memory map, read by blocks,
and their weighted mean as predictions."""
import json
import os

import numpy as np
import pytest

from webvision.core.errors import InputError
from webvision.results.predictions import read_predictions
from webvision.results.probs import ProbsFile, probs_writer, sidecar_path

from webvision.commands import ensemble


def write_list(folder, n, labels=True):
    path = str(folder / 'val.txt')
    with open(path, 'w') as f:
        f.writelines('img{}.jpg {}\n'.format(i, i % 7 if labels else 0) for i in range(n))
    return path, ['img{}.jpg'.format(i) for i in range(n)]


def write_probs(path, names, probs):
    with probs_writer(str(path), names, probs.shape[1], list='val.txt') as out:
        out[:] = probs
    return str(path)


def random_probs(seed, n, k):
    p = np.random.RandomState(seed).dirichlet(np.ones(k) * 0.3, n)
    return p.astype(np.float16)


def test_written_matrix_reads_back_in_blocks_with_its_description(tmp_path):
    _, names = write_list(tmp_path, 50)
    p = random_probs(0, 50, 7)
    path = write_probs(tmp_path / 'a.npy', names, p)
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), p)
    f = ProbsFile(path)
    assert f.shape == (50, 7) and f.about['images'] == 50 and f.about['list'] == 'val.txt'
    np.testing.assert_array_equal(np.concatenate([f.rows(0, 20), f.rows(20, 50)]), p.astype(np.float32))
    assert not [n for n in os.listdir(tmp_path) if n.startswith('.tmp')]


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with probs_writer(str(tmp_path / 'a.npy'), ['x'], 3) as out:
            out[:] = 1
            raise RuntimeError('killed')
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('content, message', [
    (b'not numpy at all', 'not a readable .npy file'),
    (None, 'cut short'),
])
def test_damaged_matrices_are_refused_naming_the_file(tmp_path, content, message):
    path = str(tmp_path / 'bad.npy')
    if content is None:
        np.save(path, np.zeros((100, 10), np.float16))
        with open(path, 'r+b') as f:
            f.truncate(os.path.getsize(path) - 10)
    else:
        with open(path, 'wb') as f:
            f.write(content)
    with pytest.raises(InputError, match='bad.npy: ' + message):
        ProbsFile(path)


def test_object_and_3d_arrays_are_refused(tmp_path):
    path = str(tmp_path / 'x.npy')
    np.save(path, np.zeros((2, 3, 4), np.float32))
    with pytest.raises(InputError, match=r'expected a 2-D .* got shape \(2, 3, 4\)'):
        ProbsFile(path)
    with open(path, 'wb') as f:          # a header that claims a negative size
        np.lib.format.write_array_header_1_0(f, {'descr': '<f2', 'fortran_order': False, 'shape': (-5, 3)})
    with pytest.raises(InputError, match=r'got shape \(-5, 3\)'):
        ProbsFile(path)
    np.save(path, np.array([{'a': 1}, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match='x.npy'):
        ProbsFile(path)


def test_ensemble_is_the_weighted_mean_of_the_matrices(tmp_path):
    list_path, names = write_list(tmp_path, 300)
    mats = [random_probs(s, 300, 12) for s in range(3)]
    paths = [write_probs(tmp_path / '{}.npy'.format(s), names, m) for s, m in enumerate(mats)]
    out = str(tmp_path / 'ens.json')
    assert ensemble.main(['--probs'] + paths + ['--weights', '3', '1', '0.5', '--list', list_path, '--out', out,
                                                '--block', '64']) == 0
    mean = (3 * mats[0].astype(np.float64) + mats[1] + 0.5 * mats[2]) / 4.5
    records = json.load(open(out))
    assert [r['file'] for r in records] == names and [r['label'] for r in records] == [i % 7 for i in range(300)]
    expected = np.argsort(-mean, axis=1, kind='stable')[:, :5]
    got = np.array([r['top5'] for r in records])
    agree = (got == expected).all(axis=1)
    assert agree.mean() > 0.99         # float32 sums may swap near-ties
    for r, m in zip(records, mean):
        np.testing.assert_allclose(r['prob'], m[r['top5']], atol=1e-5)
    assert read_predictions(out)[0] == names


def test_ensemble_refuses_other_lists_shapes_and_weights(tmp_path, capsys):
    list_path, names = write_list(tmp_path, 20)
    a = write_probs(tmp_path / 'a.npy', names, random_probs(0, 20, 5))
    b = write_probs(tmp_path / 'b.npy', names[::-1], random_probs(1, 20, 5))      # same size, other order
    c = write_probs(tmp_path / 'c.npy', names, random_probs(1, 20, 6))
    out = str(tmp_path / 'o.json')
    for args, message in ([[a, b], 'b.npy: made for another list'], [[a, c], 'c.npy: 6 classes, but']):
        assert ensemble.main(['--probs'] + args + ['--list', list_path, '--out', out]) == 1
        assert message in capsys.readouterr().err
    assert ensemble.main(['--probs', a, a, '--weights', '1', '--list', list_path, '--out', out]) == 1
    assert '--weights: 1 given for 2 matrices' in capsys.readouterr().err
    assert ensemble.main(['--probs', a, '--weights', '-1', '--list', list_path, '--out', out]) == 1
    assert 'non-negative' in capsys.readouterr().err
    (tmp_path / 'other').mkdir()
    short_list, _ = write_list(tmp_path / 'other', 19)
    assert ensemble.main(['--probs', a, '--list', short_list, '--out', out]) == 1
    assert '20 rows, but' in capsys.readouterr().err
    os.remove(sidecar_path(b))         # without its .json only the shape can be checked
    assert ensemble.main(['--probs', a, b, '--list', list_path, '--out', out]) == 0
    assert len(json.load(open(out))) == 20


def test_top_k_is_a_stable_sort_of_each_row():
    from webvision.results.probs import top_k
    rng = np.random.RandomState(3)
    p = rng.randint(0, 6, (200, 9)).astype(np.float32)      # many ties
    ids, probs = top_k(p, 5)
    expected = np.argsort(-p, axis=1, kind='stable')[:, :5]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(probs, np.take_along_axis(p, expected, axis=1))
    assert top_k(p[:, :3], 5)[0].shape == (200, 3)          # fewer classes than k


def test_ensemble_refuses_an_empty_list(tmp_path, capsys):
    empty = tmp_path / 'val.txt'
    empty.write_text('')
    p = write_probs(tmp_path / 'a.npy', [], np.zeros((0, 5), np.float16))
    assert ensemble.main(['--probs', p, '--list', str(empty), '--out', str(tmp_path / 'o.json')]) == 1
    assert 'val.txt: no images listed' in capsys.readouterr().err


def test_a_killed_write_leaves_a_temporary_that_readers_refuse_and_the_next_write_removes(tmp_path, capsys):
    """--save-probs killed mid-way: its full-size temporary is no result, and goes with the next write."""
    list_path, names = write_list(tmp_path, 20)
    final = str(tmp_path / 'p.npy')
    with pytest.raises(KeyboardInterrupt):
        with probs_writer(final, names, 7) as out:
            out[:10] = 1. / 7
            leftover = [n for n in os.listdir(str(tmp_path)) if n.startswith('.p.npy.tmp-')]
            raise KeyboardInterrupt                                 # Ctrl-C: the temporary goes at once
    assert len(leftover) == 1 and not [n for n in os.listdir(str(tmp_path)) if '.tmp-' in n]
    assert not os.path.exists(final)
    # kill -9 leaves it behind: one of a dead process (pids stop at 2**22, so 2**22 + 1 never lives)
    dead = str(tmp_path / '.p.npy.tmp-{}-0123abcd.npy'.format(2 ** 22 + 1))
    np.save(dead, np.zeros((20, 7), np.float16))
    assert ensemble.main(['--probs', dead, '--list', list_path, '--out', str(tmp_path / 'o.json')]) == 1
    assert 'a temporary file that an interrupted run left unfinished' in capsys.readouterr().err
    write_probs(final, names, random_probs(0, 20, 7))
    assert sorted(os.listdir(str(tmp_path))) == ['p.npy', 'p.npy.json', 'val.txt']


@pytest.mark.parametrize('rows, message', [
    (lambda p: p * -1, 'outside [0, 1]'),
    (lambda p: p * 3, 'outside [0, 1]'),
    (lambda p: p * 0, 'summing to 0, not 1'),
    (lambda p: np.where(np.arange(len(p))[:, None] == 3, np.nan, p), 'not finite'),
])
def test_ensemble_refuses_rows_that_are_not_probabilities(tmp_path, capsys, rows, message):
    list_path, names = write_list(tmp_path, 20)
    bad = write_probs(tmp_path / 'bad.npy', names, rows(random_probs(1, 20, 7).astype(np.float32)))
    good = write_probs(tmp_path / 'good.npy', names, random_probs(2, 20, 7))
    assert ensemble.main(['--probs', good, bad, '--list', list_path, '--out', str(tmp_path / 'o.json')]) == 1
    err = capsys.readouterr().err
    assert 'error: {}: row '.format(bad) in err and message in err and 'not probabilities' in err, err
    assert not os.path.exists(str(tmp_path / 'o.json'))


def test_ensemble_weights_of_any_size_and_too_few_classes(tmp_path, capsys):
    list_path, names = write_list(tmp_path, 20)
    a, b = (write_probs(tmp_path / '{}.npy'.format(s), names, random_probs(s, 20, 7)) for s in (3, 4))
    out = str(tmp_path / 'o.json')
    assert ensemble.main(['--probs', a, b, '--list', list_path, '--out', out, '--weights', '1e308', '1e308']) == 0
    huge = read_predictions(out)[1]
    assert ensemble.main(['--probs', a, b, '--list', list_path, '--out', out]) == 0
    assert read_predictions(out)[1] == huge                         # the same as equal weights of 1
    for classes in (0, 4):
        few = write_probs(tmp_path / 'few{}.npy'.format(classes), names, np.full((20, classes), 1. / max(classes, 1)))
        assert ensemble.main(['--probs', few, '--list', list_path, '--out', out]) == 1
        assert '{} classes; a prediction names the top 5'.format(classes) in capsys.readouterr().err


def test_fifos_and_folders_given_as_inputs_are_refused_at_once(tmp_path, capsys):
    list_path, names = write_list(tmp_path, 20)
    good = write_probs(tmp_path / 'good.npy', names, random_probs(0, 20, 7))
    fifo = str(tmp_path / 'pipe.npy')
    os.mkfifo(fifo)
    out = str(tmp_path / 'o.json')
    for argv, what in ((['--probs', fifo, '--list', list_path], 'is a FIFO'),
                       (['--probs', good, '--list', fifo], 'is a FIFO'),
                       (['--probs', str(tmp_path), '--list', list_path], 'is a folder'),
                       (['--probs', '/dev/zero', '--list', list_path], 'is a character device')):
        assert ensemble.main(argv + ['--out', out]) == 1            # returns: nothing waits for a writer
        err = capsys.readouterr().err
        assert what + ', expected a regular file' in err and 'Traceback' not in err, err
