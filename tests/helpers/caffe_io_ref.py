"""kaiyuyue/resnext-wsl-caffe's eval_img.py up to the network's input, re-derived: Caffe itself cannot
run here (a Python 2 C++ build that no registry serves), so this is its python/caffe/io.py as
BVLC/caffe has it, on the real scikit-image with the behaviour of its Python 2 releases (<= 0.14,
where eval_img.py ran): ``io.imread`` through the PIL plugin (CMYK converted to RGB, palette to RGB),
``transform.resize`` with mode 'constant' and no antialiasing, which were its defaults then. That
resize was a warp with output pixel centres mapped through the scale (0.14's ``_warp_fast``,
bilinear, cval 0 outside the image); it is re-derived here in NumPy rather than taken from today's
scikit-image, whose resize is another implementation (scipy's zoom):

  im = caffe.io.load_image(path)                    img_as_float(imread(path)).astype(float32);
                                                    grey tiled to 3 channels, a 4th channel dropped
  off = (w - h) / 2; im = im[:, off:off + h]        landscape (Python 2: integer division)
  off = (h - w) / 2; im = im[off:off + h, :]        portrait: the rows from off to the bottom
  im = caffe.io.resize_image(im, [224, 224])        min-max to 0-1, resize, back, float32
  Transformer.preprocess                            float32, HWC -> CHW, RGB -> BGR, x 255,
                                                    - [103.94, 116.78, 123.68], x 0.017
"""
import warnings

import numpy as np

MEAN_BGR = np.array([103.94, 116.78, 123.68], dtype=np.float32)
SCALE = 0.017


def write_image(folder, data):
    """The bytes as a file named for their format (scikit-image picks its reader by the extension)."""
    path = folder / ('image.png' if data[:4] == b'\x89PNG' else 'image.jpg')
    path.write_bytes(data)
    return path


def load_image(path):
    import skimage
    import skimage.io
    with warnings.catch_warnings():     # the PIL plugin is deprecated in today's scikit-image
        warnings.simplefilter('ignore')
        img = skimage.img_as_float(skimage.io.imread(str(path), plugin='pil')).astype(np.float32)
    if img.ndim == 2:
        img = np.tile(img[:, :, np.newaxis], (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img


def warp_resize(image, new_dims):
    """scikit-image 0.14's resize(order=1, mode='constant', cval=0, clip=True) of a 0-1 image, in double."""
    rows, cols = new_dims
    in_rows, in_cols = image.shape[:2]
    image = image.astype(np.float64)
    r = (np.arange(rows) + 0.5) * (in_rows / rows) - 0.5
    c = (np.arange(cols) + 0.5) * (in_cols / cols) - 0.5
    r0, c0 = np.floor(r).astype(int), np.floor(c).astype(int)
    dr, dc = (r - r0)[:, None, None], (c - c0)[None, :, None]

    def pixel(rr, cc):          # cval 0 outside
        inside = ((rr >= 0) & (rr < in_rows))[:, None] & ((cc >= 0) & (cc < in_cols))[None, :]
        return np.where(inside[..., None], image[np.clip(rr, 0, in_rows - 1)][:, np.clip(cc, 0, in_cols - 1)], 0.)
    top = (1 - dc) * pixel(r0, c0) + dc * pixel(r0, c0 + 1)
    bottom = (1 - dc) * pixel(r0 + 1, c0) + dc * pixel(r0 + 1, c0 + 1)
    return np.clip((1 - dr) * top + dr * bottom, min(image.min(), 0.), image.max())


def resize_image(im, new_dims):
    im_min, im_max = im.min(), im.max()
    if im_max > im_min:
        im_std = (im - im_min) / (im_max - im_min)
        resized_im = warp_resize(im_std, new_dims) * (im_max - im_min) + im_min
    else:
        ret = np.empty((new_dims[0], new_dims[1], im.shape[-1]), dtype=np.float32)
        ret.fill(im_min)
        return ret
    return resized_im.astype(np.float32)


def center(im):
    h, w, _ = im.shape
    if h < w:
        off = (w - h) // 2
        return im[:, off:off + h]
    off = (h - w) // 2
    return im[off:off + h, :]


def network_input(path, size=224):
    """The [3, size, size] float32 blob eval_img.py puts into net.blobs['data'] for the image at path."""
    im = resize_image(center(load_image(path)), [size, size])
    x = im.astype(np.float32).transpose(2, 0, 1)[::-1]
    x *= np.float32(255)
    x -= MEAN_BGR[:, None, None]
    x *= np.float32(SCALE)
    return x
