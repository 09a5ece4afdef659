"""webvision-ensemble's memory: its own process's peak, so a fresh process."""
import json
import subprocess
import sys

import numpy as np

from webvision.results.probs import probs_writer


def test_ensemble_memory_stays_at_a_block_per_matrix(tmp_path):
    """Four 200 MB matrices (float16, 20,000 x 5,000): the process stays far below their size."""
    names = ['img{}.jpg'.format(i) for i in range(20000)]
    list_path = tmp_path / 'val.txt'
    list_path.write_text(''.join(n + ' 0\n' for n in names))
    rng = np.random.RandomState(0)
    for s in range(4):
        with probs_writer(str(tmp_path / '{}.npy'.format(s)), names, 5000) as out:
            for start in range(0, 20000, 2000):
                block = rng.uniform(0, 1, (2000, 5000))
                out[start:start + 2000] = (block / block.sum(axis=1, keepdims=True)).astype(np.float16)
    # VmHWM: the peak of this process image (ru_maxrss would carry the forking test process's over exec)
    code = ('import sys; from webvision.commands.ensemble import main; main(sys.argv[1:]); '
            'print(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")))')
    proc = subprocess.run([sys.executable, '-c', code, '--probs'] +
                          [str(tmp_path / '{}.npy'.format(s)) for s in range(4)] +
                          ['--list', str(list_path), '--out', str(tmp_path / 'o.json'), '--block', '1024'],
                          capture_output=True, text=True, check=True)
    peak_mb = int(proc.stdout.strip().splitlines()[-1]) / 1024.
    assert peak_mb < 400, peak_mb       # the matrices are 800 MB; a block of 1,024 rows is 20 MB each
    assert len(json.load(open(tmp_path / 'o.json'))) == 20000
