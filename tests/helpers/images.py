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
