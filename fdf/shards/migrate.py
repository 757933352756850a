"""``fdf migrate``: move a dataset of the old layout (``part-*.parquet`` at the top) to the
Hub layout (``data/<resolution>/<split>/part-*.parquet``, bookkeeping beside ``data/``, a
``README.md`` declaring the configs).

Shard by shard, each file written atomically before the old one is deleted; readers ignore an
old shard once its new files exist, so a killed migration leaves a dataset that reads the same,
and running the command again finishes it. Face rows, status tables and the removal log are
unchanged: only where the rows live changes.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from filelock import FileLock
from tqdm import tqdm

from ..atomic import remove_stale_temporaries
from ..memory import release_memory
from .reader import DatasetError, check_shards, dataset_counts, legacy_shards, read_dataset_info, read_shard
from .writer import DATASET_JSON, DATASET_LOCK, write_dataset_json, write_face_files

log = logging.getLogger(__name__)


@dataclass
class MigrateSummary:
    dataset: str
    shards_moved: int
    files_written: int
    rows: int
    already_migrated: bool

    def to_dict(self) -> dict:
        return asdict(self)


def migrate_dataset(dataset_dir: str | Path, progress: bool = True) -> MigrateSummary:
    """Move ``dataset_dir``'s old-layout shards under ``data/``; idempotent and resumable."""
    dataset_dir = Path(dataset_dir)
    if not (dataset_dir / DATASET_JSON).is_file():
        raise DatasetError(f"{dataset_dir} has no {DATASET_JSON}; is it a face-shard dataset?")
    with FileLock(str(dataset_dir / DATASET_LOCK)):  # never beside a removal
        remove_stale_temporaries(dataset_dir)
        old = check_shards(legacy_shards(dataset_dir))  # a truncated shard: named, nothing moved
        rows = files = 0
        for shard in tqdm(old, desc="migrate", unit="shard", disable=not progress):
            table = read_shard(shard)
            files += len(write_face_files(table, dataset_dir, shard.name))  # deletes the old file last
            rows += table.num_rows
            del table
            release_memory("migrate: shard rewritten")
        info = read_dataset_info(dataset_dir)
        write_dataset_json(dataset_dir, info.get("config", {}), dataset_counts(dataset_dir))
    summary = MigrateSummary(str(dataset_dir), len(old), files, rows, already_migrated=not old)
    log.info(
        "%s: %d shards moved under data/ (%d files, %d rows)%s",
        dataset_dir,
        len(old),
        files,
        rows,
        "; nothing to move" if not old else "",
    )
    return summary
