"""The daemon's own memory, kept flat over hours of model swaps (glibc only; elsewhere
these are no-ops).

A model swap loads one model beside the other on a control thread, then drops the old one.
With glibc's defaults that leaves the resident size creeping up swap after swap: a freed
large block raises the threshold under which glibc serves large blocks from its heaps
rather than from mmap (up to 32 MB, more than a model's weights), and every thread that
allocates gets a heap (an arena) of its own, up to eight per core. Model-sized blocks then
land in whichever heap the loading thread has, between small blocks that stay, and the
freed space between them is never handed back. Measured with an hour-long `antiphon bench
loop --minutes 60`: see docs/BENCHMARKS.md.

So the daemon fixes the mmap threshold (which also stops it moving) and caps the arenas
before it loads anything: a block of MMAP_THRESHOLD_BYTES or more is mapped on its own and
unmapped when freed, and the threads share a couple of heaps that malloc_trim can return.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt's parameter numbers (malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 256 * 1024  # the first size glibc maps on its own, made fixed
ARENA_MAX = 2  # heaps the threads share: the loop's and the scheduler's allocations are small


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 (absent from a libc that is not glibc)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory_returnable() -> bool:
    """Set glibc's allocator up so that what a dropped model frees goes back to the system
    (see the module's doc). Call it before the model loads; True when it took effect."""
    libc = _libc()
    if libc is None:
        return False
    applied = (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
               and libc.mallopt(M_ARENA_MAX, ARENA_MAX) == 1)
    if not applied:
        log.debug("mallopt refused the settings: memory may creep over model swaps")
    return applied


def return_freed_memory() -> None:
    """Hand the memory of a model just dropped back to the system. glibc keeps freed heap
    for later mallocs, so without this the resident size would stay at the high-water mark
    of every model ever loaded. ctypes releases the GIL for the call: no other thread waits
    on it."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
