"""webvision/dataflow/dataset.py (webvision_dataset.py): file lists, the DataFlows and LMDB on small made-up roots with broken inputs."""
import os
import re

import cv2
import numpy as np
import pytest

from webvision.dataflow import dataset as wd
from helpers.images import photo, write_root
from webvision.data import decode
from webvision.data.bad_images import BadImageLog, TooManyBadImages
from webvision.core.errors import InputError


def test_file_list_tolerates_crlf_blank_lines_and_spaces(tmp_path):
    write_root(str(tmp_path), 'a/x 1.jpg 0\r\n\r\n  b/y.jpg 2  \r\n', '')
    files = wd.WebVisionMeta(str(tmp_path)).file_list('train')
    assert len(files) == 2
    assert files[0] == ('a/x 1.jpg', 0)       # a space inside a file name survives
    assert files[1] == ('b/y.jpg', 2)


@pytest.mark.parametrize('line,message', [
    ('a.jpg 3', r'train.txt:2: label 3 is outside \[0, 3\)'),
    ('a.jpg x', r"train.txt:2: expected \"name label\", got 'a.jpg x'"),
    ('a.jpg', r"train.txt:2: expected \"name label\", got 'a.jpg'"),
])
def test_bad_list_lines_name_file_line_and_value(tmp_path, line, message):
    write_root(str(tmp_path), 'ok.jpg 1\n' + line + '\n', '')
    with pytest.raises(InputError, match=message):
        wd.WebVisionMeta(str(tmp_path)).file_list('train')


def test_missing_meta_is_named(tmp_path):
    with pytest.raises(wd.DataError, match='missing .*synsets.txt'):
        wd.WebVisionMeta(str(tmp_path))


@pytest.fixture
def root_with_bad_images(tmp_path):
    root = str(tmp_path / 'root')
    train, val = [], []
    write_root(root, '', '')
    for split in ('train', 'val'):
        os.makedirs(os.path.join(root, split))
    for i in range(6):
        cv2.imwrite(os.path.join(root, 'train', 'img{}.jpg'.format(i)), photo(i))
        train.append('img{}.jpg {}'.format(i, i % 3))
        cv2.imwrite(os.path.join(root, 'val', 'v{}.jpg'.format(i)), photo(i))
        val.append('v{}.jpg {}'.format(i, i % 3))
    open(os.path.join(root, 'train', 'empty.jpg'), 'wb').close()
    open(os.path.join(root, 'val', 'empty.jpg'), 'wb').close()
    train.insert(2, 'empty.jpg 1')
    train.append('not_there.jpg 2')
    val.insert(3, 'empty.jpg 1')
    for split, lines in (('train', train), ('val', val)):
        with open(os.path.join(root, 'meta', split + '.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def test_train_flow_skips_counts_and_lists_bad_images(root_with_bad_images, tmp_path):
    log = str(tmp_path / 'bad.txt')
    ds = wd.get_train_dataflow(root_with_bad_images, 2, decode.decoder(True, 32), parallel=0, bad_log_path=log)
    ds.reset_state()
    batches = list(ds)
    # 8 listed, 2 of them bad: 4 batches of 2, the bad ones replaced by another image of their batch
    # (3 batches when both bad ones fall into one, which is then dropped)
    assert len(batches) in (3, 4)
    for images, labels in batches:
        assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    listed = open(log).read()
    assert 'empty.jpg\tempty file' in listed and 'not_there.jpg\tunreadable' in listed
    assert BadImageLog(log).count() == 2


def test_eval_flow_keeps_one_row_per_listed_image(root_with_bad_images):
    ds = wd.get_eval_dataflow(root_with_bad_images, 'val', 3, decode.decoder(False, 32), parallel=2,
                              with_index=True)
    ds.reset_state()
    indices, labels = [], []
    for images, batch_labels, batch_indices in ds:
        assert images.shape[1:] == (32, 32, 3)
        indices += batch_indices.tolist()
        labels += batch_labels.tolist()
    assert sorted(indices) == list(range(7))   # 6 good + the empty one
    files = wd.WebVisionMeta(root_with_bad_images).file_list('val')
    assert [files.labels[i] for i in indices] == labels


def test_file_list_storage_is_compact(tmp_path):
    lines = ''.join('google/q{:04d}/{:06d}.jpg {}\n'.format(i % 5000, i, i % 5000) for i in range(20000))
    write_root(str(tmp_path), lines, '', synsets=['n{:08d}'.format(i) for i in range(5000)])
    files = wd.WebVisionMeta(str(tmp_path)).file_list('train')
    assert files[12345] == ('google/q2345/012345.jpg', 2345)
    path_bytes = sum(len(line.rsplit(' ', 1)[0]) for line in lines.splitlines())
    held = files.blob.nbytes + files.offsets.nbytes + files.labels.nbytes
    assert held <= path_bytes + 6 * len(files) + 4      # path bytes + a 4-byte offset and 2-byte label each


def test_train_flow_with_loader_processes_batches_and_skips(root_with_bad_images, tmp_path):
    log = str(tmp_path / 'bad.txt')
    ds = wd.get_train_dataflow(root_with_bad_images, 4, decode.decoder(True, 32), parallel=2, bad_log_path=log)
    ds.reset_state()
    try:
        it = iter(ds)
        batches = [next(it) for _ in range(6)]          # the loaders repeat the list
    finally:
        del it
        ds.__del__()
    for images, labels in batches:
        assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
        assert set(labels.tolist()) <= {0, 1, 2}
    assert 'empty.jpg\tempty file' in open(log).read()


def test_class_balanced_sampler_draws_classes_uniformly():
    labels = np.array([0] * 500 + [1] * 50 + [2] * 5 + [4] * 45, dtype=np.int16)   # class 3 has none
    sampler = wd.ClassBalancedSampler(labels)
    assert len(sampler) == 4 * 500
    draws = np.fromiter(sampler.epoch(np.random.RandomState(0)), dtype=np.int64)
    assert len(draws) == 2000
    assert sum(1 for _ in sampler.epoch(np.random.RandomState(1), chunk=768)) == 2000   # a partial last chunk
    counts = np.bincount(labels[draws], minlength=5)
    assert counts[3] == 0 and all(400 < c < 600 for c in counts[[0, 1, 2, 4]])
    small = draws[labels[draws] == 2]
    assert set(small[:5].tolist()) == set(np.flatnonzero(labels == 2).tolist())   # every image before a repeat
    assert sampler.order.nbytes == 4 * len(labels)


def test_lmdb_pack_gives_the_same_images_and_labels(root_with_bad_images, tmp_path):
    path, n, missing = wd.write_lmdb(root_with_bad_images, 'val')
    assert path == wd.lmdb_path(root_with_bad_images, 'val') and n == 7 and missing == 1   # empty.jpg
    assert wd.write_lmdb(root_with_bad_images, 'val') == (path, None, None)    # rerun keeps it
    records = wd.LMDBImages(path)
    records.reset_state()
    files = wd.WebVisionMeta(root_with_bad_images).file_list('val')
    got = list(records)
    assert [r[1:] for r in got] == [[files.labels[i], i] for i in range(7)]
    from_files, from_lmdb = _eval_rows(root_with_bad_images, 'files'), _eval_rows(root_with_bad_images, 'lmdb')
    assert len(from_files) == 7 and from_files.keys() == from_lmdb.keys()
    for i in from_files:
        assert np.array_equal(from_files[i][0], from_lmdb[i][0]) and from_files[i][1] == from_lmdb[i][1]


def _eval_rows(root, fmt):
    ds = wd.get_eval_dataflow(root, 'val', 3, decode.decoder(False, 32), parallel=2, with_index=True, fmt=fmt)
    ds.reset_state()
    return {int(i): (im, int(label)) for images, labels, indices in ds
            for im, label, i in zip(images, labels, indices)}


def test_lmdb_train_flow_and_missing_files(root_with_bad_images):
    path, n, missing = wd.write_lmdb(root_with_bad_images, 'train')
    assert n == 8 and missing == 2          # empty.jpg and not_there.jpg stored empty, indices kept
    ds = wd.get_train_dataflow(root_with_bad_images, 2, decode.decoder(True, 32), parallel=0, fmt='lmdb')
    ds.reset_state()
    it = iter(ds)                    # local shuffling repeats the file endlessly
    batches = [next(it) for _ in range(600)]
    assert all(b[0].shape == (2, 32, 32, 3) for b in batches)
    counts = np.bincount(np.concatenate([b[1] for b in batches]), minlength=3)
    # 2 good images per class, so 400 each; the standard deviation (replacements included) is ~16.
    # With 60 batches and +-15 the test failed 4% of the time (simulated; once in CI).
    assert len(counts) == 3 and all(280 < c < 520 for c in counts), counts
    with pytest.raises(wd.DataError, match='no such LMDB file.*pack_lmdb'):
        wd.LMDBImages(wd.lmdb_path(root_with_bad_images, 'train', 'google'))


def test_a_tree_where_nothing_decodes_stops_the_train_flow(tmp_path):
    root = str(tmp_path / 'html')
    write_root(root, ''.join('p{}.jpg {}\n'.format(i, i % 3) for i in range(40)), '')
    os.makedirs(os.path.join(root, 'train'))
    for i in range(40):
        with open(os.path.join(root, 'train', 'p{}.jpg'.format(i)), 'wb') as f:
            f.write(b'<html>404</html>')
    log = str(tmp_path / 'bad.txt')
    ds = wd.get_train_dataflow(root, 8, decode.decoder(True, 32), parallel=0, bad_log_path=log)
    ds.reset_state()
    with pytest.raises(TooManyBadImages, match=r'1,000 of the last 1,000 training images .* listed in ' + re.escape(log)):
        for _ in range(30):                                                # epochs of 40 images
            for _ in ds:
                pass
    with open(log) as f:
        assert sum(1 for _ in f) == 1000                                   # stopped after one window
