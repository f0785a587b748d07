"""The allocator settings that keep the daemon's memory flat over model swaps (glibc)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from antiphon.engine.memory import _libc

pytestmark = pytest.mark.skipif(_libc() is None, reason="glibc's allocator only")

# After a large block is freed, glibc serves blocks up to its size from the heap (the
# threshold moves up); with the daemon's settings, a block of a megabyte is still mapped
# on its own, so freeing it hands it back to the system at once.
PROBE = textwrap.dedent("""
    import ctypes, sys
    from antiphon.engine.memory import keep_freed_memory_returnable
    if sys.argv[1] == "daemon":
        assert keep_freed_memory_returnable()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped(address):
        for line in open("/proc/self/maps"):
            low, high = (int(part, 16) for part in line.split()[0].split("-"))
            if low <= address < high:
                return "[heap]" not in line  # a mapping of its own, not the heap
        return False

    libc.free(libc.malloc(8 << 20))  # a model's weights, dropped
    block = libc.malloc(1 << 20)
    print("own mapping" if mapped(block) else "heap")
""")


def where_a_block_lives(setting: str) -> str:
    result = subprocess.run([sys.executable, "-c", PROBE, setting], capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stdout.strip()


def test_a_large_block_stays_returnable_after_a_larger_one_was_freed():
    assert where_a_block_lives("glibc defaults") == "heap"  # what the settings are for
    assert where_a_block_lives("daemon") == "own mapping"
