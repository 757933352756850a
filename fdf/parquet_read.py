"""Read one Parquet shard (face shard, status table, download shard) so that a truncated or
corrupt file stops a command with one clear line naming it (exit status 2), not a traceback.

A file cut short (a full disk, a killed copy) loses its footer, so opening it fails: commands
that change data open every shard they will read first (:func:`fdf.shards.check_shards`), so
they stop before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import FdfError

STATUS_DIR = "_status"  # as fdf.shards.writer names it (not imported: this module is upstream)


class ShardReadError(FdfError):
    """A Parquet shard cannot be read: truncated (a disk filled up, a copy cut short) or corrupt."""

    def __init__(self, path: str | Path, reason: str):
        self.path = Path(path)
        marker = "" if self.path.parent.name == STATUS_DIR else f" (and {STATUS_DIR}/{self.path.name} if there is one)"
        super().__init__(
            f"cannot read shard {self.path}: {reason.strip()}. It is truncated or corrupt: restore it "
            f"from a copy, or delete it{marker} and rerun the stage that wrote it"
        )


# What pyarrow raises on a cut-short or damaged Parquet file (ArrowInvalid is also a ValueError).
SHARD_ERRORS = (pa.ArrowException, OSError, ValueError)


def open_shard(path: str | Path) -> pq.ParquetFile:
    """The shard's ParquetFile (its footer read); ShardReadError names a truncated or corrupt one."""
    try:
        return pq.ParquetFile(path)
    except FileNotFoundError:
        raise FdfError(f"shard not found: {path} (was it removed while this command ran?)") from None
    except SHARD_ERRORS as exc:
        raise ShardReadError(path, str(exc)) from None


def read_shard(path: str | Path, columns: Iterable[str] | None = None) -> pa.Table:
    """``columns`` of one shard, read without threads; ShardReadError names a bad shard."""
    file = open_shard(path)
    try:
        # No threads: the per-thread buffers of parallel reads outlive the read in RSS.
        return file.read(columns=list(columns) if columns is not None else None, use_threads=False)
    except SHARD_ERRORS as exc:
        raise ShardReadError(path, str(exc)) from None


def iter_shard_batches(
    path: str | Path, columns: Iterable[str] | None, batch_size: int = 4096
) -> Iterator[pa.RecordBatch]:
    """``columns`` (None: all) of one shard in record batches (a row group's memory at a time)."""
    file = open_shard(path)
    try:
        yield from file.iter_batches(
            batch_size=batch_size, columns=None if columns is None else list(columns), use_threads=False
        )
    except SHARD_ERRORS as exc:
        raise ShardReadError(path, str(exc)) from None
