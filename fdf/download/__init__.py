"""Parallel, resumable, validating photo downloader: manifest in, Parquet dataset + photo files out.

``download_manifest(manifest, out_dir, DownloadConfig(...))`` fetches every manifest row (or
reads it from ``local_path``), validates and hashes the bytes, stores ok photos under
``out_dir/_photos/`` and writes one result row per photo into ``out_dir/part-*.parquet``.
Read the result with ``pyarrow.dataset.dataset(out_dir, format="parquet")``.

Modules, one job each: ``config`` (settings, statuses), ``fetch`` (one URL: timeouts, retries,
caps, robots header), ``validate`` (hash, pixel cap, full decode), ``photo`` (one row: reuse,
local file or fetch; validate; store), ``store`` (output layout, shards, healing, lock),
``shard`` (one shard in a worker: threads, sessions, result table), ``progress`` (row
progress from workers), ``runner`` (plan, resume, parallel run, summary).
"""

from .config import FAILURE_STATUSES, OK, DownloadConfig, is_transient

__all__ = [
    "DownloadConfig",
    "DownloadSummary",
    "FAILURE_STATUSES",
    "OK",
    "download_manifest",
    "is_transient",
    "plan_shards",
]
_FROM_RUNNER = ("DownloadSummary", "download_manifest", "plan_shards")


def __getattr__(name: str):
    if name in _FROM_RUNNER:
        # lazy: the runner adds ~0.1 s (flickrapi and requests through .hosts, joblib) to importers that
        # need only DownloadConfig: pipelines.config, so every spawned build child (workers: ~10 ms)
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
