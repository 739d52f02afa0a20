"""Giving freed memory back to the system (glibc's allocator; a no-op elsewhere).

PyTorch on the CPU allocates tensors with malloc. glibc keeps what a call freed in its heaps for
reuse instead of returning it, and raises its mmap threshold each time a large mmapped block is
freed, so after a while even 100 MB tensors come from the heap and stay there. Measured on the
0.5B model (bench/worker/bench_memory.py, batch 4 x 512): the serving process kept 0.50 GiB it had
freed after a scoring call, and the worker's training peak was 4.74 GiB PSS; with both calls below
0.02 GiB and 2.74 GiB (8 examples, 2 steps, side by side).

``trim`` returns the free heap pages after an inference call; ``prefer_mmap`` fixes the threshold
low in a training process, so every large tensor is its own mapping, unmapped the moment it is
freed. The price is fresh (zeroed) pages for every large allocation; its effect on training speed
has not been measured apart from load noise on the 2-core machine.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only: musl and macOS have no malloc_trim
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def trim() -> None:
    """Return the allocator's free pages to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def prefer_mmap(threshold_bytes: int = 1 << 20) -> bool:
    """Serve every allocation of at least ``threshold_bytes`` from its own mapping (and stop glibc
    raising that threshold), so a freed tensor goes back at once. True when the allocator took it."""
    libc = _libc()
    if libc is None:
        return False
    ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, threshold_bytes))
    if not ok:
        log.warning("mallopt refused an mmap threshold of %d bytes", threshold_bytes)
    return ok
