"""Images that could not be decoded: the list of them (LOGDIR/bad_images.txt, "path<TAB>reason" per
line, appended to by every loader process) and the guard that stops a run when most images fail."""
import os
import threading

from webvision.core.constants import MAX_IMAGE_PIXELS
from webvision.core.errors import DataError


class BadImageLog:
    """Appends one line per undecodable image; lines from several loader processes do not mix
    because each is a single O_APPEND write."""

    def __init__(self, path):
        self.path = path

    def add(self, image_path, reason):
        if self.path is None:
            return
        line = '{}\t{}\n'.format(image_path, reason).encode('utf-8', errors='replace')
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def count(self):
        if self.path is None or not os.path.isfile(self.path):
            return 0
        with open(self.path, 'rb') as f:
            return sum(1 for _ in f)


class Undecodable:
    """The list positions of the images an evaluation predicted on a black image, each once
    (tensorpack's strict map decodes the first batches of a pass again at its end); add() says
    whether a position is new, so that each image is warned about once. Safe across threads."""

    def __init__(self):
        self._seen, self._lock = set(), threading.Lock()

    def add(self, index):
        with self._lock:
            new = index not in self._seen
            self._seen.add(index)
        return new

    def __len__(self):
        return len(self._seen)


BAD_WINDOW = 1000          # images a loader judges its failure rate over
BAD_IMAGES_EXIT = 3        # a loader's exit status when too many of its images fail


class TooManyBadImages(DataError):
    """More images failed than --max-bad-fraction allows; the message says where they are listed."""


class BadImageGuard:
    """Counts the images a loader tried in windows of BAD_WINDOW; raises TooManyBadImages when more
    than ``max_fraction`` of a window failed (a tree of HTML pages saved as .jpg would otherwise
    spin forever: every batch is skipped and another drawn)."""

    def __init__(self, max_fraction, bad_log_path=None, window=BAD_WINDOW):
        self.max_fraction, self.bad_log_path, self.window = max_fraction, bad_log_path, window
        self.tried = self.bad = 0

    def record(self, tried, bad):
        self.tried, self.bad = self.tried + tried, self.bad + bad
        if self.tried < self.window:
            return
        if self.bad > self.max_fraction * self.tried:
            raise TooManyBadImages(self.message(self.bad, self.tried, self.max_fraction, self.bad_log_path))
        self.tried = self.bad = 0

    @staticmethod
    def message(bad, tried, max_fraction, bad_log_path):
        """The reason, as the loader that stopped says it and as the trainer repeats it (``bad`` and
        ``tried`` None: not known there)."""
        counts = '{:,} of the last {:,}'.format(bad, tried) if tried else 'more than {:.0%} of the last {:,}'.format(
            max_fraction, BAD_WINDOW)
        return ('{} training images a loader tried could not be decoded (limit: --max-bad-fraction {:g}); is the '
                'data complete? They are listed in {}'.format(counts, max_fraction, bad_log_path or 'the bad-image log'))


def bad_log_path(logdir, worker=None):
    """Where a run lists its bad images: LOGDIR/bad_images.txt, or LOGDIR/worker-I/bad_images.txt for
    worker I > 0 of a multi-machine run (created here)."""
    if not worker:
        return os.path.join(logdir, 'bad_images.txt')
    folder = os.path.join(logdir, 'worker-{}'.format(worker))
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, 'bad_images.txt')


def add_bad_input_args(parser):
    """The flags on undecodable and oversized images, as an argument group (returned)."""
    g = parser.add_argument_group('bad input')
    g.add_argument('--max-image-pixels', type=int, default=MAX_IMAGE_PIXELS, metavar='N', help='refuse images whose '
                   'header claims more pixels, before decoding them (training and evaluation count them as '
                   'undecodable) (default: %(default)s, Pillow\'s)')
    g.add_argument('--max-bad-fraction', type=float, default=0.5, metavar='F', help='stop training when more than '
                   'this fraction of the last {:,} images a loader tried could not be decoded (default: '
                   '%(default)s)'.format(BAD_WINDOW))
    return g
