"""Give memory that a finished step has freed back to the system: :func:`release_memory`.

Arrow's default allocator here (mimalloc) keeps freed pages for reuse, and glibc's malloc keeps
in its arenas what numpy, PIL, OpenCV, dlib and onnxruntime free. A long-lived process that reads
or builds one large table after another (a face shard's crops, a search window's records), or
allocates and frees a few MB per task (an annotate worker: decoded photos, crops, PNG bytes, a
shard's rows), then grows in RSS with every step though it holds one step's data at a time, and
more so as the heap fragments. Calling :func:`release_memory` where a step's data has just been
dropped keeps RSS at what is actually held; BENCHMARKS.md ("Memory released at stage boundaries")
has what that measured at each place it is called.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import sys

import pyarrow as pa

log = logging.getLogger(__name__)


def release_memory(reason: str, collect: bool = False) -> None:
    """Return Arrow's freed, cached pages and the C heap's free pages (``malloc_trim``) to the system.

    ``reason`` names the boundary, for the debug log. ``collect`` runs Python's garbage collector
    first, so that buffers held only by reference cycles are freed too: worth it once a whole
    stage is over, too slow to run after every shard. Without ``collect`` it is cheap (a few ms
    at most), so it can run after every shard or batch.
    """
    if collect:
        gc.collect()
    pa.default_memory_pool().release_unused()
    trimmed = _trim_c_heap()
    log.debug("released freed memory: %s%s", reason, "" if trimmed else " (no malloc_trim in this C library)")


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc; absent from musl
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def _trim_c_heap() -> bool:
    # Every malloc arena, not only the main one (malloc_trim(0)); False where there is no malloc_trim.
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
