"""The embedded demo set has the prepared WebVision layout and looks like web data."""
import collections
import os

import cv2

from webvision.data.demo import build_demo


def read_list(path):
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def test_layout_and_properties(demo_root):
    meta = os.path.join(demo_root, 'meta')
    synsets = [line[0] for line in read_list(os.path.join(meta, 'synsets.txt'))]
    names = dict((line[0], ' '.join(line[1:])) for line in read_list(os.path.join(meta, 'synset_words.txt')))
    assert len(synsets) >= 10 and set(names) == set(synsets)

    train = read_list(os.path.join(meta, 'train.txt'))
    per_class = collections.Counter(int(label) for _, label in train)
    assert len(set(per_class.values())) > len(synsets) // 2         # uneven class sizes
    wrong = sum(synsets[int(label)] != path.split('/')[0] for path, label in train)
    assert 0 < wrong < len(train) * 0.2                            # some noisy labels, not many

    val = read_list(os.path.join(meta, 'val.txt'))
    assert {int(label) for _, label in val} == set(range(len(synsets)))
    for rel, _ in train[::25] + val[::10]:
        folder = 'train' if '/' in rel else 'val'
        im = cv2.imread(os.path.join(demo_root, folder, rel))
        assert im is not None and min(im.shape[:2]) == 256 and im.std() > 10, rel


def test_test_root_withholds_labels(demo_root):
    test_root = demo_root + '-test'
    lines = read_list(os.path.join(test_root, 'meta', 'val.txt'))
    assert lines and all(label == '0' for _, label in lines)
    assert all(os.path.isfile(os.path.join(test_root, 'val', name)) for name, _ in lines)


def test_rerun_skips_a_complete_build(demo_root, capsys):
    listing = os.path.join(demo_root, 'meta', 'train.txt')
    before = os.stat(listing).st_mtime_ns
    assert build_demo(demo_root) == (demo_root, demo_root + '-test')
    assert 'already complete' in capsys.readouterr().out
    assert os.stat(listing).st_mtime_ns == before


def test_the_default_demo_roots_are_where_the_makefile_looks():
    """data/webvision-demo of the checkout (the driver's default without --data) and
    data/digits-demo (make demo trains there, then evaluates DEMO_TEST)."""
    import re
    from conftest import ROOT
    from webvision.data.demo import DEFAULT_ROOT
    from webvision.data.digits import DIGITS_ROOT
    assert DEFAULT_ROOT == os.path.join(ROOT, 'data', 'webvision-demo')
    makefile = open(os.path.join(ROOT, 'Makefile')).read()
    value = lambda name: os.path.join(ROOT, re.search(r'^{} := (\S+)$'.format(name), makefile, re.M).group(1))  # noqa: E731
    assert value('DEMO_DATA') == DIGITS_ROOT and value('DEMO_TEST') == DIGITS_ROOT + '-test'
