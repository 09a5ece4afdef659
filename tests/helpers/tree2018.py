"""A made-up WebVision 2018 download with web quirks (CRLF lists, a missing and an empty file, a
class without training images), and images that decode only with care, for webvision-prepare."""
import os

import cv2
import numpy as np


def photo(i):
    from skimage.data import coffee
    im = coffee()[i * 20:i * 20 + 120, i * 25:i * 25 + 160]
    return np.ascontiguousarray(im[:, :, ::-1])


def make_2018_tree(tmp_path):
    """3 classes; class 2 has no train image; one listed file is missing, one is empty; CRLF lists."""
    root = tmp_path / 'webvision'
    for d in ('info', 'google/q0001', 'google/q0002', 'flickr/q0001', 'val_images_resized', 'test_images_resized'):
        (root / d).mkdir(parents=True)
    (root / 'info' / 'synsets.txt').write_bytes(b'n00000001 tench, Tinca tinca\r\nn00000002 goldfish\r\nn00000003 shark  \r\n\r\n')
    google, flickr = [], []
    for i in range(6):
        cv2.imwrite(str(root / 'google' / 'q0001' / '{:06d}.jpg'.format(i)), photo(i))
        google.append('google/q0001/{:06d}.jpg {}'.format(i, i % 2))
    for i in range(3):
        cv2.imwrite(str(root / 'flickr' / 'q0001' / '{:06d}.jpg'.format(i)), photo(i + 3))
        flickr.append('flickr/q0001/{:06d}.jpg 1'.format(i))
    (root / 'google' / 'q0002' / 'broken.jpg').write_bytes(b'')
    google.append('google/q0002/broken.jpg 0')
    google.append('google/q0002/gone.jpg 1')                    # listed, never downloaded
    for name, lines in (('train_filelist_google.txt', google), ('train_filelist_flickr.txt', flickr),
                        ('train_filelist_all.txt', google + flickr)):
        (root / 'info' / name).write_bytes(('\r\n'.join(lines) + '  \r\n\r\n').encode())
    val = []
    for i in range(4):
        cv2.imwrite(str(root / 'val_images_resized' / 'val{:06d}.jpg'.format(i)), photo(i))
        val.append('val{:06d}.jpg {}'.format(i, i % 3))
    (root / 'val_filelist.txt').write_text('\n'.join(val) + '\n')
    for i in range(2):
        cv2.imwrite(str(root / 'test_images_resized' / 'test{:06d}.jpg'.format(i)), photo(i))
    (root / 'test_filelist.txt').write_text('test000000.jpg\ntest000001.jpg\n')
    return str(root)


def add_quirky_images(tree):
    """Files with a .jpg name that are PNG, GIF, CMYK, grayscale or cut short (all decodable), and
    one that is an HTML page; listed in the prepared meta/train.txt (OpenCV 5 refuses the cut-short
    one; simplejpeg decodes what is there)."""
    from PIL import Image
    folder = os.path.join(tree, 'google', 'q0003')
    os.makedirs(folder)
    im = photo(1)
    _, jpeg = cv2.imencode('.jpg', im)
    blobs = {'png.jpg': cv2.imencode('.png', im)[1].tobytes(), 'gray.jpg': cv2.imencode('.jpg', im[:, :, 0])[1].tobytes(),
             'truncated.jpg': jpeg.tobytes()[:len(jpeg) * 2 // 3], 'garbage.jpg': b'<html>404</html>' * 30}
    for name, blob in blobs.items():
        with open(os.path.join(folder, name), 'wb') as f:
            f.write(blob)
    Image.fromarray(im[:, :, ::-1]).save(os.path.join(folder, 'gif.jpg'), 'GIF')
    Image.fromarray(im[:, :, ::-1]).convert('CMYK').save(os.path.join(folder, 'cmyk.jpg'), 'JPEG')
    with open(os.path.join(tree, 'meta', 'train.txt'), 'a') as f:
        for name in sorted(blobs) + ['gif.jpg', 'cmyk.jpg']:
            f.write('google/q0003/{} 0\n'.format(name))
