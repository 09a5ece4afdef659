"""webvision-plot-log (utils/plot_log.py): training curves from stats.json."""
import json

import pytest

from helpers.programs import run_program
from helpers.scoring import write


def test_plot_log_draws_a_png(tmp_path):
    stats = [{'epoch_num': e, 'global_step': 10 * e, 'learning_rate': 0.1 / e, 'train-error-top1': 0.9 / e,
              'train-error-top5': 0.5 / e, 'val-error-top1': 0.8 / e, 'val-error-top5': 0.4 / e,
              'val-balanced-error-top1': 0.85 / e, 'val-balanced-error-top5': 0.45 / e} for e in (1, 2, 3)]
    write(tmp_path / 'stats.json', json.dumps(stats))
    proc = run_program('plot_log', tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = open(str(tmp_path / 'curves.png'), 'rb').read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10000
    empty = tmp_path / 'none'
    empty.mkdir()
    proc = run_program('plot_log', empty)
    assert proc.returncode == 1 and 'stats.json: no such file' in proc.stderr


@pytest.mark.parametrize('stats,message', [('{"a": 1}', 'expected a list of epochs, got dict'),
                                           ('[1, 2]', 'entry 1 has no epoch_num: 1'),
                                           ('[{"epoch_num": 1}', 'not JSON')])
def test_plot_log_refuses_stats_that_are_not_a_history(tmp_path, stats, message):
    write(tmp_path / 'stats.json', stats)
    proc = run_program('plot_log', tmp_path)
    assert proc.returncode == 1 and message in proc.stderr and 'Traceback' not in proc.stderr, proc.stderr
