"""Reading and decoding images from the web, which may be anything: the loaders' only way in.

Only regular files of at most MAX_IMAGE_BYTES are read; an image whose header claims more than
``max_pixels`` is refused before it is decoded; a failure is a reason string, never an exception
that could stop a run. The crop decoders turn an encoded image straight into the model's input
crop (uint8 BGR), decoding large JPEGs at reduced scale.
"""
import io
import os
import time

import cv2
import numpy as np
import PIL.Image
import simplejpeg

from webvision.core.constants import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from webvision.core.errors import InputError
from webvision.core.fileio import NotRegular, open_regular


def read_image_file(path):
    """(bytes, None) or (None, reason); never raises. Only regular files are read (fileio.open_regular:
    a listed folder, FIFO or device is refused before it is opened as a file, and a FIFO swapped in
    between returns at once), of at most MAX_IMAGE_BYTES."""
    try:
        fd, st = open_regular(path)
    except NotRegular as e:
        return None, 'not a regular file: {}'.format(e.kind)
    except InputError as e:
        return None, 'unreadable: {}'.format(str(e).split(': ', 1)[-1])
    try:
        if st.st_size > MAX_IMAGE_BYTES:
            return None, 'file of {:,} bytes, over the {:,} an image may have'.format(st.st_size, MAX_IMAGE_BYTES)
        chunks, left = [], MAX_IMAGE_BYTES + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 22))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        return None, 'unreadable: {}'.format(e.strerror)
    finally:
        os.close(fd)
    data = b''.join(chunks)
    if len(data) > MAX_IMAGE_BYTES:     # grew after the check
        return None, 'file of over {:,} bytes, the most an image may have'.format(MAX_IMAGE_BYTES)
    return (data, None) if data else (None, 'empty file')


# Pillow only reads headers here (header_shape); its own limit would refuse what --max-image-pixels
# allows, and too_large() applies ours on every decode path.
PIL.Image.MAX_IMAGE_PIXELS = None


def header_shape(data):
    """(height, width) read from an encoded image's header without decoding it; None for a
    format Pillow does not know."""
    try:
        with PIL.Image.open(io.BytesIO(data)) as im:
            return im.height, im.width
    except Exception:       # noqa: BLE001  (Pillow's plugins raise many types on garbage)
        return None


def too_large(shape, max_pixels):
    """Why an image of this (height, width) is refused, or None."""
    if shape[0] * shape[1] <= max_pixels:
        return None
    return 'too large: {} x {} pixels, over the limit of {:,} (--max-image-pixels)'.format(
        shape[1], shape[0], max_pixels)


class Refused(Exception):
    """An image refused before or while decoding; the message is the reason."""


def decode_checked(data, max_pixels=MAX_IMAGE_PIXELS):
    """The whole image, BGR uint8, by OpenCV, once its header shows a known format within
    ``max_pixels``; Refused with the reason otherwise."""
    shape = header_shape(data)
    if shape is None:
        raise Refused('not a decodable image')
    reason = too_large(shape, max_pixels)
    if reason:
        raise Refused(reason)
    im = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if im is None or im.size == 0:
        raise Refused('not a decodable image')
    return im


def decode_full(data, max_pixels=MAX_IMAGE_PIXELS):
    """(BGR uint8 image of the whole file, None), or (None, reason). Grayscale, PNG, GIF or CMYK
    content in a .jpg file decodes; images above ``max_pixels`` are refused before decoding."""
    try:
        return decode_checked(data, max_pixels), None
    except Refused as e:
        return None, str(e)


def decode_image(path, decode=decode_full):
    """(image, None) or (None, reason) for the file at ``path``; never raises for its content."""
    data, reason = read_image_file(path)
    if data is None:
        return None, reason
    try:
        return decode(data)
    except Exception as e:  # noqa: BLE001  (one bad image must not stop a run; the reason is reported)
        return None, 'decoding failed: {}'.format(e)


class CropDecoder:
    """Decodes an encoded image straight into a ``size`` x ``size`` crop. For a JPEG the crop is
    chosen from the header before decoding, so that a large image is decoded at 1/2, 1/4 or 1/8
    scale (libjpeg's DCT scaling, much cheaper) whenever the crop still has ``size`` pixels there;
    then only the crop is resized. JPEGs are decoded with simplejpeg (libjpeg-turbo; 0.43 ms for a
    256 x 340 image where cv2.imdecode took 0.69); anything else (PNG, GIF, CMYK, EXIF-rotated or
    damaged files) by OpenCV, as before. Images whose header claims more than ``max_pixels`` are
    refused before decoding. Returns (BGR uint8 image, None) or (None, reason)."""

    DCT_SCALING = True

    def __init__(self, size, interp=cv2.INTER_CUBIC, max_pixels=MAX_IMAGE_PIXELS):
        self.size, self.interp, self.max_pixels = size, interp, max_pixels
        self._rng, self._pid = None, None

    @property
    def rng(self):
        # reseeded in every process: forked loaders would otherwise draw the same crops
        if self._pid != os.getpid():
            seed = (id(self) + os.getpid() + time.time_ns() // 1000) % (2 ** 32 - 1)
            self._rng, self._pid = np.random.RandomState(seed), os.getpid()
        return self._rng

    def __call__(self, data):
        try:
            im, box = self._decode_jpeg(data)
            if im is None:
                im = decode_checked(data, self.max_pixels)
                box = self.box(im.shape[:2])
        except Refused as e:
            return None, str(e)
        return self.finish(self.crop(im, box)), None

    def crop(self, im, box):
        """The (y, x, h, w) box of ``im`` resized to ``size`` x ``size``."""
        y, x, h, w = box
        im = im[y:y + max(h, 1), x:x + max(w, 1)]
        if im.shape[:2] != (self.size, self.size):
            im = cv2.resize(im, (self.size, self.size), interpolation=self.interp)
        return im

    def _decode_jpeg(self, data):
        """(image, crop box in it) of a plain JPEG, or (None, None) for OpenCV to handle."""
        # OpenCV applies an EXIF orientation; simplejpeg would not
        if data[:2] != b'\xff\xd8' or b'Exif' in data[:64]:
            return None, None
        try:
            h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
            if colorspace not in ('YCbCr', 'Gray', 'RGB'):     # CMYK and YCCK
                return None, None
            reason = too_large((h, w), self.max_pixels)
            if reason:
                raise Refused(reason)
            box = self.box((h, w))
            factor = next((f for f in (8, 4, 2) if min(box[2:]) >= f * self.size), 1) if self.DCT_SCALING else 1
            size = dict(min_height=-(-h // factor), min_width=-(-w // factor))
            try:
                im = simplejpeg.decode_jpeg(data, colorspace='BGR', **size)
            except ValueError:  # cut short (an interrupted download): what is there, the rest grey
                im = simplejpeg.decode_jpeg(data, colorspace='BGR', strict=False, **size)
        except ValueError:      # no JPEG header: OpenCV may still know the format
            return None, None
        if im.shape[:2] != (-(-h // factor), -(-w // factor)):
            return im, self.box(im.shape[:2])
        return im, [v // factor for v in box]

    def box(self, shape):
        """(y, x, h, w) of the crop in an image of this (h, w)."""
        raise NotImplementedError

    def finish(self, im):
        return im


class RandomCropDecoder(CropDecoder):
    """fb.resnet.torch's (and tensorpack's GoogleNetRandomCropAndResize) random-resized crop: by
    default 8-100 % of the area, aspect 3/4-4/3, ten tries, else the centre square; then a
    horizontal flip with probability ``hflip``. Colour jitter and lighting are applied to the batch
    in the graph (batch_color_augment)."""

    def __init__(self, size, area=(0.08, 1.), aspect=(0.75, 1.333), interp=cv2.INTER_CUBIC,
                 max_pixels=MAX_IMAGE_PIXELS, hflip=0.5):
        super().__init__(size, interp, max_pixels)
        self.area, self.aspect, self.hflip = area, aspect, hflip

    def box(self, shape):
        h, w = shape
        rng = self.rng
        for _ in range(10):
            target = rng.uniform(*self.area) * (h * w)
            aspect = rng.uniform(*self.aspect)
            ww, hh = int(np.sqrt(target * aspect) + 0.5), int(np.sqrt(target / aspect) + 0.5)
            if rng.uniform() < 0.5:
                ww, hh = hh, ww
            if hh <= h and ww <= w:
                x = rng.randint(0, w - ww + 1)
                return rng.randint(0, h - hh + 1), x, hh, ww
        side = min(h, w)
        return (h - side) // 2, (w - side) // 2, side, side

    def finish(self, im):
        return cv2.flip(im, 1) if self.rng.uniform() < self.hflip else im


class CenterCropDecoder(CropDecoder):
    """Evaluation, as the original benchmark's tensorpack pipeline: the whole image decoded,
    ResizeShortestEdge(size x 256/224, cubic), then CenterCrop(size), with tensorpack's arithmetic,
    so the same pixels as its augmentors (no resize at all for WebVision's 256-pixel images).
    Cropping before resizing was cheaper but moved edge pixels by several grey levels."""
    DCT_SCALING = False         # a reduced-scale decode is another image

    def __init__(self, size, interp=cv2.INTER_CUBIC, max_pixels=MAX_IMAGE_PIXELS):
        super().__init__(size, interp, max_pixels)
        self.resize = size * 256 // 224

    def __call__(self, data):
        try:
            im = self.decode_whole(data)
        except Refused as e:
            return None, str(e)
        return self.center(im), None

    def decode_whole(self, data):
        im, _ = self._decode_jpeg(data)
        return im if im is not None else decode_checked(data, self.max_pixels)

    def box(self, shape, resize=None):
        """The centre crop's box when the shorter side is resized to ``resize`` (default size x 256/224)."""
        h, w = shape
        side = max(int(round(self.size * min(h, w) / float(resize or self.resize))), 1)
        side_h, side_w = min(side, h), min(side, w)
        return int((h - side_h) * 0.5), int((w - side_w) * 0.5), side_h, side_w

    def shortest_edge(self, im, resize):
        """tensorpack's ResizeShortestEdge(resize, interp): the longer side int(scale x long + 0.5)."""
        h, w = im.shape[:2]
        scale = resize * 1.0 / min(h, w)
        new_h, new_w = (resize, int(scale * w + 0.5)) if h < w else (int(scale * h + 0.5), resize)
        return im if (new_h, new_w) == (h, w) else cv2.resize(im, (new_w, new_h), interpolation=self.interp)

    def center(self, im, resize=None):
        """tensorpack's CenterCrop(size) of the shortest-edge resize: offsets int((H - size) x 0.5)."""
        im = self.shortest_edge(im, resize or self.resize)
        h, w, s = im.shape[0], im.shape[1], self.size
        top, left = int((h - s) * 0.5), int((w - s) * 0.5)
        return np.ascontiguousarray(im[top:top + s, left:left + s])


class TTADecoder(CenterCropDecoder):
    """Test-time augmentation: several views of an image, [views, size, size, 3] uint8 BGR, each made
    as CenterCropDecoder makes its one. flip: the centre crop of the image and of its mirror;
    crops10: the shorter side resized to size x 256/224, then its four corners and centre, and those
    of its mirror (torchvision's TenCrop); scales: centre crops with the shorter side at 224, 256,
    288, 320 x size/224."""
    VIEWS = {'flip': 2, 'crops10': 10, 'scales': 4}
    SCALES = (224, 256, 288, 320)

    def __init__(self, size, mode, interp=cv2.INTER_CUBIC, max_pixels=MAX_IMAGE_PIXELS):
        if mode not in self.VIEWS:
            raise ValueError('TTA mode {!r} is not one of {}'.format(mode, ', '.join(self.VIEWS)))
        super().__init__(size, interp, max_pixels)
        self.mode, self.views = mode, self.VIEWS[mode]

    def __call__(self, data):
        try:
            im = self.decode_whole(data)
        except Refused as e:
            return None, str(e)
        if self.mode == 'flip':
            return np.stack([self.center(im), self.center(cv2.flip(im, 1))]), None
        if self.mode == 'scales':
            return np.stack([self.center(im, s * self.size // 224) for s in self.SCALES]), None
        resized = self.shortest_edge(im, self.resize)
        return np.stack(self.five_crops(resized) + self.five_crops(cv2.flip(resized, 1))), None

    def five_crops(self, im):
        """Top left, top right, bottom left, bottom right and centre ``size`` squares."""
        h, w, s = im.shape[0], im.shape[1], self.size
        cy, cx = int(round((h - s) / 2.)), int(round((w - s) / 2.))
        return [im[y:y + s, x:x + s] for y, x in ((0, 0), (0, w - s), (h - s, 0), (h - s, w - s), (cy, cx))]


def pil_rgb(data, max_pixels=MAX_IMAGE_PIXELS):
    """The image as torchvision's ImageFolder loads it: Pillow's ``convert('RGB')`` (alpha dropped,
    grey repeated, EXIF orientation not applied); Refused with the reason for what Pillow cannot read.
    A plain JPEG (YCbCr, grey or RGB) is decoded by simplejpeg instead: the same libjpeg-turbo with
    the same settings (accurate DCT, fancy upsampling), so the same pixels, in less time."""
    rgb = _plain_jpeg_rgb(data, max_pixels)
    return PIL.Image.fromarray(rgb) if rgb is not None else _pil_convert_rgb(data, max_pixels)


def _pil_convert_rgb(data, max_pixels):
    return _pil_convert(_pil_open(data, max_pixels))


def _pil_open(data, max_pixels):
    try:
        im = PIL.Image.open(io.BytesIO(data))
    except Exception:       # noqa: BLE001  (Pillow's plugins raise many types on garbage)
        raise Refused('not a decodable image') from None
    reason = too_large((im.height, im.width), max_pixels)
    if reason:
        raise Refused(reason)
    return im


def _pil_convert(im):
    try:
        return im.convert('RGB')
    except Exception as e:  # noqa: BLE001  (cut short, damaged)
        raise Refused('decoding failed: {}'.format(e)) from None


def _plain_jpeg_rgb(data, max_pixels):
    """RGB uint8 of a JPEG simplejpeg decodes exactly as Pillow would, else None (Pillow decides)."""
    if data[:2] != b'\xff\xd8':
        return None
    try:
        h, w, colorspace, _ = simplejpeg.decode_jpeg_header(data)
        if colorspace not in ('YCbCr', 'Gray', 'RGB'):
            return None
        reason = too_large((h, w), max_pixels)
        if reason:
            raise Refused(reason)
        return simplejpeg.decode_jpeg(data, colorspace='RGB', fastdct=False, fastupsample=False)
    except ValueError:      # not a JPEG after all, or damaged: Pillow gives the answer and the reason
        return None


def resized_size(size, w, h):
    """torchvision's _compute_resized_output_size for an int: (width, height) with the shorter side
    ``size`` and the longer one int(size x long / short)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


class TorchvisionDecoder:
    """torchvision's evaluation transform in Pillow, as its source does it: Resize(resize) of the
    shorter side (see resized_size; no resize when that is the image's size; Pillow's filter, which
    antialiases), then CenterCrop(crop) (offsets rounded, zero padding where the image is smaller).
    The whole image is resized, then cropped: bit-identical to torchvision's transforms. TTA views as
    TTADecoder's, made the same way (crops10 is TenCrop). Returns (BGR uint8 image or [views, ...], None) or (None, reason)."""
    FILTERS = {'bilinear': PIL.Image.BILINEAR, 'bicubic': PIL.Image.BICUBIC}

    def __init__(self, transform, tta='none', max_pixels=MAX_IMAGE_PIXELS):
        if tta not in ('none',) + tuple(TTADecoder.VIEWS):
            raise ValueError('TTA mode {!r} is not one of none, {}'.format(tta, ', '.join(TTADecoder.VIEWS)))
        self.t, self.tta, self.max_pixels = transform, tta, max_pixels
        self.views = TTADecoder.VIEWS.get(tta, 1)

    def __call__(self, data):
        try:
            rgb = _plain_jpeg_rgb(data, self.max_pixels)
            if rgb is not None and self.tta == 'none':
                im = self._crop_unresized(rgb)
                if im is not None:
                    return im, None
            im = PIL.Image.fromarray(rgb) if rgb is not None else _pil_convert_rgb(data, self.max_pixels)
        except Refused as e:
            return None, str(e)
        crop = self.t.crop
        if self.tta == 'scales':
            views = [self.resized_crop(im, s * self.t.resize // 256, crop) for s in TTADecoder.SCALES]
        elif self.tta == 'crops10':
            im = self.resize(im, self.t.resize)
            views = self.five_crop(im, crop) + self.five_crop(im.transpose(PIL.Image.FLIP_LEFT_RIGHT), crop)
        else:
            views = [self.resized_crop(im, self.t.resize, crop)]
            if self.tta == 'flip':
                views.append(views[0].transpose(PIL.Image.FLIP_LEFT_RIGHT))
        out = [cv2.cvtColor(np.asarray(v), cv2.COLOR_RGB2BGR) for v in views]     # the model's order
        return (out[0] if self.tta == 'none' else np.stack(out)), None

    def _crop_unresized(self, rgb):
        """The BGR centre crop of an RGB array that needs no resize (WebVision's 256-pixel images),
        without a round trip through Pillow; None when it needs one or padding."""
        h, w = rgb.shape[:2]
        size = self.t.crop
        if resized_size(self.t.resize, w, h) != (w, h) or size > w or size > h:
            return None
        top, left = int(round((h - size) / 2.)), int(round((w - size) / 2.))
        return cv2.cvtColor(rgb[top:top + size, left:left + size], cv2.COLOR_RGB2BGR)

    def resize(self, im, size):
        new = resized_size(size, *im.size)
        return im if new == im.size else im.resize(new, self.FILTERS[self.t.interpolation])

    def resized_crop(self, im, size, crop):
        """center_crop(resize(im, size), crop): the whole image is resized, as torchvision does.
        Resizing only the crop's box (Pillow's ``box=``) computes the filter's weights from other
        offsets, and their rounding moved pixels by up to 6 grey levels (bicubic, 288 px)."""
        return self.center_crop(self.resize(im, size), crop)

    @staticmethod
    def center_crop(im, size):
        w, h = im.size
        if size > w or size > h:
            padded = PIL.Image.new('RGB', (max(w, size), max(h, size)))
            padded.paste(im, ((size - w) // 2 if size > w else 0, (size - h) // 2 if size > h else 0))
            im, (w, h) = padded, padded.size
        top, left = int(round((h - size) / 2.)), int(round((w - size) / 2.))
        return im.crop((left, top, left + size, top + size))

    @classmethod
    def five_crop(cls, im, size):
        w, h = im.size
        if size > w or size > h:
            return [cls.center_crop(im, size)] * 5      # torchvision raises; one view is still an answer
        corners = [(0, 0), (w - size, 0), (0, h - size), (w - size, h - size)]
        return [im.crop((x, y, x + size, y + size)) for x, y in corners] + [cls.center_crop(im, size)]


class CaffeDecoder:
    """eval_img.py's crop (kaiyuyue/resnext-wsl-caffe), as float32 BGR 0-255 (not rounded: Caffe's input
    is float). caffe.io.load_image: the image as Pillow decodes it, in 0-1 (skimage's img_as_float),
    grey tiled, alpha dropped; the centre square of the shorter side taken by its slice, which for a
    portrait image is ``im[off:off + h]``: the rows from the offset to the bottom (h - off of them),
    not a square, later squashed; caffe.io.resize_image: the crop scaled to 0-1 by its own minimum
    and maximum, resized by scikit-image (bilinear, mode constant, no antialiasing: its defaults
    under Python 2, where eval_img.py ran), scaled back, float32; then x 255 and BGR. The graph
    subtracts the mean and scales (the recorded mean and std). Returns (image, None) or (None, reason)."""
    views = 1

    def __init__(self, transform, max_pixels=MAX_IMAGE_PIXELS):
        self.size, self.max_pixels = transform.crop, max_pixels

    def __call__(self, data):
        try:
            im = caffe_load_image(data, self.max_pixels)
        except Refused as e:
            return None, str(e)
        return np.ascontiguousarray(self.resize_image(self.center(im))[..., ::-1] * np.float32(255.)), None

    @staticmethod
    def center(im):
        h, w = im.shape[:2]
        off = abs(w - h) // 2           # Python 2's integer division
        return im[:, off:off + h] if h < w else im[off:off + h, :]

    def resize_image(self, im):
        import skimage.transform     # only this transform needs it
        low, high = im.min(), im.max()
        if high <= low:                 # a constant image: caffe.io fills the size with it
            return np.full((self.size, self.size, 3), low, np.float32)
        std = ((im - low) / (high - low)).astype(np.float64)     # Python 2's scikit-image resized in double
        out = skimage.transform.resize(std, (self.size, self.size), order=1, mode='constant', anti_aliasing=False)
        return (out * (high - low) + low).astype(np.float32)


def caffe_load_image(data, max_pixels=MAX_IMAGE_PIXELS):
    """caffe.io.load_image of encoded bytes: float32 RGB in 0-1; 16-bit images in 0-65535 steps."""
    rgb = _plain_jpeg_rgb(data, max_pixels)
    if rgb is None:
        im = _pil_open(data, max_pixels)
        if im.mode.startswith('I;16'):
            try:
                grey = np.asarray(im).astype(np.float64) / 65535.
            except Exception as e:  # noqa: BLE001  (cut short, damaged)
                raise Refused('decoding failed: {}'.format(e)) from None
            return np.repeat(grey[:, :, None], 3, axis=2).astype(np.float32)
        rgb = np.asarray(_pil_convert(im))
    return (rgb / 255.).astype(np.float32)


def decoder(is_train, image_size=224, max_pixels=MAX_IMAGE_PIXELS, tta='none', transform=None, crop_area=(0.08, 1.),
            hflip=0.5):
    """The loaders' decoder: a random-resized crop of ``crop_area`` (fractions of the image's area)
    flipped with probability ``hflip`` for training; otherwise the centre crop, or the views of
    TTADecoder for ``tta`` other than none, made by ``transform`` (webvision.data.transform; default
    toolkit) at ``image_size``."""
    if not is_train and transform is not None and transform.kind == 'caffe':
        if tta != 'none':
            raise InputError('--tta {}: the caffe transform (eval_img.py\'s) has one view; --eval-transform '
                             'torchvision for test-time augmentation'.format(tta))
        return CaffeDecoder(transform.at_size(image_size), max_pixels)
    if not is_train and transform is not None and transform.kind == 'torchvision':
        return TorchvisionDecoder(transform.at_size(image_size), tta, max_pixels)
    if tta != 'none' and not is_train:
        return TTADecoder(image_size, tta, max_pixels=max_pixels)
    if is_train:
        return RandomCropDecoder(image_size, area=tuple(crop_area), max_pixels=max_pixels, hflip=hflip)
    return CenterCropDecoder(image_size, max_pixels=max_pixels)
