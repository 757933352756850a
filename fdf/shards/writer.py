"""Write face shards and per-photo status tables atomically.

A face shard is ``part-<key>.parquet``; its status table ``_status/part-<key>.parquet`` is
written after it and is the marker that the shard is complete (img2dataset's rule: resuming
is a directory listing).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Iterable, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from ..atomic import atomic_path, atomic_write_text
from .schema import FACE_SCHEMA, OPTIONAL_COLUMNS, SCHEMA_VERSION, STATUS_SCHEMA

log = logging.getLogger(__name__)

ROW_GROUP_SIZE = 256
STATUS_DIR = "_status"
# Underscore prefix: pyarrow.dataset skips it, so dataset(DIR, format="parquet") sees only shards.
DATASET_JSON = "_dataset.json"
# Min/max statistics of PNG bytes are large and useless for filtering.
_STATS_COLUMNS = [name for name in FACE_SCHEMA.names if name != "image"]


def face_table(rows: Iterable[Mapping]) -> pa.Table:
    """Build a face table with :data:`FACE_SCHEMA` (missing keys become nulls)."""
    rows = list(rows)
    columns = {name: [row.get(name) for row in rows] for name in FACE_SCHEMA.names}
    return pa.Table.from_pydict(columns, schema=FACE_SCHEMA)


def write_face_shard(table: pa.Table, path: str | Path, row_group_size: int = ROW_GROUP_SIZE) -> Path:
    """Write ``table`` (cast to :data:`FACE_SCHEMA`) as one zstd Parquet shard, atomically.

    Rows from shards older than a column in :data:`OPTIONAL_COLUMNS` get nulls there.
    """
    for name in OPTIONAL_COLUMNS:
        if name not in table.column_names:
            table = table.append_column(FACE_SCHEMA.field(name), pa.nulls(table.num_rows, FACE_SCHEMA.field(name).type))
    table = table.select(FACE_SCHEMA.names).cast(FACE_SCHEMA)
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(
            table,
            tmp,
            row_group_size=row_group_size,
            compression="zstd",
            write_statistics=_STATS_COLUMNS,
            use_dictionary=[n for n in _STATS_COLUMNS if FACE_SCHEMA.field(n).type == pa.string()],
        )
    log.debug("wrote %s (%d rows)", path, table.num_rows)
    return path


def status_path(dataset_dir: str | Path, shard_name: str) -> Path:
    """Where the status table (completion marker) of shard ``shard_name`` lives."""
    return Path(dataset_dir) / STATUS_DIR / shard_name


def write_status(rows: Iterable[Mapping], path: str | Path) -> Path:
    """Write a per-photo status table (photo_id, status, error, faces, shard) atomically."""
    rows = list(rows)
    columns = {name: [row.get(name) for row in rows] for name in STATUS_SCHEMA.names}
    table = pa.Table.from_pydict(columns, schema=STATUS_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return Path(path)


def write_dataset_json(dataset_dir: str | Path, config: Mapping, counts: Mapping) -> Path:
    """Write ``_dataset.json``: schema version, config, counts, creation and update times.

    The creation time of an existing file is kept, so resumed runs do not rewrite history.
    """
    path = Path(dataset_dir) / DATASET_JSON
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    created = now
    if path.exists():
        try:
            created = json.loads(path.read_text(encoding="utf-8")).get("created", now)
        except (OSError, json.JSONDecodeError):
            log.warning("replacing unreadable %s", path)
    info = {
        "schema_version": SCHEMA_VERSION,
        "format": "fdf-face-shards",
        "created": created,
        "updated": now,
        "config": dict(config),
        "counts": dict(counts),
    }
    atomic_write_text(path, json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return path
