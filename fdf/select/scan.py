"""One pass over the face shards: the compact per-face state that selection decides on.

Selection needs, per face, a few scalars, a 64-bit crop hash and a 128-d descriptor (~0.6 KB),
never the crops or the other resolutions. Shards are read one at a time with ``ParquetFile``
(no dataset scanner: its read-ahead over hundreds of files cost ~10 KB of RSS per face), only
the needed columns; the hash comes from the shard's ``dhash`` column, and only rows without one
(shards written before the column existed) have their crop decoded to compute it; descriptors
become one float32 matrix through Arrow (no Python list per face).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from ..errors import FdfError
from ..memory import release_memory
from ..shards import check_shards, list_shards
from ..shards.reader import lowest_resolution, open_shard, read_shard
from .dedupe import dhash_png

META_COLUMNS = [
    "face_id",
    "photo_id",
    "resolution",
    "crop_photo",
    "score",
    "yaw",
    "pitch",
    "roll",
    "mouth_open",
    "eye_open",
    "smile",
    "face_size",
    "sharpness",
    "landmark_fit",
    "embedding",
    "owner_nsid",
    "license_id",
]
DESCRIPTOR_DIM = 128


@dataclass
class ScannedFaces:
    """Per-face state, rows sorted by face id, one row per face (its lowest resolution).

    ``faces`` holds the scalar columns and ``crop_side`` (the expanded crop's width, photo
    pixels) instead of the crop box; ``shard_of[i]`` indexes ``shards``.
    """

    faces: pd.DataFrame
    embeddings: np.ndarray  # N x 128 float32, NaN rows for faces without a descriptor
    hashes: np.ndarray  # N uint64 dHash of the crop
    shard_of: np.ndarray  # N int32
    shards: list[Path]
    resolution: int


class NotAFaceDatasetError(FdfError):
    """The folder holds Parquet parts, but not face shards (e.g. a download folder)."""


def _read(path: Path, columns: list[str]) -> pa.Table:
    return read_shard(path, columns)


def require_face_shards(shards: list[Path]) -> None:
    """NotAFaceDatasetError unless the shards have the face columns selection reads."""
    names = set(open_shard(shards[0]).schema_arrow.names)
    missing = [c for c in META_COLUMNS if c not in names]
    if not missing:
        return
    folder = shards[0].parent
    if "status" in names and "face_id" not in names:
        raise NotAFaceDatasetError(
            f"{folder} is a download folder, not a face dataset: annotate it first "
            f"(fdf annotate {folder} --out DATASET), then select from DATASET"
        )
    raise NotAFaceDatasetError(
        f"{folder} is not a face dataset: {shards[0].name} lacks the face columns "
        f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
    )


def descriptor_matrix(column: pa.ChunkedArray | pa.Array, dim: int = DESCRIPTOR_DIM) -> np.ndarray:
    """An N x dim float32 matrix from a list<float> column; rows without a full descriptor are NaN."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    out = np.full((len(col), dim), np.nan, dtype=np.float32)
    whole = pc.list_value_length(col).fill_null(0).to_numpy(zero_copy_only=False) == dim
    if whole.any():
        flat = pc.list_flatten(col.filter(pa.array(whole))).to_numpy(zero_copy_only=False)
        out[whole] = flat.reshape(-1, dim)
    return out


def crop_widths(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """x1 - x0 of each (x0, y0, x1, y1) crop box; NaN where a box is missing."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    out = np.full(len(col), np.nan, dtype=np.float64)
    whole = pc.list_value_length(col).fill_null(0).to_numpy(zero_copy_only=False) == 4
    if whole.any():
        boxes = pc.list_flatten(col.filter(pa.array(whole))).to_numpy(zero_copy_only=False).reshape(-1, 4)
        out[whole] = boxes[:, 2].astype(np.float64) - boxes[:, 0]
    return out


def _scan_shard(path: Path, resolution: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """(scalar columns with crop_side, descriptors, crop hashes) of one shard's faces at ``resolution``."""
    has_hash = "dhash" in open_shard(path).schema_arrow.names
    t = _read(path, META_COLUMNS + (["dhash"] if has_hash else []))
    t = t.filter(pc.equal(t.column("resolution"), resolution))
    if has_hash:
        hashes = t.column("dhash").fill_null(0).to_numpy().astype(np.uint64)
        missing = t.column("dhash").is_null().to_numpy(zero_copy_only=False)
    else:
        hashes, missing = np.zeros(t.num_rows, dtype=np.uint64), np.ones(t.num_rows, dtype=bool)
    if missing.any():  # shards written before the dhash column: hash the crops themselves
        images = _read(path, ["resolution", "image"])
        images = images.filter(pc.equal(images.column("resolution"), resolution)).column("image")
        images = images.combine_chunks().field("bytes")
        for i in np.flatnonzero(missing):
            hashes[i] = dhash_png(images[int(i)].as_py())
        del images
    embeddings = descriptor_matrix(t.column("embedding"))
    side = crop_widths(t.column("crop_photo"))
    t = t.drop_columns([c for c in ("embedding", "crop_photo", "dhash") if c in t.column_names])
    t = t.append_column("crop_side", pa.array(side))
    return t, embeddings, hashes


def _sorted_positions(shards: list[Path], resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows per shard at ``resolution``, each such row's place in face-id order), in scan order.

    Knowing the places before the main pass lets it write descriptors and hashes straight into
    their final rows: one N x 128 matrix, never a list of blocks plus a sorted copy.
    """
    ids = []
    for shard in shards:
        t = _read(shard, ["face_id", "resolution"])
        ids.append(t.filter(pc.equal(t.column("resolution"), resolution)).column("face_id"))
    counts = np.array([len(c) for c in ids], dtype=np.int64)
    order = pc.sort_indices(pa.chunked_array(ids, pa.string())).to_numpy()
    place = np.empty(len(order), dtype=np.int64)
    place[order] = np.arange(len(order))
    return counts, place


def scan_faces(dataset_dir: Path, progress: bool = True) -> ScannedFaces:
    """Read the per-face state of every face shard of ``dataset_dir``, one shard in memory at a time."""
    shards = check_shards(list_shards(dataset_dir))
    require_face_shards(shards)
    resolution = lowest_resolution(shards)
    counts, place = _sorted_positions(shards, resolution)
    n = len(place)
    embeddings = np.empty((n, DESCRIPTOR_DIM), dtype=np.float32)
    hashes = np.empty(n, dtype=np.uint64)
    shard_of = np.empty(n, dtype=np.int32)
    tables, start = [], 0
    for k, shard in enumerate(tqdm(shards, desc="select: read", unit="shard", disable=not progress)):
        t, e, h = _scan_shard(shard, resolution)
        if t.num_rows != counts[k]:
            raise FdfError(f"{shard} changed while it was read; is another command writing this dataset?")
        rows = place[start : start + t.num_rows]
        embeddings[rows], hashes[rows], shard_of[rows] = e, h, k
        tables.append(t)
        start += t.num_rows
        release_memory("select: shard scanned")
    table = pa.concat_tables(tables)
    return ScannedFaces(
        faces=table.take(np.argsort(place)).to_pandas(),
        embeddings=embeddings,
        hashes=hashes,
        shard_of=shard_of,
        shards=list(shards),
        resolution=resolution,
    )
