"""The report page in a real browser: headless Chromium, installed where it can be (apt-get as root),
else the test says why it skips."""
import os
import re
import shutil
import subprocess

import pytest

from helpers.programs import run_program
from helpers.reports import make_root, make_run, predict


def chromium():
    """The chromium binary, installed with apt-get where possible; pytest.skip saying why not."""
    found = shutil.which('chromium') or shutil.which('chromium-browser')
    if found:
        return found
    if not shutil.which('apt-get') or os.geteuid() != 0:
        pytest.skip('headless Chromium is not installed and cannot be (needs apt-get as root): '
                    'apt-get install chromium to run this test')
    for cmd in (['apt-get', 'update', '-qq'], ['apt-get', 'install', '-y', '-qq', 'chromium']):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
        if proc.returncode != 0:
            pytest.skip('could not install chromium ({}): {}'.format(' '.join(cmd), proc.stderr[-300:]))
    return shutil.which('chromium')


def test_the_page_renders_in_a_real_browser_without_script_errors(tmp_path):
    browser = chromium()
    root, names, labels = make_root(tmp_path)
    pred, _ = predict(names, labels, 6, tmp_path)
    run = make_run(tmp_path, sum(3 + 4 * c for c in range(6)))
    out, shot = tmp_path / 'report.html', tmp_path / 'report.png'
    assert run_program('report', '--predictions', pred, '--labels', root / 'meta' / 'val.txt', '--logdir', run,
                      '--out', out).returncode == 0
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--enable-logging=stderr',
             '--v=0', '--host-resolver-rules=MAP * ~NOTFOUND', '--virtual-time-budget=5000']
    dom = subprocess.run([browser] + flags + ['--dump-dom', out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r'<body[^>]* data-ready="6"', dom.stdout), dom.stdout[:500]         # the script ran
    assert 'data-errors' not in dom.stdout
    tbody = re.search(r'<table id="table">.*?<tbody>(.*?)</tbody>', dom.stdout, re.S).group(1)   # the script's rows
    assert tbody.count('<tr class="cls">') == 6 and 'n00000005' in tbody
    console = [line for line in dom.stderr.splitlines() if 'CONSOLE' in line or 'Uncaught' in line]
    assert not console, console
    subprocess.run([browser] + flags + ['--window-size=1280,2400', '--screenshot={}'.format(shot), out.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and shot.stat().st_size > 20000
