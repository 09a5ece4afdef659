"""How the process holds memory: malloc's trimming (training) and Python's cyclic collector (tools)."""
import ctypes
import gc


def _libc():
    try:
        return ctypes.CDLL('libc.so.6')
    except OSError:
        return None         # not glibc


def keep_freed_memory():
    """glibc hands every freed block above 128 KB back to the kernel, and TensorFlow's CPU
    allocator and our loaders free and reallocate tensors and batches of megabytes every step:
    touching them again page-faulted (24 % of a short ResNet-50 training run's CPU time went to the
    kernel; bench/README.md). Keep freed memory in the heap instead; forked loaders inherit it.
    Called by the entry points that train or evaluate, never at import."""
    libc = _libc()
    if libc is None:
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_top_pad, 64 << 20)


def release_free_memory():
    """Returns the heap's free pages to the kernel once, e.g. after building a large structure
    whose temporaries keep_freed_memory would otherwise hold on to."""
    libc = _libc()
    if libc is not None and hasattr(libc, 'malloc_trim'):
        libc.malloc_trim(0)


def no_gc_for_this_process():
    """For the command-line tools: 300,000 prediction records are 600,000 containers, and the
    cyclic collector rescanning them on every later allocation tripled the run time. The tools
    are short-lived and make no reference cycles."""
    gc.disable()
