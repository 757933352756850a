"""Load the photos to audit, one row each, from a face-shard dataset, a download folder or a manifest.

Every kind yields the same columns (:data:`PHOTO_COLUMNS`, plus ``faces`` and ``tags``), so the
checks, credits and the revalidation do not care where the rows came from.

The rows are one Arrow table, built shard by shard from only the columns needed: a face-shard
dataset is never read whole (1.5 M faces with their crops are ~50 GB; their photo rows ~250 MB),
and no Python object is made per photo until a consumer asks for a pandas frame.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import FdfError
from ..manifest import read_manifest
from ..memory import release_memory
from ..shards.reader import check_shards, list_shards, open_shard, read_dataset_info, read_shard
from ..shards.writer import DATASET_JSON

log = logging.getLogger(__name__)

PHOTO_COLUMNS = (
    "photo_id",
    "owner_nsid",
    "owner_name",
    "title",
    "photo_url",
    "license_id",
    "license_name",
    "license_url",
    "source",
)
KINDS = ("dataset", "download", "manifest")
_TAGS_TYPE = pa.list_(pa.string())


class AuditInputError(FdfError):
    """The path to audit is not a face-shard dataset, a download folder or a manifest."""


@dataclass
class PhotoSet:
    """The photos of one dataset, download folder or manifest.

    ``table`` (Arrow, sorted by photo id) has :data:`PHOTO_COLUMNS` plus ``faces`` (faces per
    photo; null outside a dataset) and ``tags`` (a list, or null when the input does not record
    tags). ``photos`` is the same as a pandas frame, made on first use.
    """

    kind: str
    path: Path
    table: pa.Table
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def photos(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = frame_of(self.table)
        return self._frame

    @property
    def tags_known(self) -> bool:
        return bool(self.table.num_rows) and self.table.column("tags").null_count == 0

    @property
    def faces(self) -> int | None:
        return None if self.kind != "dataset" else int(pc.sum(self.table.column("faces")).as_py() or 0)

    def batches(self, rows: int = 20_000) -> Iterator[pd.DataFrame]:
        """The photos as pandas frames of at most ``rows`` rows, in photo id order."""
        for start in range(0, self.table.num_rows, rows):
            yield frame_of(self.table.slice(start, rows))


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A photo table as pandas: photo_id as str, license_id as Int16, tags as lists or None."""
    df = table.drop_columns(["tags"]).to_pandas()
    df["license_id"] = df["license_id"].astype("Int16")
    df["faces"] = df["faces"].astype(object).where(df["faces"].notna(), None)
    df["tags"] = pd.Series(table.column("tags").to_pylist(), index=df.index, dtype=object)
    return df[[*PHOTO_COLUMNS, "faces", "tags"]]


def detect_kind(path: str | Path) -> str:
    """'dataset' (face shards), 'download' (downloader output) or 'manifest' (one Parquet file)."""
    path = Path(path)
    if not path.exists():
        raise AuditInputError(f"not found: {path}")
    if path.is_file():
        if path.suffix != ".parquet":
            raise AuditInputError(f"{path} is not a Parquet manifest (expected a .parquet file)")
        return "manifest"
    if (path / DATASET_JSON).exists() or any(path.glob("data/*/*/part-*.parquet")):
        return "dataset"
    parts = sorted(path.glob("part-*.parquet"))
    if parts:
        names = open_shard(parts[0]).schema_arrow.names
        if "face_id" in names:
            return "dataset"
        if "status" in names:
            return "download"
    inner = sorted(p.name for p in path.iterdir() if (p / DATASET_JSON).exists())
    hint = f"; it holds the datasets {', '.join(inner)}: audit one of them" if inner else ""
    raise AuditInputError(
        f"{path} is neither a face-shard dataset (_dataset.json, data/*/*/part-*.parquet) "
        f"nor a download folder (part-*.parquet with a status column){hint}"
    )


def first_of_each(ids: pa.ChunkedArray | pa.Array) -> pa.Array:
    """True for the first row of each value."""
    return pc.equal(pc.index_in(ids, value_set=ids), pa.array(np.arange(len(ids)), pa.int32()))


def _photo_columns(table: pa.Table) -> pa.Table:
    """:data:`PHOTO_COLUMNS` (absent ones null; page_url as photo_url), typed alike for every kind."""
    if "photo_url" not in table.column_names and "page_url" in table.column_names:
        table = table.rename_columns(["photo_url" if n == "page_url" else n for n in table.column_names])
    columns = {}
    for name in PHOTO_COLUMNS:
        col = table.column(name) if name in table.column_names else pa.nulls(table.num_rows, pa.string())
        if name == "license_id":
            col = _license_ids(col)
        elif not pa.types.is_string(col.type):
            col = pc.cast(col, pa.string()) if not pa.types.is_null(col.type) else col.cast(pa.string())
        columns[name] = col
    return pa.table(columns)


def _license_ids(col) -> pa.ChunkedArray:
    if pa.types.is_integer(col.type) or pa.types.is_null(col.type):
        return pc.cast(col, pa.int16())
    # Text or floats: as pandas.to_numeric(errors="coerce") reads them.
    values = pd.to_numeric(pd.Series(col.to_pylist(), dtype=object), errors="coerce").astype("Int16")
    return pa.chunked_array([pa.array(values, pa.int16(), from_pandas=True)])


def _empty_photos() -> pa.Table:
    fields = [pa.field(c, pa.int16() if c == "license_id" else pa.string()) for c in PHOTO_COLUMNS]
    return pa.schema([*fields, pa.field("faces", pa.int64()), pa.field("tags", _TAGS_TYPE)]).empty_table()


def _tags_from_download(dataset_dir: Path) -> pa.Table | None:
    """(photo_id, tags) from the download folder the dataset was annotated from, if still there.

    Face rows do not carry tags; the download table does, and ``_dataset.json`` names it.
    The newest row of a photo wins, as a later download shard supersedes an earlier one.
    """
    try:
        folder = read_dataset_info(dataset_dir).get("config", {}).get("download_dir")
    except FdfError:
        return None
    if not folder or not Path(folder).is_dir():
        return None
    parts = []
    try:
        for shard in sorted(Path(folder).glob("part-*.parquet")):
            if "tags" not in open_shard(shard).schema_arrow.names:
                return None
            t = read_shard(shard, ["photo_id", "tags"])
            parts.append(
                pa.table(
                    {
                        "photo_id": pc.cast(t.column("photo_id"), pa.string()),
                        "tags": pc.cast(t.column("tags"), _TAGS_TYPE),
                    }
                )
            )
    except FdfError as exc:  # the audit goes on without tags
        log.warning("cannot read tags from %s: %s", folder, exc)
        return None
    if not parts:
        return None
    table = pa.concat_tables(parts)
    table = table.take(pa.array(np.arange(table.num_rows - 1, -1, -1)))
    return table.filter(first_of_each(table.column("photo_id")))


def _dataset_photos(path: Path) -> pa.Table:
    shards = check_shards(list_shards(path))
    if not shards:
        return _empty_photos()
    photos, faces = [], []
    for shard in shards:
        names = open_shard(shard).schema_arrow.names
        t = read_shard(shard, ["face_id", *[c for c in PHOTO_COLUMNS if c in names]])
        t = t.set_column(t.column_names.index("photo_id"), "photo_id", pc.cast(t.column("photo_id"), pa.string()))
        faces.append(t.group_by("photo_id", use_threads=False).aggregate([("face_id", "count_distinct")]))
        photos.append(_photo_columns(t.filter(first_of_each(t.column("photo_id")))))
        del t
        release_memory("audit: shard's photo rows taken")
    table = pa.concat_tables(photos)
    table = table.filter(first_of_each(table.column("photo_id")))  # a photo whose faces span shards
    # A face lives in one shard, so a photo's faces are the sum over shards.
    counts = (
        pa.concat_tables(faces).group_by("photo_id", use_threads=False).aggregate([("face_id_count_distinct", "sum")])
    )
    where = pc.index_in(table.column("photo_id"), value_set=counts.column("photo_id"))
    table = table.append_column("faces", pc.cast(counts.column("face_id_count_distinct_sum").take(where), pa.int64()))
    tags = _tags_from_download(path)
    if tags is None:
        table = table.append_column("tags", pa.nulls(table.num_rows, _TAGS_TYPE))
    else:
        found = pc.index_in(table.column("photo_id"), value_set=tags.column("photo_id"))
        table = table.append_column("tags", tags.column("tags").take(found))
    return table


def _download_photos(path: Path) -> pa.Table:
    parts = []
    for shard in check_shards(sorted(path.glob("part-*.parquet"))):
        names = open_shard(shard).schema_arrow.names
        wanted = [c for c in (*PHOTO_COLUMNS, "page_url", "tags", "status") if c in names]
        t = read_shard(shard, wanted)
        t = t.filter(pc.equal(t.column("status"), "ok"))
        photos = _photo_columns(t)
        tags = pc.cast(t.column("tags"), _TAGS_TYPE) if "tags" in names else pa.nulls(t.num_rows, _TAGS_TYPE)
        parts.append(photos.append_column("tags", tags))
    if not parts:
        return _empty_photos()
    table = pa.concat_tables(parts, promote_options="permissive")
    # A retried photo may have several rows: the last one stands.
    table = table.take(pa.array(np.arange(table.num_rows - 1, -1, -1)))
    table = table.filter(first_of_each(table.column("photo_id")))
    return _with_faces(table, None)


def _manifest_photos(path: Path) -> pa.Table:
    df = read_manifest(path)
    tags = (
        df["tags"].map(lambda t: None if t is None or (isinstance(t, float) and pd.isna(t)) else list(t))
        if "tags" in df
        else pd.Series([None] * len(df), dtype=object)
    )
    wanted = [c for c in (*PHOTO_COLUMNS, "page_url") if c in df]
    table = _photo_columns(pa.Table.from_pandas(df[wanted], preserve_index=False))
    return _with_faces(table.append_column("tags", pa.array(tags.tolist(), _TAGS_TYPE)), None)


def _with_faces(table: pa.Table, faces) -> pa.Table:
    tags = table.column("tags")
    table = table.drop_columns(["tags"])
    table = table.append_column("faces", pa.nulls(table.num_rows, pa.int64()) if faces is None else faces)
    return table.append_column("tags", tags)


def load_photos(path: str | Path) -> PhotoSet:
    """Read the photos of ``path`` (a face-shard dataset, download folder or manifest)."""
    path = Path(path)
    kind = detect_kind(path)
    table = {"dataset": _dataset_photos, "download": _download_photos, "manifest": _manifest_photos}[kind](path)
    table = table.select([*PHOTO_COLUMNS, "faces", "tags"]).sort_by("photo_id").combine_chunks()
    log.info("%s %s: %d photos", kind, path, table.num_rows)
    return PhotoSet(kind, path, table)
