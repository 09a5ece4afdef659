"""WebVision 1.0 and 2.0 trees, the mini-WebVision subset, ILSVRC2012 val as a test root, and the
data checker, on made-up trees of 60 classes with CRLF lists (tests/helpers/trees.py), kept
outside the repository."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_driver
from helpers.driver import SMALL
from helpers.trees import FLICKR, GOOGLE, TEST, VAL, make_imagenet_val, make_tree, synsets_of


UTILS = os.path.join(ROOT, 'utils')


def script(name, *args, check=True):
    proc = subprocess.run([sys.executable, os.path.join(UTILS, name)] + [str(a) for a in args],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert 'Traceback' not in proc.stderr, proc.stderr
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def rows(path):
    with open(path) as f:
        return [line.rsplit(None, 1) for line in f if line.strip()]


def snapshot(tree):
    """path -> (inode, size, mtime) of every file of the extracted tree."""
    out = {}
    for folder, _, files in os.walk(tree):
        for f in files:
            st = os.stat(os.path.join(folder, f))
            out[os.path.join(folder, f)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope='module')
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp('webvision')
    made = {}
    for version in ('1.0', '2.0'):
        made[version] = str(base / 'tree-{}'.format(version))
        make_tree(made[version], version)
    return made


@pytest.mark.parametrize('version', ['1.0', '2.0'])
def test_either_release_is_recognised_and_counted_exactly(trees, version, tmp_path):
    tree, out = trees[version], str(tmp_path / 'prepared')
    before = snapshot(tree)
    for _ in range(2):                                          # rerunnable
        proc = script('preprocess.py', '--root', tree, '--out', out)
    assert snapshot(tree) == before                             # nothing moved, copied or deleted
    assert 'WebVision {}, 60 classes'.format(version) in proc.stdout
    train = rows(os.path.join(out, 'meta', 'train.txt'))
    assert len(train) == 60 * (GOOGLE + FLICKR) and len(rows(os.path.join(out, 'meta', 'train_google.txt'))) == 60 * GOOGLE
    assert sorted({int(label) for _, label in train}) == list(range(60))
    assert ['google/q0008/000001.jpg', '7'] in train and ['flickr/q0060/000000.jpg', '59'] in train
    val = rows(os.path.join(out, 'meta', 'val.txt'))
    assert len(val) == 60 * VAL and val[5] == ['val000005.jpg', '2']
    assert len(rows(os.path.join(out, 'test', 'meta', 'val.txt'))) == TEST
    assert [r[0] for r in rows(os.path.join(out, 'meta', 'synsets.txt'))][:3] == synsets_of(version, 3)
    with open(os.path.join(out, 'meta', 'dataset.json')) as f:
        info = json.load(f)
    assert info['version'] == version and info['images'] == {'train': 240, 'train_google': 180, 'train_flickr': 60,
                                                             'val': 120, 'test': TEST}
    assert os.path.isfile(os.path.join(out, 'val', 'val000119.jpg'))         # through the link


def test_a_tree_with_both_layouts_needs_the_version(trees, tmp_path):
    tree = str(tmp_path / 'both')
    shutil.copytree(trees['2.0'], tree, symlinks=True)
    os.makedirs(os.path.join(tree, 'val_images_256'))
    proc = script('preprocess.py', '--root', tree, check=False)
    assert proc.returncode == 1 and 'both WebVision 1.0 and 2.0' in proc.stderr and '--version' in proc.stderr
    assert 'WebVision 2.0' in script('preprocess.py', '--root', tree, '--version', '2.0').stdout
    proc = script('preprocess.py', '--root', str(tmp_path), check=False)
    assert proc.returncode == 1 and 'not an extracted WebVision tree' in proc.stderr


def test_mini_subset_links_the_google_images_of_the_first_50_classes(trees, tmp_path):
    tree, mini = trees['1.0'], str(tmp_path / 'mini')
    before = snapshot(tree)
    proc = script('preprocess.py', '--root', tree, '--subset', 'mini', '--out', mini)
    assert snapshot(tree) == before
    assert 'classes 0-49 of {}, google images'.format(tree) in proc.stdout
    train = rows(os.path.join(mini, 'meta', 'train.txt'))
    assert len(train) == 50 * GOOGLE and all(n.startswith('google/') for n, _ in train)
    assert sorted({int(label) for _, label in train}) == list(range(50))            # ids kept
    assert ['google/q0050/000002.jpg', '49'] in train
    assert len(rows(os.path.join(mini, 'meta', 'val.txt'))) == 50 * VAL
    assert [r[0] for r in rows(os.path.join(mini, 'meta', 'synsets.txt'))] == synsets_of('1.0', 50)
    assert os.path.islink(os.path.join(mini, 'train', 'google')) and not os.path.lexists(os.path.join(mini, 'train', 'flickr'))
    assert os.readlink(os.path.join(mini, 'val')) == os.path.join(tree, 'val_images_256')
    files = [os.path.join(d, f) for d, _, fs in os.walk(mini) for f in fs]
    assert not any(f.endswith('.jpg') for f in files)                               # no copies
    assert len(rows(os.path.join(mini, 'test', 'meta', 'val.txt'))) == TEST


def test_a_class_range_of_both_crawls_is_renumbered_from_zero(trees, tmp_path):
    out = str(tmp_path / 'part')
    script('preprocess.py', '--root', trees['2.0'], '--subset', 'classes:10-19', '--source', 'all', '--out', out)
    train = rows(os.path.join(out, 'meta', 'train.txt'))
    assert len(train) == 10 * (GOOGLE + FLICKR) and ['google/q0011/000000.jpg', '0'] in train
    assert ['flickr/q0020/000000.jpg', '9'] in train and len(rows(os.path.join(out, 'meta', 'train_flickr.txt'))) == 10
    assert [int(v) for _, v in rows(os.path.join(out, 'meta', 'val.txt'))] == sorted(list(range(10)) * VAL)
    with open(os.path.join(out, 'meta', 'dataset.json')) as f:
        assert json.load(f)['first_class'] == 10
    for bad, message in ((['--subset', 'classes:5'], "expected 'mini' or 'classes:FIRST-LAST'"),
                         (['--subset', 'classes:50-99'], 'has 60 classes'),
                         (['--subset', 'classes:9-3'], 'FIRST must not be above LAST')):
        proc = script('preprocess.py', '--root', trees['2.0'], '--out', str(tmp_path / 'x'), *bad, check=False)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    proc = script('preprocess.py', '--root', trees['2.0'], '--subset', 'mini', check=False)
    assert proc.returncode == 1 and 'give --out DIR' in proc.stderr


@pytest.mark.parametrize('layout', ['folders', 'kaggle', 'names'])
def test_imagenet_val_becomes_a_test_root_of_the_given_classes(tmp_path, layout):
    wnids = synsets_of('1.0', 60)
    meta = tmp_path / 'mini' / 'meta'
    meta.mkdir(parents=True)
    (meta / 'synsets.txt').write_text(''.join(w + '\n' for w in wnids[:50]))
    folder = str(tmp_path / 'imagenet' / 'val')
    truth = make_imagenet_val(folder, wnids[:55], per_class=2, layout='folders' if layout == 'folders' else 'flat')
    labels = {'kaggle': ['--labels', str(tmp_path / 'imagenet' / 'LOC_val_solution.csv')],
              'names': ['--labels', str(tmp_path / 'imagenet' / 'labels.txt')]}.get(layout, [])
    out = str(tmp_path / 'imagenet-mini')
    proc = script('prepare_imagenet_val.py', '--imagenet-val', folder, '--synsets', str(meta / 'synsets.txt'),
                  '--out', out, *labels)
    assert '100 ILSVRC2012 val images of 50 of the 50 classes' in proc.stdout
    assert 'left out: 10 images of 5 classes not in --synsets' in proc.stdout
    got = rows(os.path.join(out, 'meta', 'val.txt'))
    assert len(got) == 100
    for name, label in got:
        assert wnids[int(label)] == truth[os.path.basename(name)]
        assert os.path.isfile(os.path.join(out, 'val', name))
    assert [r[0] for r in rows(os.path.join(out, 'meta', 'synsets.txt'))] == wnids[:50]


def test_imagenet_val_refuses_bad_labels_naming_the_line(tmp_path):
    folder = tmp_path / 'val'
    folder.mkdir()
    (tmp_path / 'synsets.txt').write_text('n01440764\n')
    for text, message in (('a.JPEG n01440764\nb.JPEG tench\n', "labels.txt:2: expected \"name wnid\", got 'b.JPEG tench'"),
                          ('../../etc/passwd n01440764\n', 'labels.txt:1: image name'),
                          ('ImageId,PredictionString\nx,\n', 'labels.txt:2: expected "ImageId,wnid ..."')):
        (tmp_path / 'labels.txt').write_text(text)
        proc = script('prepare_imagenet_val.py', '--imagenet-val', folder, '--synsets', tmp_path / 'synsets.txt',
                      '--labels', tmp_path / 'labels.txt', '--out', tmp_path / 'out', check=False)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    proc = script('prepare_imagenet_val.py', '--imagenet-val', folder, '--synsets', tmp_path / 'synsets.txt',
                  '--out', tmp_path / 'out', check=False)
    assert proc.returncode == 1 and 'no class folders' in proc.stderr


def test_train_on_mini_then_evaluate_on_imagenet_val(trees, tmp_path):
    mini, logdir = str(tmp_path / 'mini'), str(tmp_path / 'run')
    script('preprocess.py', '--root', trees['1.0'], '--subset', 'mini', '--out', mini)
    assert 'no errors' in script('check_data.py', '--root', mini).stdout
    run_driver(*SMALL, '--data', mini, '--logdir', logdir, '--epochs', 1, '--steps-per-epoch', 2)
    with open(os.path.join(logdir, 'stats.json')) as f:
        assert 0 <= json.load(f)[-1]['val-error-top1'] <= 1                     # validated on the mini val
    folder = str(tmp_path / 'imagenet' / 'val')
    make_imagenet_val(folder, synsets_of('1.0', 52), per_class=2)
    test_root = str(tmp_path / 'imagenet-mini')
    script('prepare_imagenet_val.py', '--imagenet-val', folder, '--synsets', os.path.join(mini, 'meta', 'synsets.txt'),
           '--out', test_root)
    proc = run_driver(*SMALL, '--data', test_root, '--eval', '--load', logdir)
    assert 'Balanced Top5 Error:' in proc.stdout
    assert 'no errors' in script('check_data.py', '--root', test_root, '--load', logdir).stdout
    proc = script('check_data.py', '--root', os.path.join(trees['1.0']), check=False)         # not prepared
    assert proc.returncode == 1 and 'no meta/ folder' in proc.stderr


def test_checker_finds_planted_faults(trees, tmp_path):
    tree, root = str(tmp_path / 'tree'), str(tmp_path / 'root')
    shutil.copytree(trees['2.0'], tree)
    script('preprocess.py', '--root', tree, '--out', root)
    assert script('check_data.py', '--root', root, '--decode', 'all').returncode == 0
    os.makedirs(os.path.join(tree, 'google', 'q0100'))
    shutil.copy(os.path.join(tree, 'val_images_resized', 'val000007.jpg'), os.path.join(tree, 'google', 'q0100', 'v.jpg'))
    with open(os.path.join(tree, 'google', 'q0100', 'page.jpg'), 'w') as f:
        f.write('<html>404</html>')
    with open(os.path.join(root, 'meta', 'train.txt'), 'a') as f:
        f.write('google/q0001/000000.jpg 99\ngoogle/q0001/000001.jpg 0\ngoogle/q0099/gone.jpg 3\n'
                'google/q0100/page.jpg 4\ngoogle/q0100/v.jpg 3\n../../etc/passwd 1\n')
    npz = str(tmp_path / 'w.npz')
    np.savez(npz, **{'linear/b': np.zeros(1000, np.float32), 'linear/W': np.zeros((4, 1000), np.float32)})
    proc = script('check_data.py', '--root', root, '--decode', 'all', '--load', npz, check=False)
    out, train = proc.stdout, os.path.join(root, 'meta', 'train.txt')
    assert proc.returncode == 1 and '7 error(s)' in out, out
    assert '{}:241: label 99 is outside [0, 60)'.format(train) in out
    assert "{}:242: 'google/q0001/000001.jpg' is also line 2".format(train) in out
    assert "{}:243: 'google/q0099/gone.jpg' is not a file".format(train) in out
    assert '{}:244: {}/train/google/q0100/page.jpg does not decode (not a decodable image)'.format(train, root) in out
    assert '{}:245: {}/train/google/q0100/v.jpg has the same bytes as {}/meta/val.txt:8'.format(train, root, root) in out
    assert "{}:246: '../../etc/passwd' leaves the image folder".format(train) in out
    assert '{}: its head has 1,000 classes, {}/meta/synsets.txt has 60'.format(npz, root) in out


def test_checker_catches_the_val_list_of_another_release(trees, tmp_path):
    root = str(tmp_path / 'root')
    script('preprocess.py', '--root', trees['2.0'], '--out', root)
    with open(os.path.join(root, 'meta', 'val.txt'), 'w') as f:              # a list of the first 20 classes only
        f.write(''.join('val{:06d}.jpg {}\n'.format(i, i // VAL) for i in range(20 * VAL)))
    proc = script('check_data.py', '--root', root, check=False)
    assert proc.returncode == 1
    assert '{}/meta/val.txt: labels only classes 0-19 of the 60 in meta/synsets.txt'.format(root) in proc.stdout
    assert 'a model scores 0 %' in proc.stdout
    with open(os.path.join(root, 'meta', 'dataset.json')) as f:
        info = json.load(f)
    assert info['version'] == '2.0'


def test_checker_reports_every_kind_of_fault_in_one_run(tmp_path):
    meta = tmp_path / 'root' / 'meta'
    meta.mkdir(parents=True)
    (meta / 'synsets.txt').write_text('n1\nn2\nn1\n')
    (meta / 'val.txt').write_bytes(b'a.jpg 0\n\xff.jpg 1\n')
    proc = script('check_data.py', '--root', tmp_path / 'root', check=False)
    assert proc.returncode == 1 and '2 error(s)' in proc.stdout
    assert '{}:3: n1 is also line 1'.format(meta / 'synsets.txt') in proc.stdout
    assert "{}:2: not UTF-8 text: byte b'\\xff'".format(meta / 'val.txt') in proc.stdout


def test_checker_reports_missing_and_special_val_files_with_its_shared_image_search(trees, tmp_path):
    """The default search for val images that are training images: a missing val file, a FIFO and a
    folder among the val images are findings like the others, never an abort or a hang."""
    tree, root = str(tmp_path / 'tree'), str(tmp_path / 'root')
    shutil.copytree(trees['2.0'], tree)
    script('preprocess.py', '--root', tree, '--out', root)
    images = os.path.join(tree, 'val_images_resized')
    os.remove(os.path.join(images, 'val000001.jpg'))
    os.remove(os.path.join(images, 'val000002.jpg'))
    os.mkfifo(os.path.join(images, 'val000002.jpg'))
    os.remove(os.path.join(images, 'val000003.jpg'))
    os.mkdir(os.path.join(images, 'val000003.jpg'))
    proc = subprocess.run([sys.executable, os.path.join(UTILS, 'check_data.py'), '--root', root],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    out, val = proc.stdout, os.path.join(root, 'meta', 'val.txt')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr and not proc.stderr.startswith('error'), proc.stderr
    assert '3 error(s)' in out, out
    for line, name in ((2, 'val000001.jpg'), (3, 'val000002.jpg'), (4, 'val000003.jpg')):
        assert "{}:{}: '{}' is not a file in {}".format(val, line, name, os.path.join(root, 'val')) in out, out
    assert 'val images also in train: compared' in out


def test_imagenet_val_refuses_a_repeated_synset(tmp_path):
    """Two class ids for one wnid: the root would be refused by check_data; refused here first."""
    folder = tmp_path / 'val'
    (folder / 'n01440764').mkdir(parents=True)
    (tmp_path / 'synsets.txt').write_text('n01440764\n\nn01443537\nn01440764\n')
    proc = script('prepare_imagenet_val.py', '--imagenet-val', folder, '--synsets', tmp_path / 'synsets.txt',
                  '--out', tmp_path / 'out', check=False)
    assert proc.returncode == 1
    assert '{}:4: n01440764 is also line 1: a class listed twice'.format(tmp_path / 'synsets.txt') in proc.stderr
    assert not (tmp_path / 'out').exists()


def test_a_1_0_tree_with_its_val_list_also_at_the_root_prepares_as_1_0(trees, tmp_path):
    tree, out = str(tmp_path / 'tree'), str(tmp_path / 'prepared')
    shutil.copytree(trees['1.0'], tree, symlinks=True)
    for name in ('val_filelist.txt', 'test_filelist.txt'):      # as some copies of 1.0 keep them
        shutil.copy(os.path.join(tree, 'info', name), os.path.join(tree, name))
    assert 'WebVision 1.0' in script('preprocess.py', '--root', tree, '--out', out).stdout
