"""A WebVision 2018 download prepared by webvision-prepare, then trained on: the broken images are
skipped and listed."""
import json
import os

from conftest import run_driver
from helpers.programs import run_program
from helpers.tree2018 import add_quirky_images, make_2018_tree


def test_prepared_tree_trains_skipping_the_broken_images(tmp_path):
    tree = make_2018_tree(tmp_path)
    assert run_program('preprocess', '--root', tree).returncode == 0
    add_quirky_images(tree)
    assert len(open(os.path.join(tree, 'meta', 'train.txt')).read().split('\n')) - 1 == 16     # 10 prepared + 6 quirky
    logdir = str(tmp_path / 'run')
    run_driver('-d', '18', '--image-size', '32', '--batch', '4', '--workers', '1', '--data', tree,
               '--logdir', logdir, '--epochs', '1', '--steps-per-epoch', '4')     # exactly one pass
    bad = sorted(line.split('\t')[0].rsplit('/', 1)[1] for line in open(os.path.join(logdir, 'bad_images.txt')))
    # the PNG, GIF, CMYK, gray and cut-short ones decoded (the loader may have begun a second pass)
    assert sorted(set(bad)) == ['broken.jpg', 'garbage.jpg']
    with open(os.path.join(logdir, 'stats.json')) as f:
        stats = json.load(f)[-1]
    assert stats['global_step'] == 4 and stats['bad-images'] >= 2
