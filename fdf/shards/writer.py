"""Write face shards and per-photo status tables atomically.

A dataset is laid out the way the Hugging Face Hub lays one out, so that every Parquet reader
sees exactly the face rows under ``data/`` and the bookkeeping beside it::

    DATASET/README.md                        dataset card; its YAML header declares the configs
    DATASET/data/<res>/<split>/part-<key>.parquet   face rows (one per face at this resolution)
    DATASET/_status/part-<key>.parquet       per-photo status: written last, marks <key> complete
    DATASET/_dataset.json, _removals.jsonl, _decisions.parquet, ...   bookkeeping

A shard ``part-<key>`` is the set of its files across resolutions and splits; its status table
is written after all of them (img2dataset's rule: resuming is a directory listing). Datasets
written before this layout hold ``part-<key>.parquet`` at the top; they are still read, and
``fdf migrate`` moves them under ``data/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from ..atomic import atomic_path, atomic_write_text
from .schema import FACE_SCHEMA, OPTIONAL_COLUMNS, SCHEMA_VERSION, SPLITS, STATUS_SCHEMA

log = logging.getLogger(__name__)

ROW_GROUP_SIZE = 256
STATUS_DIR = "_status"
DATA_DIR = "data"
README = "README.md"
# The first line of a README.md this module wrote: one without it is the user's, never replaced.
README_MARK = "<!-- written by fdf from _dataset.json: rewritten whenever the dataset changes -->"
# Underscore prefix: pyarrow.dataset skips it, so dataset(DIR, format="parquet") sees only shards.
DATASET_JSON = "_dataset.json"
#: One writer of a dataset's existing shards at a time (fdf remove, fdf migrate): an OS lock file.
DATASET_LOCK = "_removals.lock"
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


def face_file_path(dataset_dir: str | Path, resolution: int, split: str, shard_name: str) -> Path:
    """Where the rows of shard ``shard_name`` at ``resolution`` in ``split`` live."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return Path(dataset_dir) / DATA_DIR / str(int(resolution)) / split / shard_name


def write_face_files(
    table: pa.Table, dataset_dir: str | Path, shard_name: str, row_group_size: int = ROW_GROUP_SIZE
) -> list[Path]:
    """Write shard ``shard_name`` of ``dataset_dir``: one file per resolution and split under
    ``data/``, each atomically; files of this shard in other partitions (left by an earlier
    write of it with other rows) are deleted. Returns the paths written, in partition order."""
    dataset_dir = Path(dataset_dir)
    written = []
    if table.num_rows:
        res_col, split_col = table.column("resolution"), table.column("split")
        bad = pc.unique(pc.fill_null(split_col, "<null>")).to_pylist()
        if unknown := sorted(set(bad) - set(SPLITS)):
            raise ValueError(f"face rows of {shard_name} have a split outside {SPLITS}: {unknown}")
        for res in sorted(pc.unique(res_col).to_pylist()):
            at_res = pc.equal(res_col, res)
            for split in SPLITS:
                rows = table.filter(pc.and_(at_res, pc.equal(split_col, split)))
                if rows.num_rows:
                    path = face_file_path(dataset_dir, res, split, shard_name)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    written.append(write_face_shard(rows, path, row_group_size))
    for stale in (dataset_dir / DATA_DIR).glob(f"*/*/{shard_name}"):
        if stale not in written:
            stale.unlink()
    legacy = dataset_dir / shard_name  # a shard of the old layout is replaced by its new files
    if legacy.exists():
        legacy.unlink()
    return written


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
    write_dataset_readme(dataset_dir, info)
    return path


def partitions(dataset_dir: str | Path) -> dict[int, list[str]]:
    """The splits that hold face files under ``data/``, per resolution (ascending)."""
    found: dict[int, list[str]] = {}
    data = Path(dataset_dir) / DATA_DIR
    for res_dir in sorted(data.iterdir() if data.is_dir() else [], key=lambda p: (len(p.name), p.name)):
        if res_dir.name.isdigit():
            splits = [s for s in SPLITS if any((res_dir / s).glob("part-*.parquet"))]
            if splits:
                found[int(res_dir.name)] = splits
    return found


def readme_text(dataset_dir: str | Path, info: Mapping) -> str:
    """The dataset ``README.md``: a YAML header declaring one config per resolution (the
    smallest is the default) with its train and validation splits, as the Hugging Face Hub
    and ``datasets.load_dataset(DATASET)`` read it; then what the dataset is and how to load it."""
    parts = partitions(dataset_dir)
    configs = []
    for k, (res, splits) in enumerate(parts.items()):
        config = {"config_name": f"{res}px"}
        if k == 0:
            config["default"] = True
        config["data_files"] = [{"split": s, "path": f"{DATA_DIR}/{res}/{s}/*.parquet"} for s in splits]
        configs.append(config)
    header = {
        "license": "other",
        "license_name": "per-image-licences",  # each row names its own
        "tags": ["faces", "fdf"],
        "configs": configs,
    }
    counts = info.get("counts", {})
    name = Path(dataset_dir).resolve().name
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        README_MARK,
        "",
        f"# {name}",
        "",
        "Face crops in the FDF (Flickr Diverse Faces) style, made by fdf-toolkit: one Parquet row per face and "
        "resolution, with its crop (`image`), keypoints, 68 landmarks, box, pose, expression and quality "
        "scores, and the photo's source, owner, title and licence (`license_id`, `license_url`). Each row "
        "carries its own licence: check it, and credit the owner, before any use (`fdf audit`, "
        "`fdf credits`).",
        "",
        f"- faces: {counts.get('faces', 0):,}; photos with faces: {counts.get('photos_with_faces', 0):,}",
        f"- rows per split: {', '.join(f'{k} {v:,}' for k, v in counts.get('by_split', {}).items()) or 'none'}",
        f"- rows per resolution: "
        f"{', '.join(f'{k} px {v:,}' for k, v in counts.get('by_resolution', {}).items()) or 'none'}",
        f"- updated: {info.get('updated', '')}",
        "",
        "## Layout",
        "",
        "- `data/<resolution>/<split>/part-*.parquet`: the face rows, and nothing else.",
        "- `_status/`, `_dataset.json`, `_removals.jsonl`, `_decisions.parquet`: bookkeeping, beside `data/`.",
        "",
        "## Loading",
        "",
        "```python",
    ]
    first = next(iter(parts), 128)
    lines += [
        "from datasets import load_dataset",
        f'faces = load_dataset("{name}")                  # the {first}px config: train and validation',
        f'faces = load_dataset("parquet", data_dir="{name}/data/{first}")',
        "",
        "import duckdb",
        'duckdb.sql("FROM ' + f"'{name}/data/{first}/*/*.parquet'" + ' SELECT face_id, license_id, owner_name")',
        "",
        "import pandas as pd, pyarrow.dataset as ds",
        f'df = pd.read_parquet("{name}/data/{first}/train", columns=["face_id", "yaw", "license_id"])',
        f'table = ds.dataset("{name}/data", format="parquet").to_table(columns=["face_id", "resolution"])',
        "```",
        "",
    ]
    return "\n".join(lines)


def write_dataset_readme(dataset_dir: str | Path, info: Mapping) -> Path | None:
    """Write ``README.md`` (see :func:`readme_text`) unless the folder holds one of the user's,
    or shards of the old layout (whose rows the configs would miss: ``fdf migrate`` first)."""
    dataset_dir = Path(dataset_dir)
    path = dataset_dir / README
    if any(dataset_dir.glob("part-*.parquet")):
        log.info(
            "%s: shards of the old layout at the top; run fdf migrate to make it loadable by datasets.load_dataset",
            dataset_dir,
        )
        return None
    if path.exists():
        try:
            mine = README_MARK in path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            mine = False
        if not mine:
            log.warning("%s is not one fdf wrote: left as it is (its configs may not match data/)", path)
            return None
    atomic_write_text(path, readme_text(dataset_dir, info))
    return path
