"""webvision/results/stats.py: reading a run's stats.json and trimming it when the run resumes."""
import json

import pytest

from webvision.core.errors import DataError, InputError
from webvision.results.stats import VAL_ERRORS, read_stats, series, trim_stats


def write_stats(folder, stats):
    (folder / 'stats.json').write_text(json.dumps(stats) if not isinstance(stats, str) else stats)


def test_trim_drops_epochs_after_the_checkpoint_and_keeps_the_rest(tmp_path):
    write_stats(tmp_path, [{'epoch_num': e, 'val-error-top1': 1 / e} for e in (1, 2, 3, 4)])
    assert trim_stats(str(tmp_path), 2) == 2
    assert [s['epoch_num'] for s in read_stats(str(tmp_path))] == [1, 2]
    assert trim_stats(str(tmp_path), 5) == 0 and trim_stats(str(tmp_path / 'none'), 1) == 0
    assert series(read_stats(str(tmp_path)), VAL_ERRORS[0]) == ([1, 2], [1.0, 0.5])


@pytest.mark.parametrize('text', ['{"a": 1}', '[1, 2]', '[{"epoch_num": 1}'])
def test_trim_refuses_what_is_not_a_history(tmp_path, text):
    write_stats(tmp_path, text)
    with pytest.raises(DataError, match="stats.json: .*not the run's statistics; move it aside to resume"):
        trim_stats(str(tmp_path), 1)
    assert (tmp_path / 'stats.json').read_text() == text             # untouched


def test_read_stats_needs_epochs(tmp_path):
    with pytest.raises(FileNotFoundError, match='is .* a training log folder'):
        read_stats(str(tmp_path))
    write_stats(tmp_path, [])
    with pytest.raises(InputError, match='no epoch recorded yet'):
        read_stats(str(tmp_path))
    write_stats(tmp_path, [{'epoch_num': True}])
    with pytest.raises(InputError, match='entry 1 has no epoch_num'):
        read_stats(str(tmp_path))
