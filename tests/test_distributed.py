"""Multi-machine training on 127.0.0.1: two worker processes, TensorFlow servers and collective
all-reduce, checked step by step against one process averaging the same two half-batches."""
import glob
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import ROOT, run_driver

HELPER = os.path.join(ROOT, 'tests', 'dist_worker.py')


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(args, log):
    return subprocess.Popen([sys.executable] + [str(a) for a in args], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def wait_all(procs, logs, timeout=300):
    for proc, log in zip(procs, logs):
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        assert code == 0, open(log.name).read()[-4000:]


def load(out, name, step):
    with np.load(os.path.join(out, '{}-step{}.npz'.format(name, step)), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_two_workers_apply_the_averaged_gradients_of_both(tmp_path):
    out = str(tmp_path)
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    logs = [open(os.path.join(out, 'worker{}.log'.format(i)), 'w') for i in range(2)]
    procs = [start([HELPER, '--out', out, '--hosts', hosts, '--task-index', i], logs[i]) for i in range(2)]
    wait_all(procs, logs)
    ref_log = open(os.path.join(out, 'reference.log'), 'w')
    wait_all([start([HELPER, '--out', out, '--reference'], ref_log)], [ref_log])

    steps = 3
    assert len(glob.glob(os.path.join(out, 'worker1-step*.npz'))) == steps + 1
    for step in range(steps + 1):
        w0, w1, ref = load(out, 'worker0', step), load(out, 'worker1', step), load(out, 'reference', step)
        assert w0.keys() == w1.keys() == ref.keys() and len(w0) > 40
        for name in w0:
            assert np.array_equal(w0[name], w1[name]), (step, name)     # the same update on both
            np.testing.assert_allclose(w0[name], ref[name], rtol=1e-4, atol=2e-5, err_msg='{} {}'.format(step, name))
    first, last = load(out, 'worker0', 0), load(out, 'worker0', steps)
    moved = [n for n in first if not np.allclose(first[n], last[n])]
    assert len(moved) > 0.9 * len(first)                                 # it did train


def test_driver_on_two_workers_chief_writes_and_shares_the_data(demo_root, tmp_path):
    logdir = str(tmp_path / 'run')
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    flags = ['imagenet-resnet.py', '--data', demo_root, '-d', 18, '--image-size', 32, '--batch', 8, '--epochs', 1,
             '--steps-per-epoch', 3, '--no-val', '--workers', 1, '--logdir', logdir, '--hosts', hosts]
    logs = [open(str(tmp_path / 'driver{}.log'.format(i)), 'w') for i in range(2)]
    procs = [start(flags + ['--task-index', i], logs[i]) for i in range(2)]
    wait_all(procs, logs)
    chief, other = open(logs[0].name).read(), open(logs[1].name).read()
    assert os.path.isfile(os.path.join(logdir, 'model-3.index'))          # the chief's checkpoint
    assert 'gradients all-reduced over 2 workers' in chief and 'Worker 1 of 2' in other
    assert 'global batch 16' in chief and 'model-' not in other.replace('resnet_model', '')
    assert not os.path.exists(os.path.join(logdir, 'worker-1', 'checkpoint'))


def test_cluster_flags_are_checked():
    for flags, message in ((['--hosts', '127.0.0.1:1,127.0.0.1:2'], '--hosts needs --task-index'),
                           (['--hosts', '127.0.0.1:1', '--task-index', 1], 'task index 1 is outside the 1 workers'),
                           (['--hosts', 'nohost', '--task-index', 0], "'nohost' is not HOST:PORT"),
                           (['--hosts', '127.0.0.1:1,127.0.0.1:2', '--task-index', 0, '--gpu', '0,1'],
                            'one process per GPU')):
        proc = run_driver(*flags, '--fake', check=False, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr, proc.stderr[-2000:]
