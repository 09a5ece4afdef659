"""webvision/data/listscan: the bulk parse equals the line-by-line one, and file lookups by folder listing
equal lookups by stat, each path looked up once."""
import os

import numpy as np
import pytest

from webvision.core.errors import InputError
from webvision.data.listscan import Lookups, is_safe_name, iter_blocks, parse_block, read_rows


def line_by_line(lines, num_classes):
    """The reference: each non-blank line split at its last blank."""
    out = []
    for line in lines:
        line = line.strip()
        if line:
            name, label = line.rsplit(None, 1)
            out.append((name, int(label)))
    return out


@pytest.mark.parametrize('lines', [
    ['google/q0001/000000.jpg 3', 'google/q0001/000001.jpg 0'],
    ['a 1\r', 'b 2\r'],                                             # CRLF
    ['a  1', 'b 2'],                                                # two blanks
    ['a\t1', 'b 2'],                                                # a tab
    ['my photo.jpg 1', 'b 007'],                                    # a blank in a name, a leading zero
    ['a 1', '', 'b 2', ''],                                         # blank lines
    [' a 1 ', 'b 2'],                                               # blanks around
])
def test_bulk_parse_gives_the_rows_of_the_line_by_line_parse(lines):
    block = parse_block('x.txt', 1, lines, 10)
    assert list(zip(block.names, [int(v) for v in block.labels])) == line_by_line(lines, 10)
    if block.lines is not None:                                     # the text written as is
        assert block.lines == ['{} {}'.format(n, v) for n, v in zip(block.names, block.labels)]


@pytest.mark.parametrize('lines, message', [
    (['a 1', 'b 10'], 'x.txt:2: label 10 is outside [0, 10)'),
    (['a 1', 'b'], "x.txt:2: expected \"name label\", got 'b'"),
    (['a 1', 'b -1'], 'x.txt:2: label -1 is outside'),
    (['a 1', 'b \u00b2'], 'x.txt:2: expected "name label"'),        # a Unicode digit
    (['a 1 2', 'b'], "x.txt:2: expected \"name label\", got 'b'"),  # not read as (a, 1), (2, b)
])
def test_faulty_lines_are_named(lines, message):
    with pytest.raises(InputError, match=message.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')):
        parse_block('x.txt', 1, lines, 10)


def test_blocks_keep_line_numbers_across_reads(tmp_path, monkeypatch):
    import webvision.data.listscan
    monkeypatch.setattr(webvision.data.listscan, 'BLOCK_BYTES', 64)
    path = tmp_path / 'l.txt'
    path.write_text(''.join('img{:04d}.jpg {}\n'.format(i, i % 7) for i in range(100)) + 'bad line here\n')
    firsts = [first for first, _ in iter_blocks(str(path))]
    assert firsts[0] == 1 and len(firsts) > 10
    with pytest.raises(InputError, match='l.txt:101: expected'):
        read_rows(str(path), 7)


def test_names_that_leave_their_folder():
    assert is_safe_name('google/q0001/a..b.jpg') and is_safe_name('a b.jpg')
    for name in ('/etc/passwd', '../x.jpg', 'google/../../x.jpg', '\\\\server\\x', 'a\\..\\..\\x'):
        assert not is_safe_name(name), name


@pytest.mark.parametrize('list_at', [1, 10 ** 9])           # folders listed, or each file stat'ed
def test_lookups_find_regular_files_only(tmp_path, list_at):
    folder = tmp_path / 'images'
    (folder / 'q1').mkdir(parents=True)
    for i in range(5):
        (folder / 'q1' / '{}.jpg'.format(i)).write_bytes(b'x')
    os.mkfifo(folder / 'q1' / 'fifo.jpg')
    (folder / 'q1' / 'dir.jpg').mkdir()
    os.symlink(folder / 'q1' / '0.jpg', folder / 'q1' / 'link.jpg')
    names = ['q1/{}.jpg'.format(i) for i in range(7)] + ['q1/fifo.jpg', 'q1/dir.jpg', 'q1/link.jpg', 'q2/0.jpg']
    with Lookups(threads=3) as lookups:
        lookups.LIST_AT = list_at
        got = lookups.exist(str(folder), names)
        assert got.tolist() == [True] * 5 + [False] * 4 + [True, False]
        lookups.settle()
        calls = (lookups.stats, lookups.listings)
        again = lookups.exist(str(folder), names[::-1])            # a second list of the same files
        assert again.tolist() == got.tolist()[::-1] and (lookups.stats, lookups.listings) == calls
        assert calls[0] + calls[1] > 0


def test_a_folder_too_large_to_list_is_looked_up_file_by_file(tmp_path, monkeypatch):
    import webvision.data.listscan
    monkeypatch.setattr(webvision.data.listscan, 'LISTING_LIMIT', 10)
    folder = tmp_path / 'flat'
    folder.mkdir()
    for i in range(30):
        (folder / '{}.jpg'.format(i)).write_bytes(b'x')
    names = ['{}.jpg'.format(i) for i in range(40)]
    with Lookups(threads=2) as lookups:
        lookups.LIST_AT = 1
        assert lookups.exist(str(folder), names).tolist() == [True] * 30 + [False] * 10
        assert lookups.stats == 40 and not lookups._folders              # listed once, then stat'ed


def test_lookups_on_many_blocks_match_os_path(tmp_path):
    rng = np.random.RandomState(0)
    folder = tmp_path / 'f'
    names = []
    for q in range(30):
        (folder / 'q{}'.format(q)).mkdir(parents=True)
        for i in range(rng.randint(1, 40)):
            names.append('q{}/{}.jpg'.format(q, i))
            if rng.rand() < 0.8:
                (folder / names[-1]).write_bytes(b'x')
    with Lookups(threads=4) as lookups:
        lookups.CACHED = 3                                          # folders evicted and listed again
        got = np.concatenate([lookups.exist(str(folder), names[k:k + 50]) for k in range(0, len(names), 50)])
    assert got.tolist() == [os.path.isfile(folder / n) for n in names]
