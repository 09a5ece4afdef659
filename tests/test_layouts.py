"""lib/layouts: telling WebVision 1.0 from 2.0, subsets, meta/dataset.json."""
import json
import os

import pytest

from lib.errors import InputError
from lib.layouts import LAYOUTS, detect_version, parse_subset, read_dataset_json, write_dataset_json


@pytest.mark.parametrize('version', ['1.0', '2.0'])
def test_the_release_is_told_by_its_val_list_or_folder(tmp_path, version):
    (tmp_path / 'info').mkdir()
    (tmp_path / LAYOUTS[version]['val_list']).write_text('val000000.jpg 0\n')
    assert detect_version(str(tmp_path)) == version
    other = '2.0' if version == '1.0' else '1.0'
    (tmp_path / LAYOUTS[other]['val_images']).mkdir()
    with pytest.raises(InputError, match='both WebVision 1.0 and 2.0.*--version'):
        detect_version(str(tmp_path))


def test_a_folder_of_neither_release_is_named(tmp_path):
    with pytest.raises(InputError, match='not an extracted WebVision tree.*val_images_256'):
        detect_version(str(tmp_path))


def test_subsets():
    assert parse_subset('mini') == (0, 49) and parse_subset('classes:100-149') == (100, 149)
    for bad in ('classes:1', 'classes:a-b', 'half', 'classes:-1-3', 'classes:\u0663-5'):
        with pytest.raises(InputError, match="expected 'mini' or 'classes:FIRST-LAST'"):
            parse_subset(bad)
    with pytest.raises(InputError, match='FIRST must not be above LAST'):
        parse_subset('classes:5-4')


def test_dataset_json_round_trip_and_refusal(tmp_path):
    meta = tmp_path / 'meta'
    meta.mkdir()
    assert read_dataset_json(str(tmp_path)) is None
    write_dataset_json(str(meta), {'version': '1.0', 'subset': 'mini'})
    assert read_dataset_json(str(tmp_path)) == {'version': '1.0', 'subset': 'mini'}
    (meta / 'dataset.json').write_text(json.dumps({'version': '3.0'}))
    with pytest.raises(InputError, match='dataset.json: expected an object with "version"'):
        read_dataset_json(str(tmp_path))
    (meta / 'dataset.json').write_text('[1, 2')
    with pytest.raises(InputError, match='not JSON'):
        read_dataset_json(str(tmp_path))
    assert os.path.isfile(meta / 'dataset.json')
