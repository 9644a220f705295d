r"""Keep freed CPU memory in the process for reuse (glibc only).

A training step allocates and frees many node-sized tensors (88k x 64
floats, 22 MB, on Taobao). With glibc's default settings, memory freed at
the top of the heap is returned to the operating system, so the next step
page-faults the same memory back in, and zero-fills of fresh pages show up
as a large share of the step. Raising glibc's trim threshold (and pinning
its mmap threshold at the 32 MB maximum, so such tensors come from the heap)
keeps that memory mapped; the process's peak memory does not change, only
when it is given back.
"""
import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc rejects mmap thresholds above HEAP_MAX_SIZE / 2 (32 MB on 64-bit).
_MMAP_MAX = 32 * 2**20
_TRIM = 2**30

_done = False


def retain_freed_memory() -> bool:
    r"""Tells glibc's :obj:`malloc` to keep up to 1 GB of freed memory and
    to serve allocations up to 32 MB from its heap. Process-wide, applied
    once; a no-op (returning :obj:`False`) off Linux/glibc."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith('linux'):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl or another libc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM))
    if ok:
        log.debug('glibc malloc: mmap threshold 32 MB, trim threshold 1 GB')
    _done = ok
    return ok
