"""Property-based tests (hypothesis) of every reader of untrusted lists and predictions: random
bytes, random JSON, random Unicode and huge numbers give a clear error or a correct result, never
an unexpected exception (which would reach the user as a traceback)."""
import contextlib
import io
import json
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from webvision.data.listscan import read_rows
from webvision.commands import eval_score, json2sub
from webvision.core.constants import LABEL_LIMIT
from webvision.core.errors import InputError
from webvision.core.fileio import read_lines
from webvision.data.lists import read_list
from webvision.results.predictions import read_predictions, topk_array

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# names as list files carry them: no whitespace (a separator) and no NUL
names = st.text(st.characters(blacklist_categories=('Zs', 'Zl', 'Zp', 'Cc', 'Cs')), min_size=1, max_size=12)
labels = st.integers(min_value=0, max_value=LABEL_LIMIT - 1)
# bytes that look like lists: tokens that have broken readers, in random order, or plain noise
TOKENS = [b'a.jpg', b'b c.jpg', b' ', b'\t', b'0', b'1', b'7', b'-1', b'+2', '\u00b2'.encode(), '\u0663'.encode(),
          b'\n', b'\r\n', b'\r', b'\xff', b'\xef\xbb\xbf', b'99999999999999999999', b'../x', b'/etc/passwd', b'\x00']
token = st.sampled_from(TOKENS)
line = st.tuples(token, st.sampled_from([b' ', b'\t', b'  ']), token, st.sampled_from([b'\n', b'\r\n'])).map(b''.join)
list_bytes = (st.lists(line, max_size=8).map(b''.join) | st.lists(token, max_size=30).map(b''.join)
              | st.binary(max_size=200))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.sampled_from(['file', 'top5', 'prob', 'x']), inner),
    max_leaves=30)


def write_bytes(folder, name, data):
    path = os.path.join(str(folder), name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


@SETTINGS
@given(data=list_bytes)
def test_random_bytes_give_a_list_or_an_input_error(tmp_path, data):
    path = write_bytes(tmp_path, 'list.txt', data)
    for need_labels in (True, False):
        try:
            got_names, got_labels = read_list(path, need_labels)
        except InputError as e:
            assert str(e).startswith(path)
            continue
        assert len(set(got_names)) == len(got_names)
        assert got_labels is None or (len(got_labels) == len(got_names) and got_labels.min() >= 0)
    try:
        lines = list(read_lines(path))
    except InputError as e:
        assert str(e).startswith(path + ':')
    else:
        assert all(line == line.strip() and line for _, line in lines)


@SETTINGS
@given(rows=st.lists(st.tuples(names, labels), max_size=20, unique_by=lambda r: r[0]),
       crlf=st.booleans(), bom=st.booleans())
def test_lists_written_as_the_tools_write_them_read_back_the_same(tmp_path, rows, crlf, bom):
    end = '\r\n' if crlf else '\n'
    text = ('\ufeff' if bom else '') + ''.join('{} {}{}'.format(n, l, end) for n, l in rows)
    path = write_bytes(tmp_path, 'list.txt', text.encode('utf-8'))
    got_names, got_labels = read_list(path)
    assert got_names == [n for n, _ in rows]
    assert (got_labels.tolist() if got_labels is not None else []) == [l for _, l in rows]
    prepared = read_rows(path, LABEL_LIMIT)
    assert prepared == rows


@SETTINGS
@given(data=list_bytes, classes=st.integers(1, 10))
def test_preprocess_reads_random_bytes_or_names_the_line(tmp_path, data, classes):
    path = write_bytes(tmp_path, 'list.txt', data)
    for labelled in (True, False):
        try:
            rows = read_rows(path, classes, labelled)
        except InputError as e:
            assert str(e).startswith(path)
        else:
            assert all(0 <= label < classes for _, label in rows)


@SETTINGS
@given(value=json_values, classes=st.integers(1, 10))
def test_random_json_predictions_give_rows_or_an_input_error(tmp_path, value, classes):
    path = write_bytes(tmp_path, 'p.json', json.dumps(value).encode())
    try:
        pred_names, rows = read_predictions(path)
        arr = topk_array(path, rows, classes, pred_names)
    except InputError as e:
        assert str(e).startswith(path)
        return
    assert arr.shape == (len(rows), 5) and ((arr >= 0) & (arr < classes)).all()
    for row, got in zip(rows, arr.tolist()):
        assert all(type(c) is int for c in row) and row[:5] == got


def run_tool(main, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@SETTINGS
@given(value=json_values, listed=list_bytes, big=st.integers(min_value=2 ** 63, max_value=2 ** 80))
def test_json2sub_and_eval_score_end_in_an_error_or_a_result(tmp_path, value, listed, big):
    folder = tmp_path / 'p'
    folder.mkdir(exist_ok=True)
    write_bytes(folder, 'synsets.txt', b'n1\nn2\nn3\nn4\nn5\nn6\n')
    lst = write_bytes(folder, 'list.txt', listed)
    for pred_value in (value, [{'file': 'a', 'top5': [big, 1, 2, 3, 4]}]):
        pred = write_bytes(folder, 'p.json', json.dumps(pred_value).encode())
        out = os.path.join(str(folder), 'sub.txt')
        code, _, err = run_tool(json2sub.main, ['--predictions', pred, '--test-list', lst, '--out', out])
        assert code in (0, 1) and (code == 0 or err.startswith('error: '))
        code, stdout, err = run_tool(eval_score.main, ['--predictions', pred, '--labels', lst])
        assert code in (0, 1) and (code == 0 and 'Top5 Error' in stdout or err.startswith('error: '))
