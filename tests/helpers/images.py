"""Images and roots the tests build: crops of real photos (scikit-image), forged headers."""
import os

import cv2
import numpy as np


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


def encode(im, ext='.jpg'):
    return cv2.imencode(ext, im, [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == '.jpg' else [])[1].tobytes()


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


def jpeg_bytes(rgb, quality=92):
    """An RGB array as JPEG bytes, written by Pillow (as a photo from the web would be)."""
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, 'JPEG', quality=quality)
    return buf.getvalue()


def encode_array(array, fmt='JPEG', mode=None):
    import io
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, fmt, **({'quality': 92} if fmt == 'JPEG' else {}))
    return buf.getvalue()


def photos():
    """{name: bytes}: real photos of many shapes and kinds (scikit-image's), encoded as a user's files
    would be."""
    import io
    from PIL import Image
    from skimage import data
    chelsea, coffee, retina = data.chelsea(), data.coffee(), data.retina()
    palette, cmyk = io.BytesIO(), io.BytesIO()
    Image.fromarray(chelsea).convert('P', palette=Image.ADAPTIVE).save(palette, 'PNG')
    Image.fromarray(coffee).convert('CMYK').save(cmyk, 'JPEG', quality=92)      # Pillow decodes these
    return {
        'landscape 300x451': encode_array(chelsea),
        'portrait 400x250': encode_array(np.ascontiguousarray(coffee[:, 100:350])),
        'panorama 200x1000': encode_array(np.ascontiguousarray(data.hubble_deep_field()[300:500])),
        'panorama 300x1411': encode_array(np.ascontiguousarray(retina[400:700])),
        'small 120x160': encode_array(cv2.resize(data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)),
        'square 100x100': encode_array(cv2.resize(coffee, (100, 100), interpolation=cv2.INTER_AREA)),
        'exactly 256x256': encode_array(cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)),
        'exactly 256x384': encode_array(cv2.resize(data.rocket(), (384, 256), interpolation=cv2.INTER_AREA)),
        'large 2822x2822': encode_array(cv2.resize(retina, (2822, 2822), interpolation=cv2.INTER_CUBIC)),
        'grey PNG 512x512': encode_array(data.camera(), 'PNG'),
        'grey JPEG 303x384': encode_array(data.coins()),
        'RGBA PNG 500x500': encode_array(data.logo(), 'PNG'),
        'palette PNG 300x451': palette.getvalue(),
        'CMYK JPEG 400x600': cmyk.getvalue(),
    }
