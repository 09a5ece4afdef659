"""webvision/data/layouts: telling WebVision 1.0 from 2.0, subsets, meta/dataset.json."""
import json
import os

import pytest

from webvision.core.errors import InputError
from webvision.data.layouts import LAYOUTS, detect_version, parse_subset, read_dataset_json, write_dataset_json


@pytest.mark.parametrize('version', ['1.0', '2.0'])
def test_the_release_is_told_by_its_val_folder_then_its_list(tmp_path, version):
    (tmp_path / 'info').mkdir()
    (tmp_path / LAYOUTS[version]['val_list']).write_text('val000000.jpg 0\n')
    assert detect_version(str(tmp_path)) == version
    other = '2.0' if version == '1.0' else '1.0'
    (tmp_path / LAYOUTS[other]['val_list']).write_text('val000000.jpg 0\n')
    with pytest.raises(InputError, match=r'val lists of both WebVision 1.0 and 2.0 \(1.0: info/val_filelist.txt, '
                                         r'2.0: val_filelist.txt\); say which with --version'):
        detect_version(str(tmp_path))
    (tmp_path / LAYOUTS[version]['val_images']).mkdir()      # the images decide
    assert detect_version(str(tmp_path)) == version
    (tmp_path / LAYOUTS[other]['val_images']).mkdir()
    with pytest.raises(InputError, match=r'val image folders of both .*\(1.0: val_images_256/, 2.0: val_images_resized/\)'):
        detect_version(str(tmp_path))


def test_a_1_0_copy_with_its_lists_also_at_the_root_is_1_0(tmp_path):
    """Copies of WebVision 1.0 often keep val_filelist.txt and test_filelist.txt beside info/."""
    (tmp_path / 'info').mkdir()
    for name in ('info/val_filelist.txt', 'val_filelist.txt', 'test_filelist.txt', 'info/test_filelist.txt'):
        (tmp_path / name).write_text('val000000.jpg 0\n')
    (tmp_path / 'val_images_256').mkdir()
    assert detect_version(str(tmp_path)) == '1.0'


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
