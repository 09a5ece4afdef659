"""Big image lists read as a stream: blocks of "name label" lines parsed and screened, listed
files looked up in a thread pool, each path once. 16.75 M lines fit in well under 1 GB because
no list is ever held whole: only 64-bit hashes of the names already looked up are kept.
"""
import collections
import concurrent.futures
import os
import re

import numpy as np
from tqdm import tqdm

from webvision.core.fileio import decode_text, open_input
from webvision.data.lists import bad_label, bad_line, is_int_text

LEADING_ZERO = re.compile(r' 0[0-9]')     # a label written as 007: rewritten as 7
ODD_BLANKS = '\t\x0b\x0c\x1c\x1d\x1e\x1f'     # blanks to str.split() besides space and line end
BLOCK_BYTES = 4 << 20       # read size: about 60,000 WebVision lines
LISTING_LIMIT = 200000      # entries of a folder listed and kept; a larger one is stat'ed name by name
STAT_CHUNK = 2048           # paths per thread-pool task: large enough that the pool's overhead is small


def is_safe_name(name):
    """Whether a listed name stays inside its image folder: relative, without ".." components."""
    if name.startswith('/') or name.startswith('\\'):
        return False
    if '..' not in name:
        return True
    return '..' not in name.replace('\\', '/').split('/')


def unsafe(names):
    """Indices of the names that would leave their image folder (checked in bulk first: rare)."""
    joined = '\n'.join(names)
    if '..' not in joined and '\n/' not in joined and '\\' not in joined and not joined.startswith('/'):
        return []
    return [i for i, n in enumerate(names) if not is_safe_name(n)]


def iter_blocks(path, progress=None):
    """(first line number, [raw lines]) per block of the text file ``path``; InputError naming the
    line of bytes that are not UTF-8. ``progress`` (a tqdm bar) advances by the bytes read."""
    lineno = 1
    with open_input(path) as f:
        while True:
            data = f.read(BLOCK_BYTES)
            if not data:
                return
            data += f.readline()            # end on a line end
            text = decode_text(path, data, lineno)
            lines = text.split('\n')
            if lines[-1] == '':
                lines.pop()
            yield lineno, lines
            lineno += len(lines)
            if progress is not None:
                progress.update(len(data))


Block = collections.namedtuple('Block', 'names labels linenos lines')
Block.__doc__ = """A block's rows: names, labels, line numbers, and "name label" text per row (or None)."""


def parse_block(path, first, lines, num_classes, labelled=True):
    """The Block of a block's non-blank lines. With ``labelled``, a line is
    "name label" (the name may hold blanks) and the label must lie in [0, num_classes); without,
    the whole line is the name and the label is 0 (a test list). InputError names the line."""
    fast = _parse_simple(lines, first, num_classes) if labelled else None
    if fast:
        return fast
    names, labels, linenos = [], [], []
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        if labelled:
            parts = line.rsplit(None, 1)
            # isdigit() alone takes '²' and '٣'; the slow path names the line
            if len(parts) == 2 and parts[1].isdigit() and parts[1].isascii() and int(parts[1]) < num_classes:
                names.append(parts[0])
                labels.append(int(parts[1]))
            else:
                _refuse(path, first + i, line, parts, num_classes)
        else:
            names.append(line)
            labels.append(0)
        linenos.append(first + i)
    return Block(names, labels, linenos, None)


def _parse_simple(lines, first, num_classes):
    """parse_block's result when every line is exactly "name label" (ASCII, one space, no blank
    line, a label in range: WebVision's lists), in bulk; None otherwise, for the line-by-line parse
    that names a faulty line. The checks make splitting the whole block at blanks give the same
    rows as splitting each line."""
    text = '\n'.join(lines)
    if '\r' in text:
        text = (text + '\n').replace('\r\n', '\n')
    if text.endswith('\n'):
        text = text[:-1]
    if not text or '\r' in text or not text.isascii() or any(c in text for c in ODD_BLANKS):
        return None
    if text[0] == ' ' or text[-1] == ' ' or '\n\n' in text or '  ' in text or ' \n' in text or '\n ' in text:
        return None
    raw = np.frombuffer(text.encode('ascii'), np.uint8)
    ends, blanks = np.flatnonzero(raw == 10), np.flatnonzero(raw == 32)
    count = len(ends) + 1
    if len(blanks) != count or (np.bincount(np.searchsorted(ends, blanks), minlength=count) != 1).any():
        return None
    tokens = text.split()
    texts = ' '.join(tokens[1::2])
    if not texts.replace(' ', '').isdigit() or LEADING_ZERO.search(' ' + texts):
        return None
    labels = np.fromstring(texts, dtype=np.int64, sep=' ') if len(texts) < 19 * count else None
    if labels is None or len(labels) != count or labels.max() >= num_classes:
        return None
    return Block(tokens[0::2], labels, range(first, first + count), text.split('\n'))


def _refuse(path, lineno, line, parts, num_classes):
    if len(parts) != 2 or not is_int_text(parts[1]):
        raise bad_line(path, lineno, line)
    raise bad_label(path, lineno, int(parts[1]), num_classes, ' (the classes in synsets.txt)')


def name_hashes(names):
    """64-bit hashes of names (stable within this process only: never stored)."""
    return np.fromiter(map(hash, names), np.int64, len(names))


def _isfiles(paths):
    return [os.path.isfile(p) for p in paths]


def _listing(folder, limit=None):
    """The names of the regular files in ``folder`` (empty when it is missing or unreadable), or
    None when it holds more than ``limit`` entries (a flat folder of millions: stat'ed instead)."""
    limit = limit or LISTING_LIMIT
    try:
        with os.scandir(folder) as it:
            names = []
            for e in it:
                if len(names) >= limit:
                    return None
                if e.is_file():
                    names.append(e.name)
            return names
    except OSError:
        return []


class Lookups:
    """Whether listed files exist, each path looked up once. A folder that many names of a block
    fall in is listed once (WebVision's lists go query folder by query folder: one listing instead
    of a thousand stats, and on a network file system one round trip instead of a thousand); other
    names are stat'ed. Both run in a thread pool. Paths already looked up are kept as a sorted
    hash array, so that a list naming them again (WebVision's google and flickr lists are parts of
    its "all" list) costs no file system call."""

    LIST_AT = 16            # names of one folder in a block from which the folder is listed
    CACHED = 256            # folder listings kept

    def __init__(self, threads=8):
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, threads))
        self.known = np.zeros(0, np.int64)          # sorted hashes of the paths looked up
        self.known_present = np.zeros(0, bool)
        self._new = ([], [])
        self._folders = collections.OrderedDict()   # folder -> its files' paths (LRU)
        self._files = set()                         # the paths of the cached folders
        self._large = set()                         # folders too large to list: stat'ed
        self.stats = self.listings = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def exist(self, folder, names):
        """A bool array: whether folder/name is a regular file, for each name."""
        paths = [folder + '/' + n for n in names]
        hashes = name_hashes(paths)
        found = np.zeros(len(paths), bool)
        todo = np.arange(len(paths))
        if len(self.known):
            order = np.argsort(hashes)      # sorted queries walk the table in order: 4x faster than random ones
            i = np.empty(len(hashes), np.int64)
            i[order] = np.minimum(np.searchsorted(self.known, hashes[order]), len(self.known) - 1)
            seen = self.known[i] == hashes
            found[seen] = self.known_present[i[seen]]
            todo = np.flatnonzero(~seen)
        if len(todo):
            there = self._look([paths[i] for i in todo] if len(todo) < len(paths) else paths)
            found[todo] = there
            self._new[0].append(hashes[todo])
            self._new[1].append(there)
        return found

    def _look(self, paths):
        dirs = [p[:p.rfind('/')] for p in paths]
        counts = collections.Counter(dirs)
        new = [d for d, c in counts.items() if c >= self.LIST_AT and d not in self._folders and d not in self._large]
        for d, files in zip(new, self.pool.map(_listing, new)):
            self.listings += 1
            if files is None:
                self._large.add(d)
                continue
            self._folders[d] = [d + '/' + f for f in files]
            self._files.update(self._folders[d])
        listed = {d for d in counts if d in self._folders}
        for d in listed:
            self._folders.move_to_end(d)
        there = np.fromiter(map(self._files.__contains__, paths), bool, len(paths))
        stat = [k for k, d in enumerate(dirs) if d not in listed]
        if stat:
            chunks = [[paths[k] for k in stat[j:j + STAT_CHUNK]] for j in range(0, len(stat), STAT_CHUNK)]
            there[stat] = np.fromiter((x for c in self.pool.map(_isfiles, chunks) for x in c), bool, len(stat))
            self.stats += len(stat)
        while len(self._folders) > self.CACHED:
            self._files.difference_update(self._folders.popitem(last=False)[1])
        return there

    def settle(self):
        """Makes this list's lookups known to the next lists (called between lists)."""
        if self._new[0]:
            hashes = np.concatenate([self.known] + self._new[0])
            present = np.concatenate([self.known_present] + self._new[1])
            order = np.argsort(hashes, kind='stable')
            self.known, self.known_present = hashes[order], present[order]
        self._new = ([], [])


def progress_bar(path):
    """A tqdm bar over the bytes of ``path``, on a terminal only."""
    return tqdm(total=os.path.getsize(path), unit='B', unit_scale=True, desc=os.path.basename(path),
                disable=None, leave=False)


def read_rows(path, num_classes, labelled=True):
    """[(name, label)] of a whole list (small lists and tests; big ones are streamed)."""
    rows = []
    for first, lines in iter_blocks(path):
        names, labels, _, _ = parse_block(path, first, lines, num_classes, labelled)
        rows.extend(zip(names, labels))
    return rows
