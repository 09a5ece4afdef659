"""webvision-preview-transform: the crops written are the model's input, pixel for pixel."""
import numpy as np
import pytest
from PIL import Image

from helpers import torchvision_ref as ref
from helpers.images import jpeg_bytes
from helpers.programs import run_program
from webvision.data import transform as tr
from webvision.data.decode import CenterCropDecoder
from webvision.weights.checkpoints import write_npz


@pytest.fixture
def photos(tmp_path):
    from skimage import data
    paths = []
    for name in ('chelsea', 'coffee'):
        path = tmp_path / 'in' / (name + '.jpg')
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(jpeg_bytes(getattr(data, name)()))
        paths.append(path)
    return paths


def converted(tmp_path, t):
    """An .npz as webvision-convert writes it (the weights do not matter to the preview)."""
    path = str(tmp_path / 'w.npz')
    write_npz(path, dict({'linear/b': np.zeros(3, np.float32)}, **tr.npz_entry(t)))
    return path


def png(path):
    return np.asarray(Image.open(path).convert('RGB'))


def test_the_recorded_transform_s_crops_are_torchvision_s_pixels(tmp_path, photos):
    load = converted(tmp_path, tr.Transform('torchvision', 235, 224, 'bicubic'))
    proc = run_program('preview_transform', '--load', load, '--out', tmp_path / 'out', *photos)
    assert proc.returncode == 0 and 'Resize(235)' in proc.stdout, proc.stderr
    for p in photos:
        expected = ref.crop_pixels(p.read_bytes(), 235, 224, Image.BICUBIC)
        np.testing.assert_array_equal(png(tmp_path / 'out' / (p.stem + '.png')), expected)


def test_a_recorded_test_size_is_the_default_size(tmp_path, photos):
    """webvision-convert --test-size records timm's test size (288/288): without --image-size the
    preview is at that size, as timm's validate.py evaluates; --image-size 224 scales it (224/224)."""
    load = converted(tmp_path, tr.Transform('torchvision', 288, 288, 'bicubic'))
    for flags, (resize, crop) in (((), (288, 288)), (('--image-size', 224), (224, 224))):
        out = tmp_path / 'out{}'.format(crop)
        proc = run_program('preview_transform', '--load', load, '--out', out, *flags, photos[0])
        assert proc.returncode == 0 and 'CenterCrop({})'.format(crop) in proc.stdout, proc.stderr
        expected = ref.crop_pixels(photos[0].read_bytes(), resize, crop, Image.BICUBIC)
        np.testing.assert_array_equal(png(out / 'chelsea.png'), expected)


def test_tta_views_and_the_toolkit_crop(tmp_path, photos):
    load = converted(tmp_path, tr.TORCHVISION)
    proc = run_program('preview_transform', '--load', load, '--tta', 'crops10', '--out', tmp_path / 'tta', photos[0])
    assert proc.returncode == 0, proc.stderr
    T = ref.real_transforms()
    if T is not None:
        views = T.TenCrop(224)(T.Resize(256)(ref.pil_loader(photos[0].read_bytes())))
        for k, view in enumerate(views):
            np.testing.assert_array_equal(png(tmp_path / 'tta' / 'chelsea.view{}.png'.format(k)), np.asarray(view))
    proc = run_program('preview_transform', '--image-size', 112, '--out', tmp_path / 'toolkit', photos[1])
    assert proc.returncode == 0 and 'toolkit' in proc.stdout, proc.stderr
    expected = CenterCropDecoder(112)(photos[1].read_bytes())[0][:, :, ::-1]
    np.testing.assert_array_equal(png(tmp_path / 'toolkit' / 'coffee.png'), expected)


def test_the_caffe_crop_is_written_rounded_and_has_no_tta(tmp_path, photos):
    from helpers import caffe_io_ref
    load = converted(tmp_path, tr.CAFFE)
    proc = run_program('preview_transform', '--load', load, '--out', tmp_path / 'out', photos[1])
    assert proc.returncode == 0 and 'eval_img.py' in proc.stdout, proc.stderr
    im = caffe_io_ref.resize_image(caffe_io_ref.center(caffe_io_ref.load_image(photos[1])), [224, 224]) * 255.
    assert np.abs(png(tmp_path / 'out' / 'coffee.png') - im).max() <= 0.5 + 1e-3
    proc = run_program('preview_transform', '--load', load, '--tta', 'flip', '--out', tmp_path / 'tta', photos[1])
    assert proc.returncode == 1 and "error: --tta flip: the caffe transform (eval_img.py's) has one view" in proc.stderr
    assert not (tmp_path / 'tta').exists()


def test_bad_images_are_named_and_the_others_written(tmp_path, photos):
    (tmp_path / 'folder.jpg').mkdir()
    (tmp_path / 'other').mkdir()
    same_name = tmp_path / 'other' / 'chelsea.jpg'
    same_name.write_bytes(photos[0].read_bytes())
    proc = run_program('preview_transform', '--out', tmp_path / 'out', tmp_path / 'folder.jpg', photos[0], same_name,
                       tmp_path / 'nothere.jpg')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert '{}: cannot be cropped: not a regular file: a folder'.format(tmp_path / 'folder.jpg') in proc.stderr
    assert '{}: cannot be cropped: unreadable'.format(tmp_path / 'nothere.jpg') in proc.stderr
    assert (tmp_path / 'out' / 'chelsea.png').is_file() and (tmp_path / 'out' / 'other-chelsea.png').is_file()
    (tmp_path / 'file').write_text('x')
    proc = run_program('preview_transform', '--out', tmp_path / 'file', photos[0])
    assert proc.returncode == 1 and 'error: --out {}'.format(tmp_path / 'file') in proc.stderr


def test_a_crop_never_replaces_one_of_the_images(tmp_path, photos):
    """--out the images' own folder, with a PNG among them: the PNG named as an input, nothing written."""
    source = tmp_path / 'in' / 'chelsea.png'
    source.write_bytes(b'an input')
    proc = run_program('preview_transform', '--out', tmp_path / 'in', source)
    assert proc.returncode == 1 and 'is also IMAGE {}; refusing to overwrite an input'.format(source) in proc.stderr
    assert source.read_bytes() == b'an input'
