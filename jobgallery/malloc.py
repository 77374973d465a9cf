"""glibc allocator settings for every process that decodes or buffers big things (a Pi has 1 GB).

glibc raises its mmap threshold each time a large block is freed, so after the
first big decode or upload, blocks of Pillow's pixels and 1 MiB read buffers
come from a heap that keeps its high-water mark: a build worker that once
resized a 48 MP picture kept ~360 MiB resident for the rest of its life, and
two such workers held twice the decode budget between them
(bench/memory_budget.py). A fixed threshold sends large blocks back to the
system when freed, and two arenas cap the per-thread heaps.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024
ARENAS = 2


def tune_malloc() -> None:
    """Fixed mmap threshold and two arenas, in this process (call it first thing).

    Measured by bench/upload_load.py: 16 concurrent 4 MB
    uploads peak at ~81 MiB instead of ~116 MiB. An operator who sets
    ``GLIBC_TUNABLES`` or a ``MALLOC_*`` variable is left alone. Not glibc:
    nothing to do.
    """
    if any(name == "GLIBC_TUNABLES" or name.startswith("MALLOC_") for name in os.environ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    mallopt(M_ARENA_MAX, ARENAS)
