"""Parallel, resumable, validating photo downloader: manifest in, Parquet dataset + photo files out.

``download_manifest(manifest, out_dir, DownloadConfig(...))`` fetches every manifest row (or
reads it from ``local_path``), validates and hashes the bytes, stores ok photos under
``out_dir/_photos/`` and writes one result row per photo into ``out_dir/part-*.parquet``.
Read the result with ``pyarrow.dataset.dataset(out_dir, format="parquet")``.
"""

from .config import DownloadConfig, FAILURE_STATUSES, OK, is_transient
from .runner import DownloadSummary, download_manifest, plan_shards

__all__ = ["DownloadConfig", "DownloadSummary", "FAILURE_STATUSES", "OK", "download_manifest", "is_transient", "plan_shards"]
