"""webvision.data.transform (the record of a model's evaluation transform) and webvision.data.decode.TorchvisionDecoder,
against torchvision's transform re-derived from its source (helpers/torchvision_ref.py)."""
import io
import os
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from helpers import torchvision_ref as ref
from helpers.images import encode_array, photos
from webvision.data import transform as tr
from webvision.data.decode import CenterCropDecoder, TorchvisionDecoder, decoder


PHOTOS = photos()


@pytest.mark.parametrize('name', sorted(PHOTOS))
def test_torchvision_decoder_gives_torchvisions_pixels(name):
    data = PHOTOS[name]
    im, reason = TorchvisionDecoder(tr.TORCHVISION)(data)
    assert reason is None and im.shape == (224, 224, 3) and im.dtype == np.uint8
    np.testing.assert_array_equal(im[:, :, ::-1], ref.crop_pixels(data), err_msg=name)


SETTINGS = {                      # (resize, crop, interpolation) of the transforms the weights come with
    'torchvision 256/224 bilinear': (256, 224, 'bilinear'),
    'timm crop_pct 0.95 bicubic': (235, 224, 'bicubic'),
    'timm test size 288/288 bicubic': (288, 288, 'bicubic'),
    'timm 329/288 bicubic': (329, 288, 'bicubic'),
    'padded 100/112': (100, 112, 'bilinear'),
    'upscaled 600/512 bicubic': (600, 512, 'bicubic'),
}
FILTERS = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}


@pytest.mark.parametrize('setting', sorted(SETTINGS))
@pytest.mark.parametrize('name', sorted(PHOTOS))
def test_every_recorded_transform_gives_torchvisions_pixels_bit_for_bit(name, setting):
    resize, crop, interpolation = SETTINGS[setting]
    im, reason = TorchvisionDecoder(tr.Transform('torchvision', resize, crop, interpolation))(PHOTOS[name])
    assert reason is None and im.shape == (crop, crop, 3)
    np.testing.assert_array_equal(im[:, :, ::-1], ref.crop_pixels(PHOTOS[name], resize, crop, FILTERS[interpolation]))


@pytest.mark.parametrize('name', ['landscape 300x451', 'small 120x160', 'grey PNG 512x512', 'CMYK JPEG 400x600'])
def test_tta_views_are_torchvisions_views(name):
    """flip: the centre crop and its mirror; crops10: TenCrop of the resize; scales: the centre crops of
    resizes to 224, 256, 288, 320 x resize / 256."""
    T = ref.real_transforms()
    if T is None:
        pytest.skip('torchvision does not import here: pip install -r requirements-ref.txt (make test does)')
    t, data = tr.Transform('torchvision', 235, 224, 'bicubic'), PHOTOS[name]
    img, mode = ref.pil_loader(data), T.InterpolationMode.BICUBIC
    flip, _ = TorchvisionDecoder(t, tta='flip')(data)
    centre = T.CenterCrop(224)(T.Resize(235, mode)(img))
    expected = [centre, T.functional.hflip(centre)]
    crops10, _ = TorchvisionDecoder(t, tta='crops10')(data)
    expected += list(T.TenCrop(224)(T.Resize(235, mode)(img)))
    scales, _ = TorchvisionDecoder(t, tta='scales')(data)
    expected += [T.CenterCrop(224)(T.Resize(s * 235 // 256, mode)(img)) for s in (224, 256, 288, 320)]
    got = np.concatenate([flip, crops10, scales])[:, :, :, ::-1]
    np.testing.assert_array_equal(got, np.stack([np.asarray(v) for v in expected]))


def test_the_re_derived_reference_is_torchvision():
    """helpers/torchvision_ref.py stands in where torchvision cannot run: it must be the real thing."""
    if ref.real_transforms() is None:
        pytest.skip('torchvision does not import here: pip install -r requirements-ref.txt (make test does)')
    for name in sorted(PHOTOS):
        for resize, crop, interpolation in SETTINGS.values():
            f = FILTERS[interpolation]
            np.testing.assert_array_equal(ref.crop_pixels(PHOTOS[name], resize, crop, f, real=False),
                                          ref.crop_pixels(PHOTOS[name], resize, crop, f), err_msg=name)


def test_a_crop_larger_than_the_resized_image_is_zero_padded_as_torchvision_does():
    im, _ = TorchvisionDecoder(tr.Transform('torchvision', resize=100, crop=112))(PHOTOS['landscape 300x451'])
    assert im[:6].max() == 0 and im[-6:].max() == 0 and im[6:-6].mean() > 20     # 100 x 150: 6 + 6 rows


def test_the_toolkit_crop_is_not_torchvisions():
    """Why the transform travels with the weights: the toolkit's crop differs by several grey levels."""
    data = PHOTOS['landscape 300x451']
    im, _ = CenterCropDecoder(224)(data)
    assert np.abs(im[:, :, ::-1] - ref.pixels(ref.eval_transform(data))).mean() > 2


def test_tta_views_are_torchvisions_crops():
    data = PHOTOS['landscape 300x451']
    plain, _ = TorchvisionDecoder(tr.TORCHVISION)(data)
    flip, _ = TorchvisionDecoder(tr.TORCHVISION, 'flip')(data)
    ten, _ = TorchvisionDecoder(tr.TORCHVISION, 'crops10')(data)
    scales, _ = TorchvisionDecoder(tr.TORCHVISION, 'scales')(data)
    assert flip.shape == (2, 224, 224, 3) and ten.shape == (10, 224, 224, 3) and scales.shape == (4, 224, 224, 3)
    assert np.array_equal(flip[0], plain) and np.array_equal(flip[1], plain[:, ::-1])
    assert np.array_equal(scales[1], plain)
    assert np.abs(ten[4].astype(int) - plain).max() <= 1        # the whole image resized, then cropped
    resized = np.asarray(ref.resize(ref.pil_loader(data), 256))[:, :, ::-1]        # 256 x 384, BGR
    assert np.array_equal(ten[0], resized[:224, :224]) and np.array_equal(ten[3], resized[-224:, -224:])
    assert np.array_equal(ten[5], resized[:, ::-1][:224, :224])


def test_decoder_picks_the_transform_and_refuses_what_it_cannot_read():
    assert isinstance(decoder(False, 224, transform=tr.TORCHVISION), TorchvisionDecoder)
    assert isinstance(decoder(False, 224, transform=tr.TOOLKIT), CenterCropDecoder)
    assert not isinstance(decoder(True, 224, transform=tr.TORCHVISION), TorchvisionDecoder)     # training crops
    d = TorchvisionDecoder(tr.TORCHVISION, max_pixels=1000)
    assert d(b'<html>404</html>') == (None, 'not a decodable image')
    assert d(PHOTOS['small 120x160'])[1].startswith('too large: 160 x 120')
    cut_short = TorchvisionDecoder(tr.TORCHVISION)(PHOTOS['landscape 300x451'][:2000])
    assert cut_short[0] is None and cut_short[1].startswith('decoding failed: image file is truncated')


def test_the_record_round_trips_through_an_npz_and_a_run_folder(tmp_path):
    t = tr.Transform('torchvision', resize=320, crop=288, interpolation='bicubic')
    path = str(tmp_path / 'w.npz')
    np.savez(path, **{'linear/b': np.zeros(3, np.float32)}, **tr.npz_entry(t))
    assert tr.read_transform(path) == t
    np.savez(str(tmp_path / 'plain.npz'), **{'linear/b': np.zeros(3, np.float32)})
    assert tr.read_transform(str(tmp_path / 'plain.npz')) is None
    assert tr.choose('auto', str(tmp_path / 'plain.npz')) == tr.TOOLKIT
    run = tmp_path / 'run'
    run.mkdir()
    assert tr.read_transform(str(run / 'model-10')) is None
    tr.write_record(str(run), t)
    assert tr.read_transform(str(run / 'model-10')) == t
    assert tr.choose('auto', str(run / 'model-10')) == t and t.at_size(224).resize == 248
    assert tr.choose('toolkit', str(run / 'model-10')) == tr.TOOLKIT


@pytest.mark.parametrize('record, message', [
    (b'{"kind": "torchvision"', 'not JSON'),
    (b'[1, 2]', 'is list, not an object'),
    (b'{"kind": "timm"}', "kind = 'timm': expected one of toolkit, torchvision"),
    (b'{"kind": "torchvision", "interpolation": "lanczos"}', 'expected one of bilinear, bicubic'),
    (b'{"kind": "torchvision", "resize": "256"}', "resize = '256': expected a whole number"),
    (b'{"kind": "torchvision", "crop": 0}', 'crop = 0'),
    (b'{"kind": "toolkit", "mean": [0.5, 0.5, 0.5]}', "the toolkit's crop goes with ImageNet's mean"),
    (b'{"kind": "torchvision", "mean": [0.5, 0.5, 500]}', 'expected three numbers from 0.0 to 1.0'),
    (b'{"kind": "torchvision", "std": "x"}', "std = 'x'"),
    (b'{"kind": "torchvision", "__class__": 1}', "unknown transform field(s) '__class__'"),
])
def test_a_bad_record_is_refused_naming_the_file_and_field(tmp_path, record, message):
    (tmp_path / tr.FILE_NAME).write_bytes(record)
    with pytest.raises(tr.TransformError, match='transform.json') as e:
        tr.read_transform(str(tmp_path / 'model-1'))
    assert message in str(e.value)


def test_an_oversized_or_mistyped_npz_record_is_refused(tmp_path):
    path = str(tmp_path / 'w.npz')
    np.savez(path, **{tr.NPZ_KEY: np.zeros(10, np.float32)})
    with pytest.raises(tr.TransformError, match='w.npz: __transform__ is not a transform record'):
        tr.read_transform(path)
    (tmp_path / tr.FILE_NAME).write_bytes(b' ' * 5000)
    with pytest.raises(tr.TransformError, match='over 4096 bytes'):
        tr.read_transform(str(tmp_path / 'model-1'))


def test_describe_names_the_steps():
    assert 'Resize(256)' in tr.TORCHVISION.describe() and 'CenterCrop(224)' in tr.TORCHVISION.describe()
    assert json.loads(tr.TORCHVISION.to_json())['kind'] == 'torchvision'


@pytest.mark.parametrize('content', [b'', b'PK\x03\x04 cut short', b'not a zip at all'])
def test_a_damaged_npz_is_named_as_weights_that_cannot_be_read(tmp_path, content):
    path = tmp_path / 'w.npz'
    path.write_bytes(content)
    with pytest.raises(tr.TransformError, match=r'w.npz: cannot be read as weights \(.+\); is it damaged'):
        tr.read_transform(str(path))


def test_a_deeply_nested_record_is_refused_without_recursing(tmp_path):
    (tmp_path / tr.FILE_NAME).write_bytes(b'[' * 2000 + b']' * 2000)
    with pytest.raises(tr.TransformError, match=r'transform.json: the transform record is not JSON \(nested too deep\)'):
        tr.read_transform(str(tmp_path / 'model-1'))
    npz = str(tmp_path / 'deep.npz')
    np.savez(npz, **{tr.NPZ_KEY: np.frombuffer(b'[' * 2000, np.uint8)})
    with pytest.raises(tr.TransformError, match='deep.npz: the transform record is not JSON'):
        tr.read_transform(npz)


def test_a_record_entry_that_inflates_past_its_limit_is_refused_before_inflating(tmp_path):
    """A small zip entry of zeros that inflates to 256 MiB: refused by the entry's header, at no memory."""
    import tracemalloc
    import zipfile
    path = str(tmp_path / 'bomb.npz')
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {'descr': '|u1', 'fortran_order': False, 'shape': (2 ** 28,)})
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_DEFLATED) as z, z.open(tr.NPZ_KEY + '.npy', 'w', force_zip64=True) as m:
        m.write(header.getvalue())
        zeros = bytes(2 ** 24)
        for _ in range(2 ** 28 // len(zeros)):
            m.write(zeros)
    assert os.path.getsize(path) < 2 ** 20
    tracemalloc.start()         # numpy's buffers are traced too
    with pytest.raises(tr.TransformError, match=r'bomb.npz: __transform__ holds 268,435,584 bytes; a transform '
                                                r'record has at most 4,096'):
        tr.read_transform(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 2 ** 20, peak
