"""webvision/data/bad_images.py: the list of undecodable images and the guard that stops a run when most fail."""
import multiprocessing as mp
import os
import re

import pytest

from webvision.data.bad_images import BadImageGuard, BadImageLog, TooManyBadImages, bad_log_path


def test_bad_image_guard_judges_windows():
    guard = BadImageGuard(0.5, window=100)
    for _ in range(10):
        guard.record(10, 5)                                                # exactly half: allowed
    guard.record(60, 60)
    with pytest.raises(TooManyBadImages, match='60 of the last 100'):
        guard.record(40, 0)


def _add_many(args):
    path, k = args
    log = BadImageLog(path)
    for i in range(200):
        log.add('/data/{}/{}.jpg'.format(k, i), 'not a decodable image')


def test_lines_from_several_processes_do_not_mix(tmp_path):
    path = bad_log_path(str(tmp_path))
    with mp.get_context('fork').Pool(4) as pool:
        pool.map(_add_many, [(path, k) for k in range(4)])
    with open(path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 800 == BadImageLog(path).count()
    assert all(re.fullmatch(r'/data/\d/\d+\.jpg\tnot a decodable image', line) for line in lines)
    assert BadImageLog(None).count() == 0 and BadImageLog(str(tmp_path / 'none')).count() == 0


def test_workers_list_theirs_apart(tmp_path):
    assert bad_log_path(str(tmp_path), 0) == str(tmp_path / 'bad_images.txt')
    assert bad_log_path(str(tmp_path), 2) == str(tmp_path / 'worker-2' / 'bad_images.txt')
    assert os.path.isdir(str(tmp_path / 'worker-2'))
