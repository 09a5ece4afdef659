"""utils/json2sub.py: the CodaLab submission writer."""
import json
import os
import re
import zipfile

import pytest

from helpers.scoring import GOOD, records, run_json2sub, write


def test_json2sub_writes_the_list_order_and_a_zip(test_list, tmp_path):
    pred = write(tmp_path / 'p.json', json.dumps(records(['x3.jpg', 'x1.jpg', 'x2.jpg'],
                                                         [[7, 6, 5, 4, 3], [0, 1, 2, 3, 4], [1, 2, 3, 4, 5]])))
    out = str(tmp_path / 'predictions.txt')
    proc = run_json2sub(pred, test_list, out, '--zip')
    assert proc.returncode == 0, proc.stderr
    expected = 'x1.jpg 0 1 2 3 4\nx2.jpg 1 2 3 4 5\nx3.jpg 7 6 5 4 3\n'
    assert open(out).read() == expected
    with zipfile.ZipFile(str(tmp_path / 'predictions.zip')) as z:
        assert z.namelist() == ['predictions.txt'] and z.read('predictions.txt').decode() == expected


@pytest.mark.parametrize('rows,message', [
    (GOOD[:2], r'has 2 predictions but .*test.txt lists 3 images'),
    (GOOD[:2] + [('x9.jpg', [0, 1, 2, 3, 4])], r"row 3: image 'x9.jpg' is not in"),
    (GOOD[:2] + [('x1.jpg', [0, 1, 2, 3, 4])], r"row 3: image 'x1.jpg' predicted twice \(also row 1\)"),
    (GOOD[:1] + [('x2.jpg', [1, 2, 3, 4])] + GOOD[2:], r'row 2 \(x2.jpg\): 4 class id\(s\), need 5'),
    (GOOD[:2] + [('x3.jpg', [7, 6, 7, 4, 3])], r'row 3 \(x3.jpg\): class id 7 appears more than once'),
    (GOOD[:2] + [('x3.jpg', [7, 6, 8, 4, 3])], r'row 3 \(x3.jpg\): class id 8 is outside \[0, 8\)'),
    (GOOD[:2] + [('x3.jpg', [7, 6, '5', 4, 3])], r'row 3 \(x3.jpg\): expected a list of integer class ids'),
])
def test_json2sub_refuses_and_writes_nothing(test_list, tmp_path, rows, message):
    pred = write(tmp_path / 'p.json', json.dumps([{'file': n, 'top5': t} for n, t in rows]))
    out = str(tmp_path / 'predictions.txt')
    write(out, 'an earlier submission\n')
    proc = run_json2sub(pred, test_list, out, '--zip')
    assert proc.returncode == 1
    assert re.search(message, proc.stderr), proc.stderr
    assert 'nothing written' in proc.stderr
    assert open(out).read() == 'an earlier submission\n'
    assert not os.path.exists(str(tmp_path / 'predictions.zip'))
    assert sorted(os.listdir(str(tmp_path))) == ['meta', 'p.json', 'predictions.txt']   # no temp files


def test_json2sub_needs_the_class_count(tmp_path):
    lst = write(tmp_path / 'test.txt', 'x1.jpg\n')
    pred = write(tmp_path / 'p.json', json.dumps([{'file': 'x1.jpg', 'top5': [0, 1, 2, 3, 4]}]))
    proc = run_json2sub(pred, lst, str(tmp_path / 'o.txt'))
    assert proc.returncode == 1 and 'pass --num-classes or --synsets' in proc.stderr
    assert run_json2sub(pred, lst, str(tmp_path / 'o.txt'), '--num-classes', '5').returncode == 0
    assert open(str(tmp_path / 'o.txt')).read() == 'x1.jpg 0 1 2 3 4\n'


def test_json2sub_refuses_booleans_and_a_zip_named_like_its_text(test_list, tmp_path):
    rows = [{'file': n, 'top5': t} for n, t in GOOD]
    rows[1]['top5'] = [True, 2, 3, 4, 5]                  # numpy would read it as class 1
    pred = write(tmp_path / 'p.json', json.dumps(rows))
    proc = run_json2sub(pred, test_list, str(tmp_path / 'o.txt'))
    assert proc.returncode == 1 and 'row 2 (x2.jpg): expected a list of integer class ids' in proc.stderr
    good = write(tmp_path / 'g.json', json.dumps([{'file': n, 'top5': t} for n, t in GOOD]))
    write(tmp_path / 'sub.zip', 'keep')
    proc = run_json2sub(good, test_list, str(tmp_path / 'sub.zip'), '--zip')
    assert proc.returncode == 1 and 'the zip would overwrite the text file' in proc.stderr
    assert open(str(tmp_path / 'sub.zip')).read() == 'keep'


def test_json2sub_drops_a_byte_order_mark_from_the_test_list(tmp_path, meta_dir):
    lst = meta_dir / 'test.txt'
    lst.write_bytes('\ufeffx1.jpg\r\nx2.jpg\r\n'.encode())
    pred = write(tmp_path / 'p.json', json.dumps([{'file': n, 'top5': t} for n, t in GOOD[:2]]))
    proc = run_json2sub(pred, str(lst), str(tmp_path / 'o.txt'))
    assert proc.returncode == 0, proc.stderr
    assert open(str(tmp_path / 'o.txt'), 'rb').read() == b'x1.jpg 0 1 2 3 4\nx2.jpg 1 2 3 4 5\n'
