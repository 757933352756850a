"""Give memory that Arrow (and the C heap) has freed back to the system.

Arrow's default allocator here (mimalloc) keeps freed pages for reuse. A stage that reads or
builds one large table after another (a face shard's crops, a search window's records) then
grows in RSS with every table, though it holds only one at a time: measured, ~5 MB per face
shard read in ``fdf select`` and ~30 MB over a 10,000-photo search. Calling
:func:`release_freed_memory` after each such step keeps RSS at what is actually held.

glibc's malloc does the same with what numpy, PIL, OpenCV, dlib and onnxruntime free: a
long-lived process that allocates and frees a few MB per task (an annotate worker: decoded
photos, crops, PNG bytes, a shard's rows) keeps the freed pages resident, and more of them as
the heap fragments. :func:`trim_c_heap` hands them back (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import functools
import sys

import pyarrow as pa


def release_freed_memory() -> None:
    """Return Arrow's freed, cached pages to the system (cheap: a few ms)."""
    pa.default_memory_pool().release_unused()


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


def trim_c_heap() -> bool:
    """Return the C heap's free pages (every malloc arena) to the system; False where the C
    library has no ``malloc_trim``. Costs about a millisecond per 100 MB of heap."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


def release_process_memory() -> None:
    """:func:`release_freed_memory` and :func:`trim_c_heap`: what a worker calls between tasks."""
    release_freed_memory()
    trim_c_heap()
