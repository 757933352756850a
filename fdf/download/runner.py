"""Plan a download run, run its shards in parallel, resume what a previous run left."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from joblib import Parallel, delayed
from joblib.parallel import get_active_backend

from ..atomic import atomic_write_text, remove_stale_temporaries
from ..manifest import manifest_table, normalize_manifest, read_manifest
from .config import OK, DownloadConfig, is_transient
from .progress import ProgressListener
from .shard import ShardTask, download_shard
from .store import STATE_DIR, heal_duplicate_rows, list_shards, output_lock, read_statuses, status_counts

log = logging.getLogger(__name__)


@dataclass
class DownloadSummary:
    """What a run did (``counts``, ``bytes``, speed) and where the output stands (``dataset_counts``)."""

    out_dir: str
    manifest_rows: int
    skipped: int  # already in a finished shard
    attempted: int
    counts: dict = field(default_factory=dict)  # status -> rows, this run
    bytes: int = 0
    reused_files: int = 0  # photos a killed run had stored, re-validated instead of re-fetched
    shards_written: int = 0
    elapsed_s: float = 0.0
    images_per_s: float = 0.0  # rows finished (any status) per second of this run
    ok_per_s: float = 0.0
    stale_temporaries_removed: int = 0
    superseded_rows_removed: int = 0
    dataset_counts: dict = field(default_factory=dict)  # status -> rows, whole output folder

    def to_dict(self) -> dict:
        return asdict(self)

    def format_text(self) -> str:
        """A few human-readable lines for the CLI."""
        lines = [
            f"{self.attempted} photos attempted, {self.skipped} already done, of {self.manifest_rows} in the manifest",
            "this run: " + (", ".join(f"{k}={v}" for k, v in sorted(self.counts.items())) or "nothing to do"),
            f"{self.bytes / 1e6:.1f} MB in {self.elapsed_s:.1f} s: {self.images_per_s:.1f} images/s "
            f"({self.ok_per_s:.1f} ok/s), {self.shards_written} shards written",
            "output now: " + ", ".join(f"{k}={v}" for k, v in self.dataset_counts.items()),
        ]
        return "\n".join(lines)


def _load_manifest(manifest: str | os.PathLike | pd.DataFrame) -> pa.Table:
    df = manifest if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    # normalize_manifest drops repeated photo ids (keeping the first), so one row per photo.
    return manifest_table(normalize_manifest(df))


def _pending_mask(table: pa.Table, done: pa.Table, retry_failed: bool) -> np.ndarray:
    """True for manifest rows to fetch: never done, or (``retry_failed``) last failed transiently.

    ``done`` is :func:`read_statuses`' table, newest row first: index_in finds that row.
    """
    where = pc.index_in(pc.cast(table.column("photo_id"), pa.string()), value_set=done.column("photo_id"))
    status = done.column("status").take(where)
    pending = pc.is_null(where)
    if retry_failed:
        transient = [s for s in pc.unique(done.column("status")).to_pylist() if s is not None and is_transient(s)]
        pending = pc.or_(pending, pc.is_in(status, value_set=pa.array(transient, pa.string())).fill_null(False))
    return pending.to_numpy(zero_copy_only=False)


def plan_shards(n_rows: int, config: DownloadConfig) -> list[tuple[int, int]]:
    """(offset, length) of each shard: at most ``shard_size`` rows, and at least ``jobs`` shards
    when there are enough rows, so a small run still uses every worker."""
    if n_rows == 0:
        return []
    size = min(config.shard_size, max(1, math.ceil(n_rows / config.jobs)))
    return [(start, min(size, n_rows - start)) for start in range(0, n_rows, size)]


def download_manifest(
    manifest: str | os.PathLike | pd.DataFrame,
    out_dir: str | os.PathLike,
    config: DownloadConfig | None = None,
    progress: bool = True,
) -> DownloadSummary:
    """Download every photo of ``manifest`` into ``out_dir``; resume whatever is already there.

    Returns a summary; each photo's outcome is a row of the Parquet dataset at ``out_dir``.
    """
    config = config or DownloadConfig()
    out = Path(out_dir)
    started = time.monotonic()
    table = _load_manifest(manifest)
    out.mkdir(parents=True, exist_ok=True)
    with output_lock(out):
        removed_tmp = remove_stale_temporaries(out)
        if removed_tmp:
            log.info("removed %d partial files left by a killed run", removed_tmp)
        superseded = heal_duplicate_rows(out)
        done = read_statuses(out)
        pending = table.filter(pa.array(_pending_mask(table, done, config.retry_failed)))
        skipped = table.num_rows - pending.num_rows
        atomic_write_text(out / STATE_DIR / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
        log.info("%d photos to download, %d already done", pending.num_rows, skipped)
        stats = _run_shards(pending, out, config, progress)
        # Retried rows now live in new shards too; drop their old rows (self-healing if killed here).
        superseded += heal_duplicate_rows(out)
        counts: Counter = Counter()
        for s in stats:
            counts.update(s.counts)
        elapsed = time.monotonic() - started
        attempted = sum(s.rows for s in stats)
        return DownloadSummary(
            out_dir=str(out),
            manifest_rows=table.num_rows,
            skipped=skipped,
            attempted=attempted,
            counts=dict(sorted(counts.items())),
            bytes=sum(s.bytes for s in stats),
            reused_files=sum(s.reused for s in stats),
            shards_written=sum(s.written for s in stats),
            elapsed_s=round(elapsed, 3),
            images_per_s=round(attempted / elapsed, 2) if elapsed > 0 else 0.0,
            ok_per_s=round(counts.get(OK, 0) / elapsed, 2) if elapsed > 0 else 0.0,
            stale_temporaries_removed=removed_tmp,
            superseded_rows_removed=superseded,
            dataset_counts=status_counts(out),
        )


def _run_shards(pending: pa.Table, out: Path, config: DownloadConfig, progress: bool) -> list:
    plan = plan_shards(pending.num_rows, config)
    if not plan:
        return []
    first = (list_shards(out)[-1][0] + 1) if list_shards(out) else 0
    listener = ProgressListener(pending.num_rows, disable=not progress)
    # Workers of another backend (e.g. Dask) are not our children: no orphan check for them.
    parent_pid = os.getpid() if _local_process_backend() else None
    tasks = [
        ShardTask(first + i, pending.slice(offset, length), str(out), parent_pid, listener.address)
        for i, (offset, length) in enumerate(plan)
    ]
    stats = []
    try:
        jobs = min(config.jobs, len(tasks))
        # No backend= here: loky by default, or whatever joblib.parallel_config selects (e.g. dask).
        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
        for result in parallel(delayed(download_shard)(task, config) for task in tasks):
            listener.shard_finished(result.index, result.rows)
            stats.append(result)
    finally:
        listener.close()
    return stats


def _local_process_backend() -> bool:
    """True when joblib's active backend runs tasks in this process or its children."""
    backend, _ = get_active_backend()
    return type(backend).__name__ in ("LokyBackend", "MultiprocessingBackend", "ThreadingBackend", "SequentialBackend")
