"""Multi-machine training on 127.0.0.1: two worker processes, TensorFlow servers and collective
all-reduce, checked step by step against one process averaging the same two half-batches."""
import glob
import os
import re
import signal
import socket
import subprocess
import time

import numpy as np

from conftest import ROOT
from helpers import forked
from webvision.weights.checkpoints import read_weights


HELPER = os.path.join(ROOT, 'tests', 'helpers', 'dist_worker.py')


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(('127.0.0.1', 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(args, log):
    """``python3 SCRIPT ARGS`` (``args``), its output in the open file ``log``: forked from the
    worker's server that has imported TensorFlow (helpers.forked), a process of its own."""
    return forked.start(args[1:], log.name, log.name, script=os.path.join(ROOT, str(args[0])))


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


def test_recipe_flags_on_two_workers(demo_root, tmp_path):
    """Mixing, a robust loss, the weight average and per-image losses with the collective trainer:
    the chief checkpoints the average, and each worker writes the losses of its own share."""
    logdir = str(tmp_path / 'run')
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    flags = ['imagenet-resnet.py', '--data', demo_root, '-d', 18, '--image-size', 32, '--batch', 8, '--epochs', 1,
             '--steps-per-epoch', 3, '--no-val', '--workers', 1, '--logdir', logdir, '--hosts', hosts,
             '--mixup', 0.2, '--cutmix', 1.0, '--loss', 'sce', '--ema', 0.99, '--sample-loss', '--lr-schedule', 'cosine']
    logs = [open(str(tmp_path / 'driver{}.log'.format(i)), 'w') for i in range(2)]
    procs = [start(flags + ['--task-index', i], logs[i]) for i in range(2)]
    wait_all(procs, logs)
    assert 'conv0/W/ExponentialMovingAverage' in read_weights(os.path.join(logdir, 'model-3'))
    chief = np.load(os.path.join(logdir, 'sample_loss', 'epoch-1.npy'))
    other = np.load(os.path.join(logdir, 'sample_loss', 'epoch-1.task-1.npy'))
    assert chief.shape == other.shape and 0 < np.isfinite(chief).sum() <= 24 and np.isfinite(other).any()
    assert not (np.isfinite(chief) & np.isfinite(other)).any()      # the shards are disjoint


def driver_flags(demo_root, logdir, hosts, epochs, steps=3):
    return ['imagenet-resnet.py', '--data', demo_root, '-d', 18, '--image-size', 32, '--batch', 8, '--epochs', epochs,
            '--steps-per-epoch', steps, '--no-val', '--workers', 1, '--logdir', logdir, '--hosts', hosts]


def test_every_worker_resumes_from_the_chiefs_step_and_schedule(demo_root, tmp_path):
    from webvision.train.lr import learning_rate_at
    logdir = str(tmp_path / 'run')
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    logs = [open(str(tmp_path / 'first{}.log'.format(i)), 'w') for i in range(2)]
    wait_all([start(driver_flags(demo_root, logdir, hosts, 1) + ['--task-index', i], logs[i]) for i in range(2)], logs)
    # again with one more epoch; worker 1's own folder is empty, as on another machine
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    logs = [open(str(tmp_path / 'second{}.log'.format(i)), 'w') for i in range(2)]
    own = [logdir, str(tmp_path / 'elsewhere')]
    wait_all([start(driver_flags(demo_root, own[i], hosts, 2) + ['--task-index', i], logs[i]) for i in range(2)], logs)
    chief, other = open(logs[0].name).read(), open(logs[1].name).read()
    assert 'Resuming from {}/model-3: global step 3, epoch 2'.format(logdir) in chief
    assert 'Following the chief: global step 3, epoch 2' in other
    lr = learning_rate_at(3, base_lr=0.1 * 16 / 256, steps_per_epoch=3, epochs=2)
    for log in (chief, other):
        assert 'At global_step=3, learning_rate is set to {:.6f}'.format(lr) in log
        assert 'Start Epoch 1 ' not in log and 'Epoch 2 (global_step 6) finished' in log
    assert os.path.isfile(os.path.join(logdir, 'model-6.index'))


def stop_after_start(proc, log, stop, seconds):
    """Calls ``stop`` ``seconds`` after ``proc`` started its first epoch (per its log)."""
    deadline = time.time() + 300
    while 'Start Epoch 1' not in open(log.name).read():
        assert proc.poll() is None and time.time() < deadline, open(log.name).read()[-3000:]
        time.sleep(0.5)
    time.sleep(seconds)
    stop()


def kill_all(procs):
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)


def test_a_lost_worker_stops_the_others_with_one_line(demo_root, tmp_path):
    logdir = str(tmp_path / 'run')
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    logs = [open(str(tmp_path / 'w{}.log'.format(i)), 'w') for i in range(2)]
    procs = [start(driver_flags(demo_root, logdir, hosts, 3, steps=200) + ['--task-index', i], logs[i])
             for i in range(2)]
    try:
        stop_after_start(procs[1], logs[1], lambda: procs[1].send_signal(signal.SIGKILL), 3)
        assert procs[0].wait(timeout=120) == 1
    finally:
        kill_all(procs)
    log = open(logs[0].name).read()
    errors = [line for line in log.splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and 'Traceback' not in log, log[-3000:]
    port = hosts.split(',')[1]
    assert re.match(r'error: worker 1 \({}\) stopped answering at global step \d+ \(seen by worker 0 of 2\); '
                    r'rerun the same command on every worker to resume from '.format(re.escape(port)),
                    errors[0]), errors[0]


def test_a_worker_that_stops_answering_without_a_reset_times_out(demo_root, tmp_path):
    import psutil
    hosts = ','.join('127.0.0.1:{}'.format(p) for p in free_ports(2))
    logs = [open(str(tmp_path / 'w{}.log'.format(i)), 'w') for i in range(2)]
    flags = driver_flags(demo_root, str(tmp_path / 'run'), hosts, 3, steps=200) + ['--collective-timeout', 5]
    procs = [start(flags + ['--task-index', i], logs[i]) for i in range(2)]
    try:
        # a machine gone quiet: its sockets stay open
        stop_after_start(procs[1], logs[1], psutil.Process(procs[1].pid).suspend, 2)
        started = time.time()
        assert procs[0].wait(timeout=120) == 1
        assert time.time() - started < 60
    finally:
        kill_all(procs)
    errors = [line for line in open(logs[0].name).read().splitlines() if line.startswith('error: ')]
    assert len(errors) == 1 and 'stopped answering at global step' in errors[0], errors
