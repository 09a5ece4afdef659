"""The caffe evaluation transform (eval_img.py's, recorded by webvision-convert-caffe) gives the blob
eval_img.py feeds its network, re-derived from caffe.io in tests/helpers/caffe_io_ref.py (Caffe does
not run here), on real photos of every shape and kind."""
import numpy as np
import pytest

from helpers import caffe_io_ref as ref
from helpers.images import encode_array, photos
from webvision.core.errors import InputError
from webvision.data import transform as tr
from webvision.data.decode import CaffeDecoder, decoder

PHOTOS = photos()


def reference_blob(tmp_path, data):
    return ref.network_input(ref.write_image(tmp_path, data))


def blob(im):
    """What the graph makes of the decoder's float BGR crop: the recorded mean and std."""
    t = tr.CAFFE
    mean, std = np.asarray(t.mean[::-1]) * 255., np.asarray(t.std[::-1]) * 255.
    return ((im - mean.astype(np.float32)) * (1. / std).astype(np.float32)).transpose(2, 0, 1)


@pytest.mark.parametrize('name', sorted(PHOTOS))
def test_the_caffe_crop_is_eval_imgs_network_input(tmp_path, name):
    im, reason = CaffeDecoder(tr.CAFFE)(PHOTOS[name])
    assert reason is None and im.shape == (224, 224, 3) and im.dtype == np.float32
    expected = reference_blob(tmp_path, PHOTOS[name])
    # to within two float32 steps of numbers up to 2.2: the two resizes add in double in other orders
    np.testing.assert_allclose(blob(im), expected, rtol=0, atol=5e-7, err_msg=name)


def test_a_portrait_image_is_cut_as_eval_imgs_slice_cuts_it(tmp_path):
    """im[off:off + h] of a portrait image keeps the rows from off to the bottom: 300 of 400 here,
    squashed to a square, not the centre 250 x 250 square."""
    data = PHOTOS['portrait 400x250']
    im = CaffeDecoder(tr.CAFFE)(data)[0]
    loaded = ref.load_image(ref.write_image(tmp_path, data))
    square = ref.resize_image(loaded[75:325], [224, 224])[..., ::-1] * 255.
    bottom = ref.resize_image(loaded[75:], [224, 224])[..., ::-1] * 255.
    assert np.abs(im - bottom).max() < 1e-3 < np.abs(im - square).mean()


def test_the_re_derived_resize_is_scikit_images_with_python_2s_defaults(tmp_path):
    from skimage.transform import resize
    im = ref.load_image(ref.write_image(tmp_path, PHOTOS['small 120x160']))            # upscaled: the constant border shows
    for shape in ((224, 224), (50, 70)):
        old = ref.warp_resize(im, shape)
        np.testing.assert_allclose(old, resize(im.astype(np.float64), shape, order=1, mode='constant',
                                               anti_aliasing=False), rtol=0, atol=1e-12)
    today = resize(im.astype(np.float64), (50, 70), order=1)      # reflect, antialiased: other pixels
    assert np.abs(today - ref.warp_resize(im, (50, 70))).max() > 0.05


def test_a_constant_image_is_filled_and_tiny_ones_are_resized_as_caffe_io_does(tmp_path):
    im = CaffeDecoder(tr.CAFFE)(encode_array(np.full((30, 40, 3), 77, np.uint8), 'PNG'))[0]
    assert im.shape == (224, 224, 3) and np.allclose(im, 77., atol=1e-4)
    for tiny in (np.array([[[10, 20, 30]]], np.uint8), np.arange(18, dtype=np.uint8).reshape(3, 2, 3) * 12,
                 np.arange(15, dtype=np.uint8).reshape(1, 5, 3) * 9):
        data = encode_array(tiny, 'PNG')
        im = CaffeDecoder(tr.CAFFE)(data)[0]
        assert im.shape == (224, 224, 3)
        np.testing.assert_allclose(blob(im), reference_blob(tmp_path, data), rtol=0, atol=5e-7)


def test_a_16_bit_image_keeps_its_levels():
    from PIL import Image
    import io
    levels = (np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 21)
    buf = io.BytesIO()
    Image.fromarray(levels).save(buf, 'PNG')
    im = CaffeDecoder(tr.CAFFE)(buf.getvalue())[0]
    assert im.dtype == np.float32 and 0. < im.min() and im.max() < 255.
    assert len(np.unique(np.round(im[..., 0], 3))) > 1000        # not cut to 256 levels


def test_the_decoder_is_picked_by_the_record_and_refuses_what_it_cannot_do():
    assert isinstance(decoder(False, 224, transform=tr.CAFFE), CaffeDecoder)
    assert not isinstance(decoder(True, 224, transform=tr.CAFFE), CaffeDecoder)       # training crops
    with pytest.raises(InputError, match="--tta flip: the caffe transform .* has one view"):
        decoder(False, 224, tta='flip', transform=tr.CAFFE)
    d = CaffeDecoder(tr.CAFFE, max_pixels=1000)
    assert d(b'<html>404</html>') == (None, 'not a decodable image')
    assert d(PHOTOS['small 120x160'])[1].startswith('too large: 160 x 120')
    cut = CaffeDecoder(tr.CAFFE)(PHOTOS['palette PNG 300x451'][:3000])
    assert cut[0] is None and cut[1].startswith('decoding failed')


def test_the_record_says_caffe_and_is_checked(tmp_path):
    path = str(tmp_path / 'w.npz')
    np.savez(path, **{'linear/b': np.zeros(3, np.float32)}, **tr.npz_entry(tr.CAFFE.at_size(288)))
    t = tr.read_transform(path)
    assert t.kind == 'caffe' and (t.resize, t.crop) == (288, 288) and t.float_input
    assert not tr.TORCHVISION.float_input and not tr.TOOLKIT.float_input
    assert 'eval_img.py' in t.describe() and '[103.94, 116.78, 123.68]' in t.describe() and '0.017' in t.describe()
    (tmp_path / tr.FILE_NAME).write_bytes(b'{"kind": "caffe", "resize": 256, "crop": 224}')
    with pytest.raises(tr.TransformError, match='resize = 256: eval_img.py resizes the centre square straight'):
        tr.read_transform(str(tmp_path / 'model-1'))
