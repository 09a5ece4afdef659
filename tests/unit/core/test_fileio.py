"""webvision/core/fileio.py: results appear complete or not at all; hostile text is named by line."""
import os
import stat

import pytest

from webvision.core.errors import InputError
from webvision.core.fileio import atomic_path, check_writable, decode_text, read_lines, write_atomic, write_json_atomic


def test_write_atomic_replaces_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / 'out.txt')
    write_atomic(path, 'old\n')
    write_atomic(path, b'new\n')
    assert open(path).read() == 'new\n' and os.listdir(str(tmp_path)) == ['out.txt']
    umask = os.umask(0o022)
    try:
        write_atomic(path, 'shared')
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644          # not mkstemp's 0600: results are shared


def test_a_failed_write_keeps_the_previous_file_or_folder(tmp_path):
    path, folder = str(tmp_path / 'out.json'), str(tmp_path / 'saved')
    write_json_atomic(path, [1, 2])
    with pytest.raises(ValueError):
        write_json_atomic(path, [float('nan')])                   # not JSON: refused before anything is written
    os.makedirs(os.path.join(folder, 'old'))
    with pytest.raises(RuntimeError), atomic_path(folder) as tmp:
        os.makedirs(os.path.join(tmp, 'half'))
        raise RuntimeError('killed half-way')
    assert open(path).read() == '[1, 2]' and os.listdir(folder) == ['old']
    assert sorted(os.listdir(str(tmp_path))) == ['out.json', 'saved']
    with atomic_path(folder) as tmp:                              # a complete folder replaces the old one
        os.makedirs(os.path.join(tmp, 'new'))
    assert os.listdir(folder) == ['new']


def test_check_writable_names_the_problem(tmp_path):
    with pytest.raises(InputError, match='the folder .*nope does not exist'):
        check_writable(str(tmp_path / 'nope' / 'x'), '--out')
    with pytest.raises(InputError, match='is a folder'):
        check_writable(str(tmp_path), '--out')
    check_writable(str(tmp_path / 'fine.txt'))


def test_text_that_is_not_utf8_names_line_and_column(tmp_path):
    path = tmp_path / 'l.txt'
    path.write_bytes('\ufeffa 1\r\n\r\nb 2  \nc\xff 3\n'.encode('utf-8').replace(b'\xc3\xbf', b'\xff'))
    with pytest.raises(InputError, match=r"l.txt:4: not UTF-8 text: byte b'\\xff' at column 2"):
        list(read_lines(str(path)))
    path.write_bytes('\ufeffa 1\r\n\r\nb 2  \n'.encode())
    assert list(read_lines(str(path))) == [(1, 'a 1'), (3, 'b 2')]
    assert decode_text('p', '\ufeffx'.encode(), first_line=2) == '\ufeffx'      # a BOM only counts at the start
