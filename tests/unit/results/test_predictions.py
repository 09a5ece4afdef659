"""webvision/results/predictions.py: reading predictions files and checking their rows."""
import json

import pytest

from helpers.scoring import write
from webvision.core.errors import InputError
from webvision.results.predictions import read_predictions


def test_topk_rows_longer_than_five_and_ragged_rows_use_the_first_five():
    from webvision.results.predictions import topk_array
    want = [[0, 1, 2, 3, 4], [5, 6, 7, 0, 1]]
    assert topk_array('p', [[0, 1, 2, 3, 4, 5], [5, 6, 7, 0, 1, 2]], 8).tolist() == want
    assert topk_array('p', [[0, 1, 2, 3, 4], [5, 6, 7, 0, 1, 2]], 8).tolist() == want
    with pytest.raises(InputError, match=r'p: row 2: expected a list of integer class ids, got \[5, 6.5'):
        topk_array('p', [[0, 1, 2, 3, 4], [5, 6.5, 7, 0, 1]], 8)
    with pytest.raises(InputError, match=r'p: row 2: 4 class id\(s\), need 5'):
        topk_array('p', [[0, 1, 2, 3, 4], [5, 6, 7, 0]], 8)


def test_predictions_with_non_string_names_are_refused(tmp_path):
    pred = write(tmp_path / 'p.json', json.dumps([{'file': 'a', 'top5': [0]}, {'file': [1], 'top5': [0]}]))
    with pytest.raises(InputError, match=r'row 2: "file" must be a string, got \[1\]'):
        read_predictions(pred)
