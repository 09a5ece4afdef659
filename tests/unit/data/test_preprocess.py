"""utils/preprocess.py on a made-up WebVision 2018 tree with web quirks, then a few training steps."""
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, run_driver

pytestmark = pytest.mark.e2e      # each test runs programs in fresh processes

SCRIPT = os.path.join(ROOT, 'utils', 'preprocess.py')


def photo(i):
    from skimage.data import coffee
    im = coffee()[i * 20:i * 20 + 120, i * 25:i * 25 + 160]
    return np.ascontiguousarray(im[:, :, ::-1])


@pytest.fixture
def tree(tmp_path):
    """3 classes; class 2 has no train image; one listed file is missing, one is empty; CRLF lists."""
    root = tmp_path / 'webvision'
    for d in ('info', 'google/q0001', 'google/q0002', 'flickr/q0001', 'val_images_resized', 'test_images_resized'):
        (root / d).mkdir(parents=True)
    (root / 'info' / 'synsets.txt').write_bytes(b'n00000001 tench, Tinca tinca\r\nn00000002 goldfish\r\nn00000003 shark  \r\n\r\n')
    google, flickr = [], []
    for i in range(6):
        cv2.imwrite(str(root / 'google' / 'q0001' / '{:06d}.jpg'.format(i)), photo(i))
        google.append('google/q0001/{:06d}.jpg {}'.format(i, i % 2))
    for i in range(3):
        cv2.imwrite(str(root / 'flickr' / 'q0001' / '{:06d}.jpg'.format(i)), photo(i + 3))
        flickr.append('flickr/q0001/{:06d}.jpg 1'.format(i))
    (root / 'google' / 'q0002' / 'broken.jpg').write_bytes(b'')
    google.append('google/q0002/broken.jpg 0')
    google.append('google/q0002/gone.jpg 1')                    # listed, never downloaded
    for name, lines in (('train_filelist_google.txt', google), ('train_filelist_flickr.txt', flickr),
                        ('train_filelist_all.txt', google + flickr)):
        (root / 'info' / name).write_bytes(('\r\n'.join(lines) + '  \r\n\r\n').encode())
    val = []
    for i in range(4):
        cv2.imwrite(str(root / 'val_images_resized' / 'val{:06d}.jpg'.format(i)), photo(i))
        val.append('val{:06d}.jpg {}'.format(i, i % 3))
    (root / 'val_filelist.txt').write_text('\n'.join(val) + '\n')
    for i in range(2):
        cv2.imwrite(str(root / 'test_images_resized' / 'test{:06d}.jpg'.format(i)), photo(i))
    (root / 'test_filelist.txt').write_text('test000000.jpg\ntest000001.jpg\n')
    return str(root)


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
        proc = subprocess.run([sys.executable, SCRIPT, '--root', tree], capture_output=True, text=True)
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
    proc = subprocess.run([sys.executable, SCRIPT, '--root', tree], capture_output=True, text=True)
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
    proc = subprocess.run([sys.executable, SCRIPT, '--root', tree], capture_output=True, text=True)
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
    proc = subprocess.run([sys.executable, SCRIPT, '--root', tree], capture_output=True, text=True)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert re.search(r"^error: .*val_filelist.txt:5: not UTF-8 text: byte b'\\xff'", proc.stderr), proc.stderr


def add_quirky_images(tree):
    """Files with a .jpg name that are PNG, GIF, CMYK, grayscale or cut short (all decodable), and
    one that is an HTML page; listed in the prepared meta/train.txt (OpenCV 5 refuses the cut-short
    one; simplejpeg decodes what is there)."""
    from PIL import Image
    folder = os.path.join(tree, 'google', 'q0003')
    os.makedirs(folder)
    im = photo(1)
    _, jpeg = cv2.imencode('.jpg', im)
    blobs = {'png.jpg': cv2.imencode('.png', im)[1].tobytes(), 'gray.jpg': cv2.imencode('.jpg', im[:, :, 0])[1].tobytes(),
             'truncated.jpg': jpeg.tobytes()[:len(jpeg) * 2 // 3], 'garbage.jpg': b'<html>404</html>' * 30}
    for name, blob in blobs.items():
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(blob)
    Image.fromarray(im[:, :, ::-1]).save(os.path.join(folder, 'gif.jpg'), 'GIF')
    Image.fromarray(im[:, :, ::-1]).convert('CMYK').save(os.path.join(folder, 'cmyk.jpg'), 'JPEG')
    with open(os.path.join(tree, 'meta', 'train.txt'), 'a') as f:
        for name in sorted(blobs) + ['gif.jpg', 'cmyk.jpg']:
            f.write('google/q0003/{} 0\n'.format(name))


def test_prepared_tree_trains_skipping_the_broken_images(tree, tmp_path):
    subprocess.run([sys.executable, SCRIPT, '--root', tree], check=True, capture_output=True)
    add_quirky_images(tree)
    assert len(lines(os.path.join(tree, 'meta', 'train.txt'))) == 16     # 10 prepared + 6 quirky
    logdir = str(tmp_path / 'run')
    run_driver('-d', '18', '--image-size', '32', '--batch', '4', '--workers', '1', '--data', tree,
               '--logdir', logdir, '--epochs', '1', '--steps-per-epoch', '4')     # exactly one pass
    bad = sorted(line.split('\t')[0].rsplit('/', 1)[1] for line in open(os.path.join(logdir, 'bad_images.txt')))
    # the PNG, GIF, CMYK, gray and cut-short ones decoded (the loader may have begun a second pass)
    assert sorted(set(bad)) == ['broken.jpg', 'garbage.jpg']
    with open(os.path.join(logdir, 'stats.json')) as f:
        stats = json.load(f)[-1]
    assert stats['global_step'] == 4 and stats['bad-images'] >= 2


def test_source_picks_the_crawl(tree):
    from webvision.dataflow import dataset as wd
    subprocess.run([sys.executable, SCRIPT, '--root', tree], check=True, capture_output=True)
    sizes = {src: len(wd.WebVisionFiles(tree, 'train', source=src)) for src in wd.SOURCES}
    assert sizes == {'all': 10, 'google': 7, 'flickr': 3}
    with pytest.raises(wd.DataError, match='train_google.txt'):
        wd.WebVisionFiles(os.path.join(tree, 'test'), 'train', source='google')
