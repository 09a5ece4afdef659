"""Writing files so that they are complete or absent, and reading files that may be hostile.

Every result file of the toolkit goes through ``atomic_path`` (a temporary name in the same
folder, renamed over the target once complete): a run killed while writing leaves the previous
file, never half of a new one. The temporary name is ``.NAME.tmp-PID-XXXX``: a later write of NAME
removes what a dead process left, and readers refuse such names (a half-written matrix is no result).

Inputs are opened by ``open_input``: regular files only, checked before opening and again on the
open descriptor (a listed FIFO would block a reader forever, /dev/zero never end). Outputs are
checked by ``check_output``: an existing device, FIFO or folder is never replaced, nor is one of
the command's inputs.
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import stat

import orjson

from webvision.core.errors import InputError

TEMPORARY = re.compile(r'^\..+\.tmp-(\d+)-[0-9a-f]{8}(\.[A-Za-z0-9]+)?$|^\.tmp-[A-Za-z0-9_]{8}')


def file_kind(mode):
    """What a stat mode is, in words: 'a folder', 'a FIFO', ..."""
    for test, name in ((stat.S_ISDIR, 'a folder'), (stat.S_ISFIFO, 'a FIFO'), (stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'), (stat.S_ISSOCK, 'a socket'), (stat.S_ISREG, 'a regular file')):
        if test(mode):
            return name
    return 'not a regular file'


def is_temporary(path):
    """Whether ``path`` is a temporary name of atomic_path (an unfinished write)."""
    return bool(TEMPORARY.match(os.path.basename(path)))


class NotRegular(InputError):
    """Something other than a regular file is there; ``kind`` says what ('a folder', 'a FIFO', ...)."""

    def __init__(self, label, kind):
        super().__init__('{}: is {}, expected a regular file'.format(label, kind))
        self.kind = kind


def check_input(path, what=None):
    """InputError (NotRegular for a folder, FIFO, device...) unless ``path`` is a regular file (links
    followed) that is no unfinished write; returns its os.stat_result."""
    label = '{} {}'.format(what, path) if what else path
    if is_temporary(path):
        raise InputError('{}: a temporary file that an interrupted run left unfinished, not a result'.format(label))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError('{}: no such file'.format(label)) from None
    except (OSError, ValueError) as e:      # ValueError: a NUL byte in the name
        raise InputError('{}: cannot be read ({})'.format(label, getattr(e, 'strerror', None) or e)) from None
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular(label, file_kind(st.st_mode))
    return st


def open_regular(path, what=None):
    """(read-only descriptor, its os.stat_result) of a regular file, after check_input: opened
    non-blocking and checked again on the descriptor, so that a file swapped for a FIFO in between
    cannot block. The one way inputs are opened (open_input; the image reader)."""
    check_input(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise InputError('{}: cannot be read ({})'.format(path, e.strerror)) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise NotRegular(path, file_kind(st.st_mode))
    return fd, st


def open_input(path, what=None):
    """``path`` opened for reading in binary (open_regular)."""
    return os.fdopen(open_regular(path, what)[0], 'rb')


def npy_header(path):
    """(shape, fortran order, dtype, data offset) from the header of the .npy file ``path``, read
    without loading (and so allocating) the array; InputError naming the file otherwise."""
    import numpy as np
    try:
        with open_input(path) as f:
            read = {(1, 0): np.lib.format.read_array_header_1_0,
                    (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
            if read is None:
                raise ValueError('an unsupported .npy version')
            shape, fortran, dtype = read(f)
            offset, size = f.tell(), os.fstat(f.fileno()).st_size
    except InputError:
        raise
    except (OSError, ValueError, EOFError, SyntaxError) as e:
        raise InputError('{}: not a readable .npy file ({})'.format(path, e)) from None
    needed = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size < needed:
        raise InputError('{}: cut short: {:,} bytes, its header needs {:,}'.format(path, size, needed))
    return shape, fortran, dtype, offset


def check_writable(path, what='output'):
    """InputError unless ``path`` can be created: its folder exists and is writable, and nothing but
    a regular file is there (a device, a FIFO, a folder or a link to one is never replaced). Called
    before the work starts, so that a typo in an output path does not cost a whole evaluation."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise InputError('{} {}: the folder {} does not exist'.format(what, path, folder))
    try:
        st = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise InputError('{} {}: cannot be checked ({})'.format(what, path, e.strerror)) from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError('{} {}: is a folder, expected a file name'.format(what, path))
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise InputError('{} {}: is {}; refusing to replace it'.format(what, path, file_kind(st.st_mode)))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError('{} {}: the folder {} is not writable'.format(what, path, folder))
    if is_temporary(path):
        raise InputError('{} {}: a temporary name of this toolkit; choose another'.format(what, path))


def check_folder_output(path, what):
    """InputError unless ``path`` is a folder or can be made one (a file, FIFO or device there is never
    replaced by one)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise InputError('{} {}: cannot be checked ({})'.format(what, path, e.strerror)) from None
    if not stat.S_ISDIR(st.st_mode):
        raise InputError('{} {}: is {}, expected a folder'.format(what, path, file_kind(st.st_mode)))


def same_file(a, b):
    """Whether two paths name one file (links and hard links followed; False when either is missing)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output(path, what, inputs=()):
    """check_writable, and InputError when ``path`` is one of ``inputs`` ((flag, path) pairs, None
    paths skipped): checked before any work, so that an input is never overwritten by a result."""
    check_writable(path, what)
    for flag, other in inputs:
        if other is not None and same_file(path, other):
            raise InputError('{} {}: is also {} {}; refusing to overwrite an input'.format(what, path, flag, other))


def check_outputs(outputs, inputs=()):
    """check_output for each (flag, path) of ``outputs`` (None skipped); two outputs must differ too."""
    given = [(f, p) for f, p in outputs if p is not None]
    for i, (flag, path) in enumerate(given):
        check_output(path, flag, list(inputs) + given[:i])


def _temporary_name(path, suffix):
    name = os.path.basename(os.path.abspath(path))
    return os.path.join(os.path.dirname(os.path.abspath(path)),
                        '.{}.tmp-{}-{}{}'.format(name, os.getpid(), secrets.token_hex(4), suffix))


def remove_leftovers(path):
    """Removes the temporary files of earlier writes of ``path`` whose process is gone (killed)."""
    folder, name = os.path.split(os.path.abspath(path))
    prefix = '.{}.tmp-'.format(name)
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            m = TEMPORARY.match(entry.name)
            if entry.name.startswith(prefix) and m and m.group(1) and not _alive(int(m.group(1))):
                shutil.rmtree(entry.path, ignore_errors=True) if entry.is_dir(follow_symlinks=False) \
                    else _remove(entry.path)


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_path(path, suffix=''):
    """Yields a temporary path beside ``path`` (a file or a folder) for the caller to write; on
    success it replaces ``path``, on error it is removed. ``suffix`` keeps an extension that a
    writer insists on (numpy adds .npz, matplotlib picks the format by it). What is at ``path``
    must be missing, a regular file, or a folder to be replaced by a folder."""
    remove_leftovers(path)
    tmp = _temporary_name(path, suffix)     # a name only: the writer creates a file or a folder there
    try:
        yield tmp           # created by the writer, so with the umask's modes
        _check_replaceable(path, os.path.isdir(tmp))
        if os.path.isdir(path) and os.path.isdir(tmp):
            shutil.rmtree(path)         # a folder cannot be renamed over a non-empty one
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True) if os.path.isdir(tmp) else _remove(tmp)
        raise


def _check_replaceable(path, folder):
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        with contextlib.suppress(OSError):
            mode = os.stat(path).st_mode
    if stat.S_ISREG(mode) or stat.S_ISLNK(mode) or (folder and stat.S_ISDIR(mode)):
        return
    raise InputError('{}: is {}; refusing to replace it'.format(path, file_kind(mode)))


def _remove(path):
    with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def write_atomic(path, text_or_bytes):
    """Writes a file so that it is either complete or absent."""
    data = text_or_bytes.encode('utf-8') if isinstance(text_or_bytes, str) else text_or_bytes
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)


def write_json_atomic(path, obj):
    """``obj`` as JSON, complete or absent; NaN and infinity are refused (they are not JSON)."""
    write_atomic(path, json.dumps(obj, allow_nan=False))


def decode_text(path, data, first_line=1):
    """UTF-8 text without a leading byte-order mark; InputError naming the line of a bad byte."""
    try:
        text = data.decode('utf-8')
    except UnicodeDecodeError as e:
        line = first_line + data.count(b'\n', 0, e.start)
        raise InputError('{}:{}: not UTF-8 text: byte {!r} at column {}'.format(
            path, line, data[e.start:e.start + 1], e.start - data.rfind(b'\n', 0, e.start))) from None
    return text[1:] if first_line == 1 and text.startswith('\ufeff') else text


def read_lines(path):
    """(line number, stripped line) of each non-blank line; CRLF line ends, trailing blanks and a
    byte-order mark are dropped; InputError naming the line of bytes that are not UTF-8."""
    with open_input(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = decode_text(path, raw, lineno).strip()
            if line:
                yield lineno, line


def load_json(path):
    """A JSON file, parsed by orjson (300,000 prediction records: 0.45 s vs the json module's 0.93);
    InputError naming the file if it is not JSON."""
    with open_input(path) as f:
        data = f.read()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise InputError('{}: not JSON ({})'.format(path, e)) from None
