"""webvision/data/decode.py: reading and decoding web images, the crop decoders, and the limits on hostile files."""
import os

import cv2
import numpy as np
import pytest
from PIL import Image
from tensorpack.dataflow import imgaug

from helpers.images import encode, jpeg_claiming, photo, png_claiming
from webvision.model.contract import fbresnet_augmentor
from webvision.data import decode


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
        im, reason = decode.decode_image(p(name))
        assert reason is None and im.shape == good.shape and im.dtype == np.uint8, name
    cmyk, _ = decode.decode_image(p('cmyk.jpg'))
    assert np.abs(cmyk.astype(int) - good).mean() < 20      # colours survive the CMYK round trip
    gif, _ = decode.decode_image(p('gif_inside.jpg'))
    assert np.abs(gif.astype(int) - good).mean() < 20       # a 256-colour palette, but the photo
    assert decode.decode_image(p('empty.jpg')) == (None, 'empty file')
    assert decode.decode_image(p('garbage.jpg')) == (None, 'not a decodable image')
    assert decode.decode_image(p('missing.jpg'))[1].startswith('unreadable')
    im, reason = decode.decode_image(p('truncated.jpg'))       # decoded where possible, or refused
    assert (im is not None and im.shape == good.shape) or reason is not None


def _tensorpack_eval(data, size):
    """The original's evaluation pixels: cv2.imread's decode (colour), then tensorpack's own
    fbresnet_augmentor(False): ResizeShortestEdge(int(size / 0.875), cubic) + CenterCrop(size)."""
    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return imgaug.AugmentorList(fbresnet_augmentor(False, size)).augment(im)


def _photos():
    from skimage import data
    big = cv2.resize(data.retina(), (1500, 1100), interpolation=cv2.INTER_AREA)
    shapes = {'landscape': data.chelsea(), 'portrait': np.ascontiguousarray(data.coffee()[:, 100:350]),
              'panorama': np.ascontiguousarray(data.hubble_deep_field()[300:500]), 'big': big,
              'small': cv2.resize(data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA),
              'webvision': cv2.resize(data.rocket(), (384, 256), interpolation=cv2.INTER_AREA)}
    out = {name + ext: encode(np.ascontiguousarray(im[:, :, ::-1]), ext)
           for name, im in shapes.items() for ext in ('.jpg', '.png')}
    out['grey.jpg'], out['grey.png'] = encode(data.coins(), '.jpg'), encode(data.camera(), '.png')
    return out


PHOTOS = _photos()


@pytest.mark.parametrize('size', [224, 97, 64])
@pytest.mark.parametrize('name', sorted(PHOTOS))
def test_centre_crop_decoder_gives_tensorpacks_pixels(name, size):
    """Bit for bit what the original evaluated on: any size, up- and downscaling, JPEG, PNG, grey."""
    ours, reason = decode.CenterCropDecoder(size)(PHOTOS[name])
    assert reason is None and ours.shape == (size, size, 3)
    np.testing.assert_array_equal(ours, _tensorpack_eval(PHOTOS[name], size))


def test_training_crops_of_a_large_jpeg_are_decoded_at_reduced_scale_and_evaluation_never(monkeypatch):
    from skimage.data import astronaut
    big = cv2.resize(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR), (1600, 1600), interpolation=cv2.INTER_CUBIC)
    decoded = []
    real = decode.simplejpeg.decode_jpeg
    monkeypatch.setattr(decode.simplejpeg, 'decode_jpeg', lambda *a, **k: decoded.append(real(*a, **k).shape) or real(*a, **k))
    train = decode.RandomCropDecoder(224, area=(1., 1.), aspect=(1., 1.))       # the whole image
    ours, _ = train(encode(big))
    assert decoded == [(400, 400, 3)]                  # crop side 1600 >= 4 x 224: a quarter-scale decode
    whole = cv2.resize(big, (224, 224), interpolation=cv2.INTER_AREA).astype(int)
    assert ours.shape == (224, 224, 3)
    assert min(np.abs(ours - whole).mean(), np.abs(ours - whole[:, ::-1]).mean()) < 6     # flipped or not
    decode.CenterCropDecoder(224)(encode(big))
    assert decoded[1:] == [(1600, 1600, 3)]


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
        whole, _ = decode.decode_full(blob)
        im, reason = decode.CenterCropDecoder(112)(blob)
        if name == 'truncated':         # OpenCV 5 refuses a cut-short JPEG; we keep what is there
            assert im.shape == (112, 112, 3) and np.abs(im[:40].astype(int) - photo(0, (120, 160))[4:44, 24:136]).mean() < 8
            continue
        assert (im is None) == (whole is None), name
        if im is not None:
            assert im.shape == (112, 112, 3) and im.dtype == np.uint8
            if name in ('jpeg', 'png', 'cmyk', 'gray'):     # the same pixels as OpenCV's decode
                ref = imgaug.AugmentorList(fbresnet_augmentor(False, 112)).augment(whole)
                assert np.abs(im.astype(int) - ref).mean() < 4, name
        else:
            assert reason == 'not a decodable image'


def test_random_crop_decoder_geometry_and_flip():
    im = photo(0, (200, 300))
    dec = decode.RandomCropDecoder(64)
    outs = [dec(encode(im, '.png'))[0] for _ in range(20)]
    assert all(o.shape == (64, 64, 3) and o.dtype == np.uint8 for o in outs)
    assert len({o.tobytes() for o in outs}) == 20                 # a different crop each time
    # the same draws as tensorpack's GoogleNetRandomCropAndResize, given the same generator state
    original = imgaug.GoogleNetRandomCropAndResize(target_shape=64)
    dec._rng, dec._pid, original.rng = np.random.RandomState(1), os.getpid(), np.random.RandomState(1)
    for _ in range(200):
        crop = original.get_transform(im).tfms[0]
        assert dec.box(im.shape[:2]) == (crop.y0, crop.x0, crop.h, crop.w)
        assert 0 <= crop.y0 and crop.y0 + crop.h <= 200 and 0 <= crop.x0 and crop.x0 + crop.w <= 300
    flipped = sum(np.array_equal(dec.finish(im), im[:, ::-1]) for _ in range(200))
    assert 60 < flipped < 140


def test_the_training_decoders_strengths_come_from_the_flags():
    """--crop-area LO HI bounds the crop's share of the image; --hflip 0 never flips, 1 always."""
    im = photo(0, (200, 300))
    dec = decode.decoder(True, 64, crop_area=(0.5, 0.6), hflip=0.)
    areas = [h * w / (200 * 300) for _, _, h, w in (dec.box(im.shape[:2]) for _ in range(300))]
    assert 0.49 < min(areas) and max(areas) < 0.61 and max(areas) - min(areas) > 0.05
    assert all(dec.finish(im) is im for _ in range(50))
    always = decode.decoder(True, 64, hflip=1.)
    assert all(np.array_equal(always.finish(im), im[:, ::-1]) for _ in range(50))


def test_decoder_draws_differ_across_forked_loaders():
    import multiprocessing as mp
    dec = decode.RandomCropDecoder(32)
    dec.box((100, 100))                                      # the parent's generator exists before the fork
    with mp.get_context('fork').Pool(2) as pool:
        draws = pool.map(_boxes, [dec, dec])
    assert draws[0] != draws[1] and draws[0] != _boxes(dec)


def _boxes(dec):
    import os as _os
    return _os.getpid(), [dec.box((100, 100)) for _ in range(5)]


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
    for decoder in (decode.decode_full, decode.decoder(True, 32), decode.decoder(False, 32)):
        assert decode.decode_image(path, decoder) == (None, reason)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 << 10     # KB: nothing decoded
    small = decode.decoder(False, 32, max_pixels=1000)
    assert decode.decode_image(str(tmp_path / 'huge.png'), small)[1].endswith('over the limit of 1,000 (--max-image-pixels)')


def test_fifos_devices_and_huge_files_are_not_read(tmp_path):
    fifo = str(tmp_path / 'pipe.jpg')
    os.mkfifo(fifo)
    assert decode.read_image_file(fifo) == (None, 'not a regular file: a FIFO')     # returns at once, no writer needed
    assert decode.read_image_file('/dev/zero') == (None, 'not a regular file: a character device')
    folder = tmp_path / 'adir.jpg'
    folder.mkdir()
    os.symlink('/dev/zero', str(tmp_path / 'zero.jpg'))
    assert decode.read_image_file(str(folder)) == (None, 'not a regular file: a folder')   # never opened as a file
    assert decode.read_image_file(str(tmp_path / 'zero.jpg')) == (None, 'not a regular file: a character device')
    assert decode.read_image_file(str(tmp_path / 'no\0pe.jpg'))[1].startswith('unreadable')
    assert decode.decode_image(str(folder)) == (None, 'not a regular file: a folder')
    big = str(tmp_path / 'big.jpg')
    with open(big, 'wb') as f:
        f.truncate(decode.MAX_IMAGE_BYTES + 1)                                 # sparse: no disk used
    assert 'over the 268,435,456 an image may have' in decode.read_image_file(big)[1]


def test_tta_views_are_the_centre_crops_of_the_image_its_mirror_and_other_scales():
    import cv2
    from webvision.data.decode import CenterCropDecoder, TTADecoder
    im = (np.random.RandomState(0).rand(300, 401, 3) * 255).astype(np.uint8)
    png = cv2.imencode('.png', im)[1].tobytes()
    mirrored = cv2.imencode('.png', np.ascontiguousarray(im[:, ::-1]))[1].tobytes()
    centre = CenterCropDecoder(224)
    flip, _ = TTADecoder(224, 'flip')(png)
    np.testing.assert_array_equal(flip[0], centre(png)[0])
    np.testing.assert_array_equal(flip[1], centre(mirrored)[0])
    scales, _ = TTADecoder(224, 'scales')(png)
    assert scales.shape == (4, 224, 224, 3)
    np.testing.assert_array_equal(scales[1], centre(png)[0])          # shorter side 256: the usual view
    shorter_224 = imgaug.AugmentorList([imgaug.ResizeShortestEdge(224, cv2.INTER_CUBIC), imgaug.CenterCrop(224)])
    np.testing.assert_array_equal(scales[0], shorter_224.augment(im))


def test_ten_crops_are_the_corners_and_centre_of_the_resized_image_and_its_mirror():
    import cv2
    from webvision.data.decode import TTADecoder
    im = (np.random.RandomState(1).rand(128, 160, 3) * 255).astype(np.uint8)
    views, _ = TTADecoder(56, 'crops10')(cv2.imencode('.png', im)[1].tobytes())
    resized = imgaug.ResizeShortestEdge(64, cv2.INTER_CUBIC).augment(im)     # shorter side 56 x 256/224 = 64
    assert views.shape == (10, 56, 56, 3)
    for k, (y, x) in enumerate([(0, 0), (0, 24), (8, 0), (8, 24), (4, 12)]):
        np.testing.assert_array_equal(views[k], resized[y:y + 56, x:x + 56])
        np.testing.assert_array_equal(views[5 + k], resized[:, ::-1][y:y + 56, x:x + 56])


def test_tta_refuses_what_the_centre_crop_refuses():
    from webvision.data.decode import TTADecoder
    for mode in ('flip', 'crops10', 'scales'):
        im, reason = TTADecoder(224, mode)(b'garbage')
        assert im is None and reason == 'not a decodable image'
