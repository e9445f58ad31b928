"""Keep freed heap memory in the process for reuse (glibc's malloc).

glibc returns blocks above its mmap threshold (128 KiB, raised on the fly up to 32 MiB) to the kernel
when they are freed, and trims the top of its heap whenever more than its trim threshold (twice the
mmap threshold) is free. A training step allocates and frees tens of MB of activations, so every step
faulted its pages back in (docs/performance.md). Training and torch prediction apply the settings
below; ``CTRKIT_MALLOC=system`` in the environment keeps glibc's defaults.
"""
from __future__ import annotations

import ctypes
import functools
import os
import platform

M_TRIM_THRESHOLD = -1       # mallopt parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20   # glibc's largest allowed value (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 256 * 2**20  # the most freed memory kept mapped at the heap's top


@functools.lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """On glibc: blocks up to 32 MiB come from the heap (not from ``mmap``) and up to 256 MiB of freed
    heap stays mapped for the next allocation. Returns whether these settings are in force; False
    where the C library is not glibc, with ``CTRKIT_MALLOC=system``, or where the user tunes malloc
    through the environment (``GLIBC_TUNABLES`` or ``MALLOC_*_``), which is left as it is. Runs once
    per process; later calls return the first answer."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or _user_tuned():
        return False
    libc = ctypes.CDLL(None)
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _user_tuned() -> bool:
    return (os.environ.get("CTRKIT_MALLOC") == "system" or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "")
            or any(key.startswith("MALLOC_") and key.endswith("_") for key in os.environ))
