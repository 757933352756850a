"""Read face shards, their status tables and ``_dataset.json``."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from ..errors import FdfError
from ..memory import release_memory
from ..parquet_read import SHARD_ERRORS, ShardReadError, iter_shard_batches, open_shard, read_shard  # noqa: F401
from .schema import STATUS_SCHEMA
from .writer import DATA_DIR, DATASET_JSON, STATUS_DIR


class DatasetError(FdfError):
    """A face-shard dataset folder is missing or unreadable."""


def check_shards(paths: Iterable[str | Path]) -> list[Path]:
    """Open every shard's footer (cheap) before a command changes anything; the paths, or
    ShardReadError for the first that cannot be read."""
    paths = [Path(p) for p in paths]
    for path in paths:
        open_shard(path)
    return paths


def unreadable_shards(paths: Iterable[str | Path]) -> dict[Path, str]:
    """Shards whose footer cannot be read, with the reason (empty when all can be)."""
    bad = {}
    for path in paths:
        try:
            open_shard(path)
        except ShardReadError as exc:
            bad[Path(path)] = str(exc)
    return bad


def _file_order(path: Path) -> tuple:
    # Shard by shard, then resolution and split: every row of one shard's faces is read together.
    res = path.parent.parent.name
    return (path.name, int(res) if res.isdigit() else -1, path.parent.name)


def list_shards(dataset_dir: str | Path) -> list[Path]:
    """Paths of the face files of ``dataset_dir``: ``data/<res>/<split>/part-*.parquet``, and the
    ``part-*.parquet`` at the top of a dataset written before that layout; ordered by shard name,
    then resolution and split."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    files = [p for p in (root / DATA_DIR).glob("*/*/part-*.parquet") if p.parent.parent.name.isdigit()]
    moved = {p.name for p in files}  # an old-layout shard already rewritten under data/ by a killed migrate
    return sorted(files + [p for p in root.glob("part-*.parquet") if p.name not in moved], key=_file_order)


def legacy_shards(dataset_dir: str | Path) -> list[Path]:
    """Face shards of the layout before ``data/`` (``part-*.parquet`` at the top)."""
    return sorted(Path(dataset_dir).glob("part-*.parquet"))


def shard_files(dataset_dir: str | Path, shard_name: str) -> list[Path]:
    """Every face file of shard ``shard_name`` (all resolutions and splits, either layout)."""
    return [p for p in list_shards(dataset_dir) if p.name == shard_name]


def shards_by_name(files: Iterable[Path]) -> dict[str, list[Path]]:
    """Face files grouped by shard (file name), in first-seen order."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(Path(path).name, []).append(Path(path))
    return groups


def shard_label(dataset_dir: str | Path, path: Path) -> str:
    """A face file's path relative to its dataset, for messages and summaries."""
    try:
        return Path(path).relative_to(dataset_dir).as_posix()
    except ValueError:
        return str(path)


def list_status_files(dataset_dir: str | Path) -> list[Path]:
    """Sorted paths of the per-shard status tables under ``_status/``."""
    return sorted((Path(dataset_dir) / STATUS_DIR).glob("part-*.parquet"))


def read_dataset_info(dataset_dir: str | Path) -> dict:
    """Return the parsed ``_dataset.json`` of ``dataset_dir``."""
    path = Path(dataset_dir) / DATASET_JSON
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{dataset_dir} has no {DATASET_JSON}; is it a face-shard dataset?") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from None


def read_faces(
    dataset_dir: str | Path, columns: Iterable[str] | None = None, filter: pads.Expression | None = None
) -> pa.Table:
    """Read face rows (optionally only ``columns``, rows matching ``filter``) into one table."""
    shards = list_shards(dataset_dir)
    if not shards:
        raise DatasetError(f"{dataset_dir} holds no face shards (data/*/*/part-*.parquet)")
    ds = pads.dataset([str(p) for p in shards], format="parquet")
    return ds.to_table(columns=list(columns) if columns else None, filter=filter)


def read_lowest_resolution(dataset_dir: str | Path, columns: Iterable[str]) -> pa.Table:
    """``columns`` of every face at the smallest crop resolution (one row per face), shard order.

    Shard by shard with ``ParquetFile``, not through a dataset scanner: the scanner's read-ahead
    over a few hundred shards, and the pages Arrow's allocator kept after it, cost many times the
    RSS of the tables read (a few hundred bytes per face).
    """
    shards = list_shards(dataset_dir)
    if not shards:
        raise DatasetError(f"{dataset_dir} holds no face shards (data/*/*/part-*.parquet)")
    columns = list(dict.fromkeys([*columns, "resolution"]))
    resolution = lowest_resolution(check_shards(shards))
    parts = []
    for shard in shards:
        t = read_shard(shard, columns)
        parts.append(t.filter(pc.equal(t.column("resolution"), resolution)))
        del t
        release_memory("shard read at its lowest resolution")
    return pa.concat_tables(parts)


def lowest_resolution(shards: Iterable[str | Path]) -> int:
    """The smallest crop resolution in any shard (every face has a row at each resolution)."""
    return min(int(pc.min(read_shard(s, ["resolution"]).column("resolution")).as_py()) for s in shards)


def read_status(dataset_dir: str | Path, skip: Iterable[Path] = ()) -> pa.Table:
    """All per-photo status rows (photo_id, status, error, faces, shard) of a dataset."""
    skip = {Path(p) for p in skip}
    files = [f for f in list_status_files(dataset_dir) if f not in skip]
    if not files:
        return STATUS_SCHEMA.empty_table()
    return pa.concat_tables(read_shard(p) for p in files)


def completed_photo_ids(dataset_dir: str | Path) -> set[str]:
    """Photo ids whose shard is complete (their status table exists)."""
    return set(read_status(dataset_dir).column("photo_id").to_pylist())


def orphan_shards(dataset_dir: str | Path) -> list[Path]:
    """Face files without a status table: left by a run killed before its shard was complete."""
    done = {p.name for p in list_status_files(dataset_dir)}
    return [p for p in list_shards(dataset_dir) if p.name not in done and p.name.startswith("part-")]


COUNT_COLUMNS = ["face_id", "photo_id", "split", "resolution"]


def dataset_counts(
    dataset_dir: str | Path, skip: Iterable[Path] = (), tables: Iterable[pa.Table] | None = None
) -> dict:
    """Counts for ``_dataset.json``: rows, faces, photos, per split, per resolution, per status.

    Shard by shard with four small columns (:data:`COUNT_COLUMNS`), counted in Arrow: memory
    grows with the distinct face and photo ids only (~40 MB for 1.5 M faces), never with Python
    objects per row. Shards and status tables in ``skip`` (unreadable ones) are left out;
    ``tables`` gives those columns of every shard when the caller has them already.
    """
    counts: dict = {"rows": 0, "faces": 0, "photos_with_faces": 0, "by_split": {}, "by_resolution": {}}
    skip = {Path(p) for p in skip}
    if tables is None:
        shards = check_shards([s for s in list_shards(dataset_dir) if s not in skip])
        tables = (read_shard(shard, COUNT_COLUMNS) for shard in shards)
    face_ids, photo_ids = [], []
    by_split: Counter = Counter()
    by_resolution: Counter = Counter()
    for table in tables:
        counts["rows"] += table.num_rows
        face_ids.append(pc.unique(table.column("face_id")))
        photo_ids.append(pc.unique(table.column("photo_id")))
        for name, counter in (("split", by_split), ("resolution", by_resolution)):
            for item in pc.value_counts(table.column(name)).to_pylist():
                counter[item["values"]] += item["counts"]
    if counts["rows"]:
        counts["faces"] = len(pc.unique(pa.chunked_array(face_ids, pa.string())))
        counts["photos_with_faces"] = len(pc.unique(pa.chunked_array(photo_ids, pa.string())))
        counts["by_split"] = dict(sorted(by_split.items()))
        counts["by_resolution"] = {str(k): v for k, v in sorted(by_resolution.items())}
    status = read_status(dataset_dir, skip)
    statuses = pc.value_counts(status.column("status")).to_pylist()
    counts["photos_by_status"] = dict(sorted((s["values"], s["counts"]) for s in statuses))
    return counts
