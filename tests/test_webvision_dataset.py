"""File lists, image decoding and the DataFlows on small made-up roots with broken inputs."""
import os
import re

import cv2
import numpy as np
import pytest
from PIL import Image

import webvision_dataset as wd
import imagenet_utils as iu
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
    Image.fromarray(good[:, :, ::-1]).save(p('gif_inside.jpg'), 'GIF')

    for name in ('ok.jpg', 'png_inside.jpg', 'gray.jpg', 'cmyk.jpg', 'gif_inside.jpg'):
        im, reason = wd.decode_image(p(name))
        assert reason is None and im.shape == good.shape and im.dtype == np.uint8, name
    cmyk, _ = wd.decode_image(p('cmyk.jpg'))
    assert np.abs(cmyk.astype(int) - good).mean() < 20      # colours survive the CMYK round trip
    gif, _ = wd.decode_image(p('gif_inside.jpg'))
    assert np.abs(gif.astype(int) - good).mean() < 20       # a 256-colour palette, but the photo
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
    ds = wd.get_train_dataflow(root_with_bad_images, 2, iu.decoder(True, 32), parallel=0, bad_log_path=log)
    ds.reset_state()
    batches = list(ds)
    # 8 listed, 2 of them bad: 4 batches of 2, the bad ones replaced by another image of their batch
    # (3 batches when both bad ones fall into one, which is then dropped)
    assert len(batches) in (3, 4)
    for images, labels in batches:
        assert images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    listed = open(log).read()
    assert 'empty.jpg\tempty file' in listed and 'not_there.jpg\tunreadable' in listed
    assert wd.BadImageLog(log).count() == 2


def test_eval_flow_keeps_one_row_per_listed_image(root_with_bad_images):
    ds = wd.get_eval_dataflow(root_with_bad_images, 'val', 3, iu.decoder(False, 32), parallel=2,
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


def test_train_flow_with_loader_processes_batches_and_skips(root_with_bad_images, tmp_path):
    log = str(tmp_path / 'bad.txt')
    ds = wd.get_train_dataflow(root_with_bad_images, 4, iu.decoder(True, 32), parallel=2, bad_log_path=log)
    ds.reset_state()
    try:
        it = iter(ds)
        batches = [next(it) for _ in range(6)]          # the loaders repeat the list
    finally:
        del it
        ds.__del__()
    for images, labels in batches:
        assert images.shape == (4, 32, 32, 3) and images.dtype == np.uint8
        assert set(labels.tolist()) <= {0, 1, 2}
    assert 'empty.jpg\tempty file' in open(log).read()


def encode(im, ext='.jpg'):
    return cv2.imencode(ext, im, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == '.jpg' else [])[1].tobytes()


def test_centre_crop_decoder_matches_resize_then_crop():
    im = cv2.resize(photo(0, (300, 400)), (341, 256))         # a WebVision-sized image
    data = encode(im, '.png')
    ours, reason = iu.CenterCropDecoder(224)(data)
    original = iu.imgaug.AugmentorList(fbresnet_augmentor(False, 224)).augment(im)
    assert reason is None and np.array_equal(ours, original)     # no resize at 256: the same pixels
    big = cv2.resize(im, (682, 512), interpolation=cv2.INTER_CUBIC)
    ours, _ = iu.CenterCropDecoder(224)(encode(big, '.png'))
    original = iu.imgaug.AugmentorList(fbresnet_augmentor(False, 224)).augment(big)
    assert np.abs(ours.astype(int) - original).mean() < 5       # crop-then-resize ~ resize-then-crop (edges differ)


def test_large_jpeg_is_decoded_at_reduced_scale(monkeypatch):
    from skimage.data import astronaut
    big = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (1600, 1600), interpolation=cv2.INTER_CUBIC)
    decoded = []
    real = iu.simplejpeg.decode_jpeg
    monkeypatch.setattr(iu.simplejpeg, 'decode_jpeg', lambda *a, **k: decoded.append(real(*a, **k).shape) or real(*a, **k))
    ours, _ = iu.CenterCropDecoder(224)(encode(big))
    assert decoded == [(400, 400, 3)]                  # crop side 1400 >= 4 x 224: a quarter-scale decode
    full = cv2.resize(big[100:1500, 100:1500], (224, 224), interpolation=cv2.INTER_AREA)
    assert ours.shape == (224, 224, 3) and np.abs(ours.astype(int) - full).mean() < 6


def test_crop_decoder_handles_the_web_quirks_like_opencv(tmp_path):
    """JPEGs go through simplejpeg, the rest through OpenCV; either way the same files decode."""
    good = photo(0, (120, 160))
    data = encode(good)
    files = {'jpeg': data, 'png': encode(good, '.png'), 'gray': encode(cv2.cvtColor(good, cv2.COLOR_BGR2GRAY)),
             'truncated': data[:len(data) // 2], 'garbage': b'<html>' * 50}
    buf = __import__('io').BytesIO()
    Image.fromarray(good[:, :, ::-1]).convert('CMYK').save(buf, 'JPEG')
    files['cmyk'] = buf.getvalue()
    for name, blob in files.items():
        whole, _ = wd.decode_full(blob)
        im, reason = iu.CenterCropDecoder(112)(blob)
        if name == 'truncated':         # OpenCV 5 refuses a cut-short JPEG; we keep what is there
            assert im.shape == (112, 112, 3) and np.abs(im[:40].astype(int) - photo(0, (120, 160))[4:44, 24:136]).mean() < 8
            continue
        assert (im is None) == (whole is None), name
        if im is not None:
            assert im.shape == (112, 112, 3) and im.dtype == np.uint8
            if name in ('jpeg', 'png', 'cmyk', 'gray'):     # the same pixels as OpenCV's decode
                ref = iu.imgaug.AugmentorList(fbresnet_augmentor(False, 112)).augment(whole)
                assert np.abs(im.astype(int) - ref).mean() < 4, name
        else:
            assert reason == 'not a decodable image'


def test_random_crop_decoder_geometry_and_flip():
    im = photo(0, (200, 300))
    dec = iu.RandomCropDecoder(64)
    outs = [dec(encode(im, '.png'))[0] for _ in range(20)]
    assert all(o.shape == (64, 64, 3) and o.dtype == np.uint8 for o in outs)
    assert len({o.tobytes() for o in outs}) == 20                 # a different crop each time
    # the same draws as tensorpack's GoogleNetRandomCropAndResize, given the same generator state
    original = iu.imgaug.GoogleNetRandomCropAndResize(target_shape=64)
    dec._rng, dec._pid, original.rng = np.random.RandomState(1), os.getpid(), np.random.RandomState(1)
    for _ in range(200):
        crop = original.get_transform(im).tfms[0]
        assert dec.box(im.shape[:2]) == (crop.y0, crop.x0, crop.h, crop.w)
        assert 0 <= crop.y0 and crop.y0 + crop.h <= 200 and 0 <= crop.x0 and crop.x0 + crop.w <= 300
    flipped = sum(np.array_equal(dec.finish(im), im[:, ::-1]) for _ in range(200))
    assert 60 < flipped < 140


def test_decoder_draws_differ_across_forked_loaders():
    import multiprocessing as mp
    dec = iu.RandomCropDecoder(32)
    dec.box((100, 100))                                      # the parent's generator exists before the fork
    with mp.get_context('fork').Pool(2) as pool:
        draws = pool.map(_boxes, [dec, dec])
    assert draws[0] != draws[1] and draws[0] != _boxes(dec)


def _boxes(dec):
    import os as _os
    return _os.getpid(), [dec.box((100, 100)) for _ in range(5)]


def test_class_balanced_sampler_draws_classes_uniformly():
    labels = np.array([0] * 500 + [1] * 50 + [2] * 5 + [4] * 45, dtype=np.int16)   # class 3 has none
    sampler = wd.ClassBalancedSampler(labels)
    assert len(sampler) == 4 * 500
    draws = np.fromiter(sampler.epoch(np.random.RandomState(0)), dtype=np.int64)
    assert len(draws) == 2000
    assert sum(1 for _ in sampler.epoch(np.random.RandomState(1), chunk=768)) == 2000   # a partial last chunk
    counts = np.bincount(labels[draws], minlength=5)
    assert counts[3] == 0 and all(400 < c < 600 for c in counts[[0, 1, 2, 4]])
    small = draws[labels[draws] == 2]
    assert set(small[:5].tolist()) == set(np.flatnonzero(labels == 2).tolist())   # every image before a repeat
    assert sampler.order.nbytes == 4 * len(labels)


def test_lmdb_pack_gives_the_same_images_and_labels(root_with_bad_images, tmp_path):
    from utils import pack_lmdb
    path, n, missing = pack_lmdb.pack(root_with_bad_images, 'val')
    assert path == wd.lmdb_path(root_with_bad_images, 'val') and n == 7 and missing == 1   # empty.jpg
    assert pack_lmdb.pack(root_with_bad_images, 'val') == (path, None, None)    # rerun keeps it
    records = wd.LMDBImages(path)
    records.reset_state()
    files = wd.WebVisionMeta(root_with_bad_images).file_list('val')
    got = list(records)
    assert [r[1:] for r in got] == [[files.labels[i], i] for i in range(7)]
    from_files, from_lmdb = _eval_rows(root_with_bad_images, 'files'), _eval_rows(root_with_bad_images, 'lmdb')
    assert len(from_files) == 7 and from_files.keys() == from_lmdb.keys()
    for i in from_files:
        assert np.array_equal(from_files[i][0], from_lmdb[i][0]) and from_files[i][1] == from_lmdb[i][1]


def _eval_rows(root, fmt):
    ds = wd.get_eval_dataflow(root, 'val', 3, iu.decoder(False, 32), parallel=2, with_index=True, fmt=fmt)
    ds.reset_state()
    return {int(i): (im, int(label)) for images, labels, indices in ds
            for im, label, i in zip(images, labels, indices)}


def test_lmdb_train_flow_and_missing_files(root_with_bad_images):
    from utils import pack_lmdb
    path, n, missing = pack_lmdb.pack(root_with_bad_images, 'train')
    assert n == 8 and missing == 2          # empty.jpg and not_there.jpg stored empty, indices kept
    ds = wd.get_train_dataflow(root_with_bad_images, 2, iu.decoder(True, 32), parallel=0, fmt='lmdb')
    ds.reset_state()
    it = iter(ds)                    # local shuffling repeats the file endlessly
    batches = [next(it) for _ in range(60)]
    assert all(b[0].shape == (2, 32, 32, 3) for b in batches)
    counts = np.bincount(np.concatenate([b[1] for b in batches]), minlength=3)
    assert len(counts) == 3 and all(25 < c < 55 for c in counts)    # 2 good images per class
    with pytest.raises(wd.DataError, match='no such LMDB file.*pack_lmdb'):
        wd.LMDBImages(wd.lmdb_path(root_with_bad_images, 'train', 'google'))


def png_claiming(width, height):
    """A PNG of a few dozen bytes whose header claims width x height pixels (its data is empty)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'')) + chunk(b'IEND', b'')


def jpeg_claiming(width, height):
    """A real small JPEG whose frame header (SOF0) is rewritten to claim width x height."""
    import struct
    data = bytearray(cv2.imencode('.jpg', photo())[1].tobytes())
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    return bytes(data)


@pytest.mark.parametrize('blob,claim', [(png_claiming(100000, 100000), '100000 x 100000'),
                                        (png_claiming(20000, 20000), '20000 x 20000'),
                                        (jpeg_claiming(60000, 40000), '60000 x 40000')])
def test_images_over_the_pixel_limit_are_refused_before_decoding(tmp_path, blob, claim):
    import resource
    path = str(tmp_path / 'huge.png')
    with open(path, 'wb') as f:
        f.write(blob)
    reason = 'too large: {} pixels, over the limit of 89,478,485 (--max-image-pixels)'.format(claim)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for decode in (wd.decode_full, iu.decoder(True, 32), iu.decoder(False, 32)):
        assert wd.decode_image(path, decode) == (None, reason)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 << 10     # KB: nothing decoded
    small = iu.decoder(False, 32, max_pixels=1000)
    assert wd.decode_image(str(tmp_path / 'huge.png'), small)[1].endswith('over the limit of 1,000 (--max-image-pixels)')


def test_fifos_devices_and_huge_files_are_not_read(tmp_path):
    fifo = str(tmp_path / 'pipe.jpg')
    os.mkfifo(fifo)
    assert wd.read_image_file(fifo) == (None, 'not a regular file')        # returns at once, no writer needed
    assert wd.read_image_file('/dev/zero') == (None, 'not a regular file')
    big = str(tmp_path / 'big.jpg')
    with open(big, 'wb') as f:
        f.truncate(wd.MAX_IMAGE_BYTES + 1)                                 # sparse: no disk used
    assert 'over the 268,435,456 an image may have' in wd.read_image_file(big)[1]


def test_a_tree_where_nothing_decodes_stops_the_train_flow(tmp_path):
    root = str(tmp_path / 'html')
    write_root(root, ''.join('p{}.jpg {}\n'.format(i, i % 3) for i in range(40)), '')
    os.makedirs(os.path.join(root, 'train'))
    for i in range(40):
        with open(os.path.join(root, 'train', 'p{}.jpg'.format(i)), 'wb') as f:
            f.write(b'<html>404</html>')
    log = str(tmp_path / 'bad.txt')
    ds = wd.get_train_dataflow(root, 8, iu.decoder(True, 32), parallel=0, bad_log_path=log)
    ds.reset_state()
    with pytest.raises(wd.TooManyBadImages, match=r'1,000 of the last 1,000 training images .* listed in ' + re.escape(log)):
        for _ in range(30):                                                # epochs of 40 images
            for _ in ds:
                pass
    with open(log) as f:
        assert sum(1 for _ in f) == 1000                                   # stopped after one window


def test_bad_image_guard_judges_windows():
    guard = wd.BadImageGuard(0.5, window=100)
    for _ in range(10):
        guard.record(10, 5)                                                # exactly half: allowed
    guard.record(60, 60)
    with pytest.raises(wd.TooManyBadImages, match='60 of the last 100'):
        guard.record(40, 0)
