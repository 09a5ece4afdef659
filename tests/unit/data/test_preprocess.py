"""webvision-prepare (utils/preprocess.py) on a made-up WebVision 2018 tree with web quirks."""
import os
import re

import cv2
import pytest

from helpers.programs import run_program
from helpers.tree2018 import make_2018_tree, photo


@pytest.fixture
def tree(tmp_path):
    """3 classes; class 2 has no train image; one listed file is missing, one is empty; CRLF lists."""
    return make_2018_tree(tmp_path)


def snapshot(root):
    """path -> (inode, size, mtime) of every downloaded file."""
    out = {}
    for folder in ('google', 'flickr', 'val_images_resized', 'test_images_resized', 'info'):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for f in files:
                st = os.stat(os.path.join(dirpath, f))
                out[os.path.join(dirpath, f)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def lines(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def test_prepare_reports_and_never_touches_downloads(tree):
    before = snapshot(tree)
    for _ in range(2):                                          # rerun is safe
        proc = run_program('preprocess', '--root', tree)
        assert proc.returncode == 0, proc.stderr
    assert snapshot(tree) == before
    out = proc.stdout
    assert '3 classes' in out
    assert 'train                 10 images' in out              # 6 + 1 empty (kept: decoding decides) + 3
    assert 'missing                1 listed images not on disk' in out
    assert 'classes with no train image: 1 (n00000003)' in out
    assert lines(os.path.join(tree, 'meta', 'synsets.txt')) == [['n00000001'], ['n00000002'], ['n00000003']]
    train = lines(os.path.join(tree, 'meta', 'train.txt'))
    assert ['google/q0002/gone.jpg', '1'] not in train and ['flickr/q0001/000002.jpg', '1'] in train
    assert len(lines(os.path.join(tree, 'meta', 'train_flickr.txt'))) == 3
    assert 'gone.jpg' in open(os.path.join(tree, 'meta', 'missing.txt')).read()
    assert lines(os.path.join(tree, 'test', 'meta', 'val.txt')) == [['test000000.jpg', '0'], ['test000001.jpg', '0']]
    assert os.path.isfile(os.path.join(tree, 'train', 'google', 'q0001', '000000.jpg'))
    assert os.path.isfile(os.path.join(tree, 'test', 'val', 'test000001.jpg'))


def test_malformed_line_names_file_line_and_value(tree):
    with open(os.path.join(tree, 'val_filelist.txt'), 'a') as f:
        f.write('val000009.jpg 7\n')
    proc = run_program('preprocess', '--root', tree)
    assert proc.returncode == 1
    assert 'val_filelist.txt:5: label 7 is outside [0, 3) (the classes in synsets.txt)' in proc.stderr


def test_names_outside_the_image_folders_are_refused_and_repeats_dropped(tree):
    with open(os.path.join(tree, 'info', 'train_filelist_all.txt'), 'a') as f:
        f.write('../../../etc/passwd 0\n/etc/shadow 1\ngoogle/../../x.jpg 0\n')
    with open(os.path.join(tree, 'val_filelist.txt'), 'a') as f:
        f.write('val000001.jpg 1\n../val000002.jpg 2\n')
    cv2.imwrite(os.path.join(tree, 'test_images_resized', 'my test.jpg'), photo(2))
    with open(os.path.join(tree, 'test_filelist.txt'), 'a') as f:
        f.write('test000001.jpg\nmy test.jpg\n')
    proc = run_program('preprocess', '--root', tree)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r'refused +4 listed names outside their image folder', proc.stdout), proc.stdout
    assert 'val list: 1 repeated line(s) dropped' in proc.stdout and 'test list: 1 repeated' in proc.stdout
    train = lines(os.path.join(tree, 'meta', 'train.txt'))
    assert not any('..' in name or name.startswith('/') for name, _ in train) and len(train) == 10
    assert [n for n, _ in lines(os.path.join(tree, 'meta', 'val.txt'))] == ['val{:06d}.jpg'.format(i) for i in range(4)]
    with open(os.path.join(tree, 'test', 'meta', 'val.txt')) as f:
        assert f.read() == 'test000000.jpg 0\ntest000001.jpg 0\nmy test.jpg 0\n'     # the whole name
    with open(os.path.join(tree, 'meta', 'missing.txt')) as f:
        refused = [line for line in f if 'refused' in line]
    assert sorted(line.split('\t')[0] for line in refused) == [
        '../../../etc/passwd', '../val000002.jpg', '/etc/shadow', 'google/../../x.jpg']


def test_bytes_that_are_not_utf8_name_the_line(tree):
    with open(os.path.join(tree, 'val_filelist.txt'), 'ab') as f:
        f.write(b'val\xff.jpg 1\n')
    proc = run_program('preprocess', '--root', tree)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert re.search(r"^error: .*val_filelist.txt:5: not UTF-8 text: byte b'\\xff'", proc.stderr), proc.stderr


def test_source_picks_the_crawl(tree):
    from webvision.core.constants import SOURCES
    from webvision.dataflow import dataset as wd
    assert run_program('preprocess', '--root', tree).returncode == 0
    sizes = {src: len(wd.WebVisionFiles(tree, 'train', source=src)) for src in SOURCES}
    assert sizes == {'all': 10, 'google': 7, 'flickr': 3}
    with pytest.raises(wd.DataError, match='train_google.txt'):
        wd.WebVisionFiles(os.path.join(tree, 'test'), 'train', source='google')
