"""webvision/data/lists.py: reading "name label" lists, with errors naming the line."""

import pytest

from helpers.scoring import write
from webvision.core.errors import InputError


@pytest.mark.parametrize('text,names,labels', [
    ('a.jpg 3\nb.jpg 0\n', ['a.jpg', 'b.jpg'], [3, 0]),                      # the bulk path
    ('a.jpg 3\r\n\r\n  b.jpg\t0  \n\n', ['a.jpg', 'b.jpg'], [3, 0]),         # CRLF, blanks
    ('my photo.jpg 3\nb.jpg 1', ['my photo.jpg', 'b.jpg'], [3, 1]),          # a name with a space
    ('a 1 2\nb 3\n', ['a 1', 'b'], [2, 3]),                                  # not three "pairs"
])
def test_read_list_splits_lines_as_name_and_last_field(tmp_path, text, names, labels):
    from webvision.data.lists import read_list
    got_names, got_labels = read_list(write(tmp_path / 'list.txt', text))
    assert got_names == names and got_labels.tolist() == labels


@pytest.mark.parametrize('text,message', [
    ('a.jpg 3\nb.jpg\n', r'list.txt:2: expected "name label", got .b\.jpg.'),
    ('a.jpg 3\nb.jpg +1\n', r'list.txt:2: expected "name label", got .b\.jpg \+1.'),
    ('a.jpg 3\na.jpg 1\n', r"image 'a.jpg' is listed more than once"),
])
def test_read_list_names_the_bad_line(tmp_path, text, message):
    from webvision.data.lists import read_list
    with pytest.raises(InputError, match=message):
        read_list(write(tmp_path / 'list.txt', text))


@pytest.mark.parametrize('data,message', [
    (b'a.jpg 3\nb.jpg 1\nc\xff.jpg 2\n', r"list.txt:3: not UTF-8 text: byte b'\\xff' at column 2"),
    (b'a.jpg 3\nb.jpg -1\n', r'list.txt:2: label -1 is outside \[0, 2147483648\)'),
    (b'a.jpg 3\nb.jpg 99999999999999999999999\n', r'list.txt:2: label 99999999999999999999999 is outside'),
    ('a.jpg 3\nb.jpg \u00b2\n'.encode(), r'list.txt:2: expected "name label"'),       # int('²') would be 2
    (b'a.jpg 3\nb.jpg 1\na.jpg 1\n', r"list.txt:3: image 'a.jpg' is listed more than once \(also line 1\)"),
])
def test_read_list_refuses_bytes_labels_and_repeats_naming_the_line(tmp_path, data, message):
    from webvision.data.lists import read_list
    (tmp_path / 'list.txt').write_bytes(data)
    with pytest.raises(InputError, match=message):
        read_list(str(tmp_path / 'list.txt'))


def test_read_list_drops_a_byte_order_mark(tmp_path):
    from webvision.core.fileio import read_lines
    from webvision.data.lists import read_list
    path = tmp_path / 'list.txt'
    path.write_bytes('\ufeffa.jpg 3\nb.jpg 1\n'.encode())
    assert read_list(str(path))[0] == ['a.jpg', 'b.jpg']
    assert [line for _, line in read_lines(str(path))] == ['a.jpg 3', 'b.jpg 1']


def test_iter_labelled_checks_labels_against_the_classes(tmp_path):
    from webvision.data.lists import iter_labelled, write_list
    path = str(tmp_path / 'train.txt')
    write_list(path, [('my photo.jpg', 2), ('b.jpg', 0)])
    assert list(iter_labelled(path, 3)) == [(1, 'my photo.jpg', 2), (2, 'b.jpg', 0)]
    with pytest.raises(InputError, match=r'train.txt:1: label 2 is outside \[0, 2\) \(the classes in synsets.txt\)'):
        list(iter_labelled(path, 2))
    write(tmp_path / 'train.txt', 'a.jpg 1\nb.jpg \u0663\n')                # int() would take the Arabic 3
    with pytest.raises(InputError, match='train.txt:2: expected "name label"'):
        list(iter_labelled(path, 5))


def test_synsets_and_names_round_trip(tmp_path):
    from webvision.data.lists import class_meta, display_names, imagenet_names, write_synsets
    write_synsets(str(tmp_path), [('n01', 'tench, Tinca tinca'), ('n02', '')])
    ids, words = class_meta(str(tmp_path / 'val.txt'))
    assert ids == ['n01', 'n02'] and display_names(ids, words) == ['n01 tench, Tinca tinca', 'n02']
    names = imagenet_names()
    assert len(names) == 1000 and names[0] == 'n01440764 tench, Tinca tinca'


def test_given_class_files_that_are_fifos_are_named_as_such(tmp_path):
    import os
    from webvision.data.lists import class_meta
    os.mkfifo(str(tmp_path / 'synsets.txt'))
    (tmp_path / 'val.txt').write_text('a.jpg 0\n')
    with pytest.raises(InputError, match='synsets.txt: is a FIFO, expected a regular file'):
        class_meta(str(tmp_path / 'val.txt'), synsets=str(tmp_path / 'synsets.txt'))
    with pytest.raises(InputError, match='gone.txt: no such file'):
        class_meta(str(tmp_path / 'val.txt'), names=str(tmp_path / 'gone.txt'))
