"""Download one shard of manifest rows in a worker process and write its result file.

Runs inside a joblib (loky) worker. The worker keeps a thread pool and one requests.Session
per thread for its whole life, so keep-alive connections are reused across rows and shards.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import requests

from .config import OK, DownloadConfig
from .fetch import make_session
from .hosts import HostLimits
from .photo import PhotoResult, download_photo
from .progress import ProgressReporter
from .store import STATE_DIR, sync_photos, write_shard

log = logging.getLogger(__name__)

RESULT_SCHEMA = pa.schema(
    [
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("byte_size", pa.int64()),
        pa.field("path", pa.string()),
        pa.field("http_status", pa.int16()),
        pa.field("attempts", pa.int16()),
        pa.field("reused", pa.bool_()),
        pa.field("downloaded_at", pa.timestamp("s", tz="UTC")),
    ]
)
# The manifest's width/height are what the source claimed; the shard's are what was decoded.
RENAMED_MANIFEST_COLUMNS = {"width": "manifest_width", "height": "manifest_height"}


@dataclass
class ShardTask:
    """One shard's work: its output index and its slice of the manifest."""

    index: int
    manifest: pa.Table
    out_dir: str
    parent_pid: int | None  # None: workers are not our children (e.g. Dask), no orphan check
    progress_address: tuple[str, int] | None = None


@dataclass
class ShardStats:
    index: int
    rows: int
    written: bool
    counts: dict = field(default_factory=dict)
    bytes: int = 0
    reused: int = 0


_local = threading.local()
_pool: ThreadPoolExecutor | None = None
_pool_threads = 0


def _thread_pool(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_threads
    if _pool is None or _pool_threads != threads:
        if _pool is not None:
            _pool.shutdown(wait=False)
        _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fdf-download")
        _pool_threads = threads
    return _pool


def _session(config: DownloadConfig) -> requests.Session:
    # requests.Session is not documented as thread-safe, so each I/O thread owns one.
    key = (config.user_agent, config.threads)
    if getattr(_local, "key", None) != key:
        _local.session, _local.key = make_session(config), key
    return _local.session


_hosts: dict[tuple[str, float], HostLimits] = {}
_hosts_lock = threading.Lock()


def _host_limits(out_dir: Path, config: DownloadConfig) -> HostLimits | None:
    """This process's view of the run's per-host budget (the buckets themselves are shared files)."""
    if config.host_rate <= 0:
        return None
    key = (str(out_dir), config.host_rate)
    with _hosts_lock:
        if key not in _hosts:
            _hosts[key] = HostLimits(out_dir / STATE_DIR, config.host_rate)
        return _hosts[key]


def result_table(manifest: pa.Table, results: list[PhotoResult]) -> pa.Table:
    """Manifest columns (width/height renamed manifest_*), then the result columns."""
    names = [RENAMED_MANIFEST_COLUMNS.get(n, n) for n in manifest.column_names]
    table = manifest.rename_columns(names)
    columns = {f.name: [getattr(r, f.name) for r in results] for f in RESULT_SCHEMA}
    extra = pa.Table.from_pydict(columns, schema=RESULT_SCHEMA)
    for f in RESULT_SCHEMA:
        if f.name in table.column_names:
            table = table.drop_columns([f.name])  # a manifest column with a result's name loses
        table = table.append_column(f, extra.column(f.name))
    return table


def _parent_alive(task: ShardTask) -> bool:
    if task.parent_pid is None:
        return True
    return os.getpid() == task.parent_pid or os.getppid() == task.parent_pid


_watchdog: threading.Thread | None = None


def _exit_when_orphaned(parent_pid: int) -> None:
    # loky workers of a SIGKILLed parent otherwise idle forever on their task queue.
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _start_orphan_watchdog(task: ShardTask) -> None:
    global _watchdog
    if task.parent_pid is None or os.getpid() == task.parent_pid or (_watchdog is not None and _watchdog.is_alive()):
        return
    _watchdog = threading.Thread(
        target=_exit_when_orphaned, args=(task.parent_pid,), daemon=True, name="fdf-download-watchdog"
    )
    _watchdog.start()


def download_shard(task: ShardTask, config: DownloadConfig) -> ShardStats:
    """Download every row of ``task`` with the worker's threads; write ``part-<index>``."""
    _start_orphan_watchdog(task)
    out_dir = Path(task.out_dir)
    rows = task.manifest.select(
        [
            c
            for c in ("photo_id", "source", "download_url", "local_path", "local_root")
            if c in task.manifest.column_names
        ]
    ).to_pylist()
    reporter = ProgressReporter(task.progress_address, task.index)
    hosts = _host_limits(out_dir, config)

    def one(row: dict) -> PhotoResult:
        if not _parent_alive(task):
            return PhotoResult(row["photo_id"], "error", "download run was killed")  # never written
        result = download_photo(row, out_dir, config, _session(config), hosts)
        reporter.add()
        return result

    try:
        results = list(_thread_pool(config.threads).map(one, rows))
    finally:
        reporter.close()
    counts = Counter(r.status for r in results)
    stats = ShardStats(
        task.index,
        len(results),
        False,
        dict(counts),
        sum(r.byte_size or 0 for r in results if r.status == OK),
        sum(r.reused for r in results),
    )
    # A worker orphaned by a killed parent must not write: a rerun may reuse this shard index.
    if not _parent_alive(task):
        log.warning("parent %d is gone; dropping shard %d", task.parent_pid, task.index)
        return stats
    if any(r.path and not r.reused for r in results):
        sync_photos()
    write_shard(out_dir, task.index, result_table(task.manifest, results))
    return dataclasses.replace(stats, written=True)
