"""Checks of a prepared root before days of training (utils/check_data.py): lists, labels, files,
decoding, the class count of the release and of a checkpoint, and val images that are also
training images. Findings are collected, not raised: one run reports every kind of fault.
"""
import collections
import concurrent.futures
import hashlib
import os
import stat

import numpy as np

from webvision.data.decode import decode_image
from webvision.core.errors import InputError
from webvision.core.fileio import open_input
from webvision.data.layouts import CLASSES
from webvision.data.listscan import iter_blocks, name_hashes, parse_block, progress_bar, unsafe
from webvision.data.lists import imagenet_names, read_synsets, short

LISTS = (('train', 'train', True), ('train_google', 'train', True), ('train_flickr', 'train', True),
         ('val', 'val', True))      # meta/<name>.txt, its image folder, labelled
HEAD_BYTES = 4096                    # bytes read of each candidate duplicate before hashing it whole


class Findings:
    """Errors by kind (the first ``show`` of each kept, all counted), warnings and notes."""

    def __init__(self, show=20):
        self.show = show
        self.errors = collections.defaultdict(list)
        self.counts = collections.Counter()
        self.warnings, self.notes = [], []

    def error(self, kind, message):
        self.counts[kind] += 1
        if len(self.errors[kind]) < self.show:
            self.errors[kind].append(message)

    def print(self, out):
        for note in self.notes:
            print('  ' + note, file=out)
        for warning in self.warnings:
            print('  warning: ' + warning, file=out)
        for kind, messages in self.errors.items():
            more = self.counts[kind] - len(messages)
            print('  error ({}, {:,}):'.format(kind, self.counts[kind]), file=out)
            for m in messages:
                print('    ' + m, file=out)
            if more:
                print('    ... and {:,} more'.format(more), file=out)


def check_synsets(root, findings):
    """The synset ids of ROOT/meta/synsets.txt, or None (an error is recorded)."""
    path = os.path.join(root, 'meta', 'synsets.txt')
    if not os.path.isfile(path):
        findings.error('lists', '{}: missing (run utils/preprocess.py on the tree first)'.format(path))
        return None
    synsets = read_synsets(path)
    first = {}
    for i, wnid in enumerate(synsets):
        if wnid in first:
            findings.error('synsets', '{}:{}: {} is also line {}'.format(path, i + 1, wnid, first[wnid] + 1))
        first.setdefault(wnid, i)
    if not synsets:
        findings.error('synsets', '{}: no classes'.format(path))
        return None
    if [w.split()[0] for w in imagenet_names()] == synsets:
        findings.notes.append('classes: the 1,000 of ILSVRC2012 in their usual order (WebVision 1.0)')
    return synsets


class ListReport:
    """What one list holds: lines, images per class, and the lines sampled for decoding."""

    def __init__(self, name, path, num_classes):
        self.name, self.path = name, path
        self.lines = self.missing = 0
        self.per_class = np.zeros(num_classes, np.int64)
        self.sample = []            # (line number, path)
        self.hashes = []


def _tolerant(path, first, lines, num_classes, labelled, findings):
    """parse_block, line by line where a block has faults, recording each fault."""
    try:
        return parse_block(path, first, lines, num_classes, labelled)
    except InputError:
        pass
    names, labels, linenos = [], [], []
    for k, line in enumerate(lines):
        try:
            block = parse_block(path, first + k, [line], num_classes, labelled)
        except InputError as e:
            findings.error('lines', str(e))
            continue
        names += block.names
        labels += list(block.labels)
        linenos += list(block.linenos)
    return names, labels, linenos, None


def scan_list(root, name, folder, num_classes, findings, lookups, *, sample=0, decode_pool=None, rng=None):
    """A ListReport of ROOT/meta/<name>.txt: faulty lines, names outside the image folder, missing
    files, and either a random sample of lines to decode or, with ``decode_pool``, every image
    decoded as it goes."""
    path = os.path.join(root, 'meta', name + '.txt')
    image_dir = os.path.join(root, folder)
    report, pending = ListReport(name, path, num_classes), []
    rate = None
    with progress_bar(path) as bar:
        for first, lines in iter_blocks(path, bar):
            names, labels, linenos, _ = _tolerant(path, first, lines, num_classes, True, findings)
            bad = unsafe(names)
            for k in bad:
                findings.error('names', '{}:{}: {} leaves the image folder'.format(path, linenos[k], short(names[k])))
            if bad:                         # never looked up
                safe = [k for k in range(len(names)) if k not in set(bad)]
                names, labels, linenos = [names[k] for k in safe], [labels[k] for k in safe], [linenos[k] for k in safe]
            report.hashes.append(name_hashes(names))
            there = lookups.exist(image_dir, names)
            for k in np.flatnonzero(~there):
                findings.error('missing', '{}:{}: {} is not a file in {}'.format(path, linenos[k], short(names[k]), image_dir))
            report.lines += len(names)
            report.missing += int((~there).sum())
            report.per_class += np.bincount(np.asarray(labels, np.int64)[there], minlength=num_classes)
            present = [(linenos[k], os.path.join(image_dir, names[k])) for k in np.flatnonzero(there)]
            if decode_pool is not None:
                pending += [decode_pool.submit(_decodes, present[j:j + 256]) for j in range(0, len(present), 256)]
                while len(pending) > 64:            # bounded: decoding trails reading by a few blocks
                    _record(pending.pop(0).result(), path, findings)
            elif sample and present:
                if rate is None:                    # of each line, so that the sample is about 4x what is kept
                    per_line = sum(len(line) + 1 for line in lines[:1000]) / min(1000, len(lines))
                    rate = min(1., 4. * sample * per_line / max(1, os.path.getsize(path)))
                report.sample += [present[k] for k in np.flatnonzero(rng.random_sample(len(present)) < rate)]
    for future in pending:
        _record(future.result(), path, findings)
    if sample and len(report.sample) > sample:
        report.sample = [report.sample[k] for k in sorted(rng.choice(len(report.sample), sample, replace=False))]
    return report


def _decodes(items):
    """(line number, path, reason) of the images among ``items`` that do not decode."""
    bad = []
    for lineno, path in items:
        im, reason = decode_image(path)
        if im is None:
            bad.append((lineno, path, reason))
    return bad


def _record(bad, list_path, findings):
    for lineno, path, reason in bad:
        findings.error('decoding', '{}:{}: {} does not decode ({})'.format(list_path, lineno, path, reason))


def decode_sample(report, pool, findings):
    """Decodes the sampled lines of a list, in ``pool``; returns how many were tried."""
    chunks = [report.sample[j:j + 64] for j in range(0, len(report.sample), 64)]
    for bad in pool.map(_decodes, chunks):
        _record(bad, report.path, findings)
    return len(report.sample)


def repeated_lines(report, findings):
    """Records names listed more than once in a list (found by hash, confirmed by a second pass)."""
    hashes = np.concatenate(report.hashes) if report.hashes else np.zeros(0, np.int64)
    report.hashes = []
    values, counts = np.unique(hashes, return_counts=True)
    suspects = set(values[counts > 1].tolist())
    if not suspects:
        return
    first = {}
    for start, lines in iter_blocks(report.path):
        names, _, linenos, _ = _tolerant(report.path, start, lines, len(report.per_class), True, Findings())
        for n, ln, h in zip(names, linenos, name_hashes(names)):
            if int(h) in suspects:
                if n in first:
                    findings.error('repeats', '{}:{}: {} is also line {}'.format(report.path, ln, short(n), first[n]))
                first.setdefault(n, ln)


def check_classes(root, synsets, reports, findings, info=None, checkpoint=None):
    """The 1.0/2.0 trap and class counts: a val list of another release, a dataset.json that
    disagrees with synsets.txt, a checkpoint's head of another size, classes with no image."""
    n = len(synsets)
    labelled = not info or info.get('labelled', True)        # a test root's labels are all 0
    val = reports.get('val')
    if labelled and val is not None and val.per_class.any():
        used = np.flatnonzero(val.per_class)
        top = int(used.max()) + 1
        if top <= n // 2 and len(used) >= 0.9 * top:
            findings.error('release', '{}: labels only classes 0-{} of the {} in meta/synsets.txt: the val list of '
                           'another release or subset? (WebVision 1.0 has {:,} classes, 2.0 has {:,}, with other '
                           'class ids: a model scores 0 % on the other\'s list)'.format(
                               val.path, top - 1, n, CLASSES['1.0'], CLASSES['2.0']))
    if info and info.get('version') in CLASSES and not info.get('subset') and n in CLASSES.values() \
            and n != CLASSES[info['version']]:
        findings.error('release', '{}: says WebVision {}, but meta/synsets.txt has {:,} classes'.format(
            os.path.join(root, 'meta', 'dataset.json'), info['version'], n))
    if checkpoint is not None and checkpoint[1] != n:
        trap = ' (a WebVision 1.0 model and a 2.0 root, or the reverse)' if {checkpoint[1], n} == set(CLASSES.values()) else ''
        findings.error('checkpoint', '{}: its head has {:,} classes, {} has {:,}{}'.format(
            checkpoint[0], checkpoint[1], os.path.join(root, 'meta', 'synsets.txt'), n, trap))
    for name in ('train', 'val'):
        if name in reports and labelled:
            empty = [synsets[c] for c in np.flatnonzero(reports[name].per_class == 0)]
            if empty:
                findings.warnings.append('{} of {} classes have no {} image ({}{})'.format(
                    len(empty), n, name, ', '.join(empty[:5]), ', ...' if len(empty) > 5 else ''))


def _sizes(paths):
    """The size of each regular file, -1 for anything else (missing, a FIFO, a folder: the list scan
    reports those; here they are passed over, never opened)."""
    out = []
    for p in paths:
        try:
            st = os.stat(p)
        except (OSError, ValueError):
            st = None
        out.append(st.st_size if st is not None and stat.S_ISREG(st.st_mode) else -1)
    return out


def _digest(path, limit=None):
    h = hashlib.blake2b(digest_size=16)
    try:
        with open_input(path) as f:
            if limit:
                h.update(f.read(limit))
            else:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    h.update(chunk)
    except (OSError, InputError):
        return None
    return h.digest()


def _present_rows(report, folder, bar=None):
    for start, lines in iter_blocks(report.path, bar):
        names, _, linenos, _ = _tolerant(report.path, start, lines, len(report.per_class), True, Findings())
        yield [(ln, os.path.join(folder, n)) for n, ln in zip(names, linenos)]


def shared_files(root, train, val, findings, threads=8):
    """Records training images whose bytes equal a val image's (by size, then the first 4 KB,
    then the whole file's hash); returns how many training files were read."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=threads)
    by_key, read = {}, 0
    with pool:
        val_rows = [r for block in _present_rows(val, os.path.join(root, 'val')) for r in block]
        sizes = _sizes([p for _, p in val_rows])
        val_rows, sizes = [r for r, s in zip(val_rows, sizes) if s >= 0], [s for s in sizes if s >= 0]
        heads = list(pool.map(lambda p: _digest(p, HEAD_BYTES), [p for _, p in val_rows]))
        for (ln, p), size, head in zip(val_rows, sizes, heads):
            if head is not None:
                by_key.setdefault((size, head), []).append((ln, p))
        val_sizes = {size for size, _ in by_key}
        with progress_bar(train.path) as bar:
            for block in _present_rows(train, os.path.join(root, 'train'), bar):
                sizes = [s for chunk in pool.map(_sizes, [[p for _, p in block[j:j + 512]] for j in range(0, len(block), 512)])
                         for s in chunk]
                candidates = [(r, s) for r, s in zip(block, sizes) if s in val_sizes]
                heads = list(pool.map(lambda c: _digest(c[0][1], HEAD_BYTES), candidates))
                read += len(candidates)
                for ((ln, p), size), head in zip(candidates, heads):
                    for vln, vp in by_key.get((size, head), ()) if head is not None else ():
                        whole = _digest(p)
                        if whole is not None and whole == _digest(vp):
                            findings.error('shared', '{}:{}: {} has the same bytes as {}:{}: {}'.format(
                                train.path, ln, p, val.path, vln, vp))
    return read
