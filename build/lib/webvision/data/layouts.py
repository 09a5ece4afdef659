"""The extracted WebVision trees (1.0 of 2017 and 2.0 of 2018: where each list and image folder
is), telling one from the other, and meta/dataset.json: what a prepared root was made from.
"""
import os

from webvision.core.errors import InputError
from webvision.core.fileio import load_json, write_json_atomic

# Paths inside the extracted tree. Train lists name images as google/q0001/000000.jpg, relative to
# the tree, in both versions. 1.0 is the 256-pixel "resized" release that noisy-label work uses.
LAYOUTS = {
    '2.0': {'val_list': 'val_filelist.txt', 'val_images': 'val_images_resized',
            'test_list': 'test_filelist.txt', 'test_images': 'test_images_resized'},
    '1.0': {'val_list': 'info/val_filelist.txt', 'val_images': 'val_images_256',
            'test_list': 'info/test_filelist.txt', 'test_images': 'test_images_256'},
}
VERSIONS = tuple(sorted(LAYOUTS))
TRAIN_LISTS = {'all': 'info/train_filelist_all.txt', 'google': 'info/train_filelist_google.txt',
               'flickr': 'info/train_filelist_flickr.txt'}
CLASSES = {'1.0': 1000, '2.0': 5000}        # of the real releases; made-up trees may have fewer
MINI_CLASSES = 50                           # mini-WebVision: Google images of classes 0-49 (Jiang et al. 2018)
DATASET_JSON = 'dataset.json'


def detect_version(root):
    """'1.0' or '2.0' by the val image folder the tree has (copies of 1.0 often keep its lists at
    the root too, where 2.0 has them), else by its val list; InputError naming what was found when
    that leaves both or neither (then --version decides)."""
    def present(key, test):
        return {v: lay[key] for v, lay in LAYOUTS.items() if test(os.path.join(root, lay[key]))}
    folders, lists = present('val_images', os.path.isdir), present('val_list', os.path.isfile)
    found = folders or lists
    if len(found) == 1:
        return next(iter(found))
    if not found:
        expect = '; '.join('{}: {} and {}/'.format(v, LAYOUTS[v]['val_list'], LAYOUTS[v]['val_images']) for v in VERSIONS)
        raise InputError('{}: not an extracted WebVision tree: found neither layout ({})'.format(root, expect))
    raise InputError('{}: has {} of both WebVision 1.0 and 2.0 ({}); say which with --version'.format(
        root, 'val image folders' if folders else 'val lists',
        ', '.join('{}: {}{}'.format(v, found[v], '/' if folders else '') for v in VERSIONS)))


def parse_subset(text):
    """(first, last) class of --subset mini|classes:FIRST-LAST; InputError listing the forms."""
    if text == 'mini':
        return 0, MINI_CLASSES - 1
    head, _, span = text.partition(':')
    first, _, last = span.partition('-')
    if head != 'classes' or not (first.isascii() and first.isdigit() and last.isascii() and last.isdigit()):
        raise InputError("--subset: expected 'mini' or 'classes:FIRST-LAST' (e.g. classes:0-49), got {!r}".format(text))
    first, last = int(first), int(last)
    if first > last:
        raise InputError('--subset {}: FIRST must not be above LAST'.format(text))
    return first, last


def write_dataset_json(meta, info):
    """meta/dataset.json: version, source tree, subset and source of a prepared root."""
    write_json_atomic(os.path.join(meta, DATASET_JSON), info)


def read_dataset_json(root):
    """The dict of ROOT/meta/dataset.json, or None for a root prepared before it existed."""
    path = os.path.join(root, 'meta', DATASET_JSON)
    if not os.path.isfile(path):
        return None
    info = load_json(path)
    if not isinstance(info, dict) or info.get('version') not in VERSIONS + (None,):
        raise InputError('{}: expected an object with "version" one of {}, got {}'.format(path, VERSIONS, str(info)[:80]))
    return info
