"""webvision/results/noisy_labels.py, webvision/results/sample_loss.py and utils/split_noisy.py: per-image losses in, the
likely clean lines and a per-class noise report out."""
import csv
import os

import numpy as np
import pytest

from webvision.core.errors import InputError
from webvision.results.noisy_labels import noise_report, split
from webvision.results.sample_loss import epoch_path, read_losses, write_losses

from webvision.commands import split_noisy


def noisy_losses(n=2000, classes=4, noise=0.3, seed=0):
    """(losses, labels, truly noisy): clean images have low losses, mislabelled ones high."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, classes, n)
    noisy = rng.uniform(size=n) < noise
    losses = np.where(noisy, rng.normal(4.0, 0.6, n), rng.gamma(2.0, 0.3, n)).astype(np.float32)
    return losses, labels, noisy


@pytest.mark.parametrize('by', ['global', 'class'])
def test_the_mixture_finds_the_high_loss_images(by):
    losses, labels, noisy = noisy_losses()
    clean, prob = split(losses, labels, 4, by=by)
    assert (clean == ~noisy).mean() > 0.97
    assert prob.min() >= 0 and prob.max() <= 1


def test_per_class_fits_follow_each_classes_own_scale():
    """A hard class has high losses everywhere: one global fit calls it all noisy, its own fit does not."""
    losses, labels, noisy = noisy_losses()
    losses = np.where(labels == 3, losses + 6, losses)
    clean_global, _ = split(losses, labels, 4, by='global')
    clean_class, _ = split(losses, labels, 4, by='class')
    hard = labels == 3
    assert clean_global[hard].mean() < 0.05
    assert (clean_class[hard] == ~noisy[hard]).mean() > 0.95


def test_unseen_images_are_not_called_clean_and_are_counted():
    losses, labels, noisy = noisy_losses(n=400)
    losses[:50] = np.nan
    clean, prob = split(losses, labels, 4)
    assert not clean[:50].any() and np.isnan(prob[:50]).all()
    images, seen, kept, noise = noise_report(clean, np.isfinite(losses), labels, 4)
    assert images.sum() == 400 and seen.sum() == 350 and kept.sum() == clean.sum()
    np.testing.assert_allclose(noise, 1 - kept / seen)


def test_loss_files_average_over_epochs_and_must_fit_the_list(tmp_path):
    a, b = epoch_path(str(tmp_path), 1), epoch_path(str(tmp_path), 2, task=1)
    assert b.endswith('sample_loss/epoch-2.task-1.npy')
    write_losses(a, [1.0, np.nan, 3.0])
    write_losses(b, [3.0, np.nan, np.nan])
    assert np.load(a).dtype == np.float16
    got = read_losses([a, b], 3)
    assert got[0] == 2.0 and np.isnan(got[1]) and got[2] == 3.0
    with pytest.raises(InputError, match=r'epoch-1.npy: 3 losses, but the list has 4 images'):
        read_losses([a], 4)
    np.save(str(tmp_path / 'x.npy'), np.zeros((2, 2)))
    with pytest.raises(InputError, match='x.npy: expected a 1-D float array'):
        read_losses([str(tmp_path / 'x.npy')], 2)


def test_split_noisy_writes_the_clean_lines_and_a_report(tmp_path, capsys):
    losses, labels, noisy = noisy_losses(n=600)
    losses[:10] = np.nan
    meta = tmp_path / 'meta'
    meta.mkdir()
    (meta / 'synsets.txt').write_text(''.join('n{:08d}\n'.format(c) for c in range(4)))
    (meta / 'train.txt').write_text(''.join('c{}/im{}.jpg {}\n'.format(c, i, c) for i, c in enumerate(labels)))
    write_losses(str(tmp_path / 'epoch-3.npy'), losses)
    out = str(meta / 'train_clean.txt')
    argv = ['--losses', str(tmp_path / 'epoch-3.npy'), '--list', str(meta / 'train.txt'), '--out', out]
    assert split_noisy.main(argv) == 0
    kept = open(out).read().splitlines()
    expected = [i for i in range(600) if i < 10 or (not noisy[i])]       # unseen ones kept by default
    assert len(set(kept) ^ {'c{}/im{}.jpg {}'.format(labels[i], i, labels[i]) for i in expected}) < 15
    assert 'estimated noise among the seen' in capsys.readouterr().out
    rows = list(csv.DictReader(open(str(meta / 'train_clean.noise.csv'))))
    assert [int(r['class_id']) for r in rows] != [] and sum(int(r['images']) for r in rows) == 600
    for r in rows:
        truth = noisy[10:][labels[10:] == int(r['class_id'])].mean()
        assert float(r['estimated_noise']) == pytest.approx(truth, abs=0.05)
    assert split_noisy.main(argv + ['--unseen', 'drop']) == 0
    assert not any(line.split()[0] in {'c{}/im{}.jpg'.format(labels[i], i) for i in range(10)}
                   for line in open(out))
    assert split_noisy.main(argv[:2] + ['--list', str(meta / 'synsets.txt'), '--out', out]) == 1
    assert 'synsets.txt:1' in capsys.readouterr().err


def test_split_noisy_refuses_an_empty_list(tmp_path, capsys):
    (tmp_path / 'train.txt').write_text('')
    write_losses(str(tmp_path / 'e.npy'), [])
    assert split_noisy.main(['--losses', str(tmp_path / 'e.npy'), '--list', str(tmp_path / 'train.txt'),
                             '--out', str(tmp_path / 'o.txt')]) == 1
    assert 'train.txt: no images listed' in capsys.readouterr().err
    assert not (tmp_path / 'o.txt').exists()


def small_list(tmp_path, n):
    (tmp_path / 'train.txt').write_text(''.join('im{}.jpg {}\n'.format(i, i % 4) for i in range(n)))
    return str(tmp_path / 'train.txt')


def split_argv(tmp_path, losses_path):
    return ['--losses', losses_path, '--list', str(tmp_path / 'train.txt'), '--out', str(tmp_path / 'clean.txt')]


def test_an_infinite_loss_is_the_noisiest_and_huge_losses_do_not_overflow(tmp_path):
    losses, labels, noisy = noisy_losses(n=400)
    losses = losses.astype(np.float64)
    losses[:3] = np.inf
    clean, prob = split(losses, labels, 4)
    assert not clean[:3].any() and (prob[:3] == 0).all() and (clean[3:] == ~noisy[3:]).mean() > 0.95
    path = str(tmp_path / 'big.npy')
    np.save(path, losses * 1e300)                   # float64, near its largest: a mean of two would overflow
    mean = read_losses([path, path], 400)
    assert np.isfinite(mean[3:]).all() and np.allclose(mean[3:], losses[3:] * 1e300)
    assert (mean[:3] == np.inf).all()
    small_list(tmp_path, 400)
    assert split_noisy.main(split_argv(tmp_path, path)) == 0
    kept = {line.split()[0] for line in open(str(tmp_path / 'clean.txt'))}
    assert not kept & {'im0.jpg', 'im1.jpg', 'im2.jpg'} and len(kept) > 200


def test_loss_files_that_cannot_be_losses_are_refused_before_allocating(tmp_path, capsys):
    small_list(tmp_path, 8)
    claims = str(tmp_path / 'claims.npy')
    with open(claims, 'wb') as f:                   # a header claiming 10^13 float32 entries, and no data
        np.lib.format.write_array_header_1_0(f, {'descr': '<f4', 'fortran_order': False, 'shape': (10 ** 13,)})
    nan = str(tmp_path / 'nan.npy')
    write_losses(nan, np.full(8, np.nan))
    negative = str(tmp_path / 'neg.npy')
    write_losses(negative, [0.5, -1, 0, 0, 0, 0, 0, 0])
    for path, message in ((claims, 'cut short: 128 bytes, its header needs 40,000,000,000,128'),
                          (nan, 'no image of {} has a loss'.format(tmp_path / 'train.txt')),
                          (negative, 'entry 1 is -1.0: a loss is at least 0')):
        assert split_noisy.main(split_argv(tmp_path, path)) == 1
        err = capsys.readouterr().err
        assert message in err and 'Traceback' not in err, err
    short = str(tmp_path / 'short.npy')
    with open(short, 'wb') as f:
        np.lib.format.write_array_header_1_0(f, {'descr': '<f2', 'fortran_order': False, 'shape': (8,)})
    with pytest.raises(InputError, match='cut short'):
        read_losses([short], 8)
    with pytest.raises(SystemExit):
        split_noisy.main(split_argv(tmp_path, nan) + ['--min-class-images', '-5'])
    assert "--min-class-images: expected a positive whole number, got '-5'" in capsys.readouterr().err


def test_a_fifo_given_as_losses_is_named_once(tmp_path, capsys):
    small_list(tmp_path, 4)
    fifo = str(tmp_path / 'pipe.npy')
    os.mkfifo(fifo)
    assert split_noisy.main(split_argv(tmp_path, fifo)) == 1
    assert capsys.readouterr().err == 'error: {}: is a FIFO, expected a regular file\n'.format(fifo)
