"""File lists, image decoding and the DataFlows on small made-up roots with broken inputs."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

import webvision_dataset as wd
from imagenet_utils import fbresnet_augmentor


def write_root(root, train_lines, val_lines, synsets=('n001', 'n002', 'n003')):
    os.makedirs(os.path.join(root, 'meta'))
    with open(os.path.join(root, 'meta', 'synsets.txt'), 'w') as f:
        f.write('\n'.join(synsets) + '\n')
    for split, lines in (('train', train_lines), ('val', val_lines)):
        with open(os.path.join(root, 'meta', split + '.txt'), 'wb') as f:
            f.write(lines.encode())


def photo(seed=0, size=(80, 100)):
    """A crop of a real photo (scikit-image's astronaut) as BGR."""
    from skimage.data import astronaut
    im = astronaut()[seed * 10:seed * 10 + size[0], seed * 7:seed * 7 + size[1]]
    return cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2BGR)


def test_file_list_tolerates_crlf_blank_lines_and_spaces(tmp_path):
    write_root(str(tmp_path), 'a/x 1.jpg 0\r\n\r\n  b/y.jpg 2  \r\n', '')
    files = wd.WebVisionMeta(str(tmp_path)).file_list('train')
    assert len(files) == 2
    assert files[0] == ('a/x 1.jpg', 0)       # a space inside a file name survives
    assert files[1] == ('b/y.jpg', 2)


@pytest.mark.parametrize('line,message', [
    ('a.jpg 3', r'train.txt:2: label 3 is outside \[0, 3\)'),
    ('a.jpg x', r"train.txt:2: label 'x' is not an integer"),
    ('a.jpg', r'train.txt:2: expected "relative/path label"'),
])
def test_bad_list_lines_name_file_line_and_value(tmp_path, line, message):
    write_root(str(tmp_path), 'ok.jpg 1\n' + line + '\n', '')
    with pytest.raises(wd.DataError, match=message):
        wd.WebVisionMeta(str(tmp_path)).file_list('train')


def test_missing_meta_is_named(tmp_path):
    with pytest.raises(wd.DataError, match='missing .*synsets.txt'):
        wd.WebVisionMeta(str(tmp_path))


def test_decode_image_handles_web_quirks(tmp_path):
    good = photo()
    p = lambda name: str(tmp_path / name)  # noqa: E731
    cv2.imwrite(p('ok.jpg'), good)
    open(p('empty.jpg'), 'wb').close()
    with open(p('ok.jpg'), 'rb') as f:
        data = f.read()
    with open(p('garbage.jpg'), 'wb') as f:
        f.write(b'<html>not found</html>' * 20)
    cv2.imwrite(p('png_inside.jpg.png'), good)
    os.rename(p('png_inside.jpg.png'), p('png_inside.jpg'))
    cv2.imwrite(p('gray.jpg'), cv2.cvtColor(good, cv2.COLOR_BGR2GRAY))
    Image.fromarray(good[:, :, ::-1]).convert('CMYK').save(p('cmyk.jpg'), 'JPEG')
    with open(p('truncated.jpg'), 'wb') as f:
        f.write(data[:len(data) // 2])

    for name in ('ok.jpg', 'png_inside.jpg', 'gray.jpg', 'cmyk.jpg'):
        im, reason = wd.decode_image(p(name))
        assert reason is None and im.shape == good.shape and im.dtype == np.uint8, name
    cmyk, _ = wd.decode_image(p('cmyk.jpg'))
    assert np.abs(cmyk.astype(int) - good).mean() < 20      # colours survive the CMYK round trip
    assert wd.decode_image(p('empty.jpg')) == (None, 'empty file')
    assert wd.decode_image(p('garbage.jpg')) == (None, 'not a decodable image')
    assert wd.decode_image(p('missing.jpg'))[1].startswith('unreadable')
    im, reason = wd.decode_image(p('truncated.jpg'))       # decoded where possible, or refused
    assert (im is not None and im.shape == good.shape) or reason is not None


@pytest.fixture
def root_with_bad_images(tmp_path):
    root = str(tmp_path / 'root')
    train, val = [], []
    write_root(root, '', '')
    for split in ('train', 'val'):
        os.makedirs(os.path.join(root, split))
    for i in range(6):
        cv2.imwrite(os.path.join(root, 'train', 'img{}.jpg'.format(i)), photo(i))
        train.append('img{}.jpg {}'.format(i, i % 3))
        cv2.imwrite(os.path.join(root, 'val', 'v{}.jpg'.format(i)), photo(i))
        val.append('v{}.jpg {}'.format(i, i % 3))
    open(os.path.join(root, 'train', 'empty.jpg'), 'wb').close()
    open(os.path.join(root, 'val', 'empty.jpg'), 'wb').close()
    train.insert(2, 'empty.jpg 1')
    train.append('not_there.jpg 2')
    val.insert(3, 'empty.jpg 1')
    for split, lines in (('train', train), ('val', val)):
        with open(os.path.join(root, 'meta', split + '.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    return root


def test_train_flow_skips_counts_and_lists_bad_images(root_with_bad_images, tmp_path):
    log = str(tmp_path / 'bad.txt')
    ds = wd.get_train_dataflow(root_with_bad_images, 2, fbresnet_augmentor(True, 32), parallel=0,
                               bad_log_path=log)
    ds.reset_state()
    batches = list(ds)
    assert len(batches) == 3                   # 6 good images in batches of 2
    for images, labels in batches:
        assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    listed = open(log).read()
    assert 'empty.jpg\tempty file' in listed and 'not_there.jpg\tunreadable' in listed
    assert wd.BadImageLog(log).count() == 2


def test_eval_flow_keeps_one_row_per_listed_image(root_with_bad_images):
    ds = wd.get_eval_dataflow(root_with_bad_images, 'val', 3, fbresnet_augmentor(False, 32), parallel=2,
                              with_index=True)
    ds.reset_state()
    indices, labels = [], []
    for images, batch_labels, batch_indices in ds:
        assert images.shape[1:] == (32, 32, 3)
        indices += batch_indices.tolist()
        labels += batch_labels.tolist()
    assert sorted(indices) == list(range(7))   # 6 good + the empty one
    files = wd.WebVisionMeta(root_with_bad_images).file_list('val')
    assert [files.labels[i] for i in indices] == labels


def test_file_list_storage_is_compact(tmp_path):
    lines = ''.join('google/q{:04d}/{:06d}.jpg {}\n'.format(i % 5000, i, i % 5000) for i in range(20000))
    write_root(str(tmp_path), lines, '', synsets=['n{:08d}'.format(i) for i in range(5000)])
    files = wd.WebVisionMeta(str(tmp_path)).file_list('train')
    assert files[12345] == ('google/q2345/012345.jpg', 2345)
    path_bytes = sum(len(line.rsplit(' ', 1)[0]) for line in lines.splitlines())
    held = files.blob.nbytes + files.offsets.nbytes + files.labels.nbytes
    assert held <= path_bytes + 6 * len(files) + 4      # path bytes + a 4-byte offset and 2-byte label each
