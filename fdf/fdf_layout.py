"""FDF's on-disk layout, as DeepPrivacy v1 reads it, to and from face shards.

One folder per split (``train/``, ``val/``), each holding::

    images/{res}/{idx}.png          square crops, idx = 0..N-1
    landmarks.npy                   float32 N x 7 x 2, keypoints as fractions of the crop side
    bounding_box/{res}.torch        int64 tensor N x 4, face box in crop pixels (x0, y0, x1, y1)
    fdf_metainfo.json               {str(idx): photo credit, licence, boxes in photo pixels}

FDF's 7 points have no visibility flag; on import a point is visible when it lies inside the
crop. ``fdf_metainfo.json`` keeps FDF's keys and adds ``face_id``, ``photo_id``, ``crop_box``,
``license_id``, ``owner_nsid`` and ``source`` so a round trip loses nothing the layout can hold.
Export writes ``fdf_metainfo.json`` last: a split folder is complete when it exists.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from .atomic import atomic_path, atomic_write_bytes
from .errors import FdfError
from .memory import release_memory
from .shards import check_shards, face_table, list_shards, split_for_photo, write_dataset_json, write_status
from .shards.reader import dataset_counts, read_shard
from .shards.writer import ROW_GROUP_SIZE, write_face_files
from .sources.fdf_metainfo import iter_metainfo

log = logging.getLogger(__name__)

FDF_SPLIT_DIRS = {"train": "train", "validation": "val"}
FDF_CATEGORY = {"train": "training", "validation": "validation"}
_META_COLUMNS = [
    "face_id",
    "photo_id",
    "split",
    "resolution",
    "bbox",
    "keypoints",
    "bbox_photo",
    "crop_photo",
    "owner_name",
    "owner_nsid",
    "title",
    "photo_url",
    "license_id",
    "license_name",
    "license_url",
    "source",
    "date_taken",
    "date_uploaded",
]


class FdfLayoutError(FdfError):
    """An FDF folder is missing files or its files disagree in length."""


@dataclass
class ExportSummary:
    """What :func:`export_fdf` wrote: faces per FDF split folder, and the resolutions."""

    faces: dict[str, int]
    resolutions: list[int]
    dropped: int = 0


def _iso(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return pd.Timestamp(value).isoformat()


def _photo_keypoints(keypoints, crop_box, resolution: int) -> list[list[float]]:
    kp = np.asarray(keypoints, dtype=np.float64)[:, :2]
    x0, y0, x1, y1 = crop_box
    scale = np.array([(x1 - x0) / resolution, (y1 - y0) / resolution])
    return (kp * scale + np.array([x0, y0])).round(2).tolist()


def _metainfo(row: dict, resolution: int) -> dict:
    landmark = _photo_keypoints(row["keypoints"], row["crop_photo"], resolution)
    return {
        "author": row["owner_name"],
        "photo_title": row["title"],
        "photo_url": row["photo_url"],
        "license": row["license_name"],
        "license_url": row["license_url"],
        "category": FDF_CATEGORY[row["split"]],
        "date_taken": _iso(row["date_taken"]),
        "date_uploaded": _iso(row["date_uploaded"]),
        "bounding_box": row["bbox_photo"],
        "landmark": landmark,
        "original_bounding_box": row["bbox_photo"],
        "original_landmark": landmark,
        "face_id": row["face_id"],
        "photo_id": row["photo_id"],
        "crop_box": row["crop_photo"],
        "license_id": row["license_id"],
        "owner_nsid": row["owner_nsid"],
        "source": row["source"],
    }


def export_fdf(dataset_dir: str | Path, out_dir: str | Path, resolutions: list[int] | None = None) -> ExportSummary:
    """Write the faces of a shard dataset in FDF's layout under ``out_dir/{train,val}/``.

    Faces lacking a crop at any of ``resolutions`` (default: all resolutions present) are
    dropped, since FDF indexes every resolution by the same idx.

    Shard by shard: a first pass reads three small columns to number the faces, a second reads
    each shard once and writes its crops, landmarks and boxes at their numbers; the metainfo
    records go through spill files in ranges of numbers, so neither the faces' rows nor
    ``fdf_metainfo.json`` (~1 GB for FDF) is ever held whole.
    """
    shards = check_shards(list_shards(dataset_dir))
    if not shards:
        raise FdfLayoutError(f"{dataset_dir} holds no face shards (data/*/*/part-*.parquet)")
    ids, res_col, split_col = [], [], []
    for shard in shards:
        t = read_shard(shard, ["face_id", "resolution", "split"])
        ids.append(t.column("face_id"))
        res_col.append(t.column("resolution"))
        split_col.append(t.column("split"))
    rows = pa.table(
        {
            "face_id": pa.chunked_array(ids, pa.string()),
            "resolution": pa.chunked_array(res_col),
            "split": pa.chunked_array(split_col, pa.string()),
        }
    )
    present = sorted(pc.unique(rows.column("resolution")).to_pylist())
    resolutions = sorted(resolutions or present)
    missing = [r for r in resolutions if r not in present]
    if missing:
        raise FdfLayoutError(f"{dataset_dir} has no crops at resolution {missing}; present: {present}")
    wanted = rows.filter(
        pc.is_in(rows.column("resolution"), value_set=pa.array(resolutions, rows.column("resolution").type))
    )
    per_face = wanted.group_by("face_id", use_threads=False).aggregate([("resolution", "count_distinct")])
    complete = per_face.filter(pc.equal(per_face.column("resolution_count_distinct"), len(resolutions))).column(
        "face_id"
    )
    faces_total = len(pc.unique(rows.column("face_id")))
    summary = ExportSummary(faces={}, resolutions=resolutions, dropped=faces_total - len(complete))
    # The split of a face: that of its row at the smallest wanted resolution, as FDF files it.
    first = wanted.filter(pc.equal(wanted.column("resolution"), resolutions[0]))
    split_of = first.column("split").take(pc.index_in(complete, value_set=first.column("face_id")))
    del rows, wanted, per_face, first
    for split, folder in FDF_SPLIT_DIRS.items():
        faces = pc.sort_indices(complete.filter(pc.equal(split_of, split)))
        faces = complete.filter(pc.equal(split_of, split)).take(faces)
        if len(faces):
            _export_split(shards, Path(out_dir) / folder, faces, resolutions)
        summary.faces[folder] = len(faces)
    if summary.dropped:
        log.warning("dropped %d faces without crops at every resolution %s", summary.dropped, resolutions)
    return summary


METAINFO_GROUP = 50_000  # faces whose metainfo records are sorted in memory at once (~50 MB)


def _export_split(shards: list[Path], root: Path, faces: pa.Array, resolutions: list[int]) -> None:
    """Write one split folder: ``faces`` (sorted face ids) get idx 0..N-1."""
    top = resolutions[-1]
    n = len(faces)
    landmarks = np.zeros((n, 7, 2), dtype=np.float32)
    boxes = {res: np.zeros((n, 4), dtype=np.int64) for res in resolutions}
    for res in resolutions:
        (root / "images" / str(res)).mkdir(parents=True, exist_ok=True)
    spill = _MetainfoSpill(root / "_metainfo_spill")
    try:
        with tqdm(total=n * len(resolutions), desc=f"export {root.name}", unit="img") as bar:
            for shard in shards:
                table = read_shard(shard, [*_META_COLUMNS, "image"])  # one shard in memory at a time
                idx = pc.index_in(table.column("face_id"), value_set=faces)
                keep = pc.and_(
                    pc.is_valid(idx), pc.is_in(table.column("resolution"), value_set=pa.array(resolutions, pa.int16()))
                )
                table, numbers = table.filter(keep), idx.filter(keep).to_numpy()
                for start in range(0, table.num_rows, ROW_GROUP_SIZE):  # Python rows a slice at a time
                    rows = table.slice(start, ROW_GROUP_SIZE).to_pylist()
                    for k, row in zip(numbers[start : start + ROW_GROUP_SIZE].tolist(), rows):
                        res = row["resolution"]
                        atomic_write_bytes(root / "images" / str(res) / f"{k}.png", row["image"]["bytes"], fsync=False)
                        boxes[res][k] = [round(v) for v in row["bbox"]]
                        if res == top:
                            landmarks[k] = np.asarray(row["keypoints"], dtype=np.float32)[:, :2] / top
                            # The record as json.dumps({idx: record, ...}, indent=1) lays it out.
                            spill.add(k, json.dumps({str(k): _metainfo(row, top)}, indent=1)[2:-2])
                        bar.update()
                del table
                release_memory("fdf layout: shard's metainfo spilled")
    finally:
        spill.close()
    os.sync()  # the crops, before anything marks the folder complete
    with atomic_path(root / "landmarks.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, landmarks)
    for res in resolutions:
        with atomic_path(root / "bounding_box" / f"{res}.torch") as tmp:
            torch.save(torch.from_numpy(boxes[res]), tmp)
    # fdf_metainfo.json last: it marks the split folder complete.
    with atomic_path(root / "fdf_metainfo.json") as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("{\n" if n else "{")
            first = True
            for texts in spill.sorted_texts():
                fh.write(("" if first else ",\n") + ",\n".join(texts))
                first = False
            fh.write("\n}" if n else "}")
    spill.remove()
    log.info("exported %d faces to %s", n, root)


class _MetainfoSpill:
    """Metainfo records (idx, JSON text) on disk in ranges of :data:`METAINFO_GROUP` idx, so the
    file can be written in idx order whatever order the shards hold the faces in."""

    SCHEMA = pa.schema([("idx", pa.int64()), ("text", pa.string())])

    def __init__(self, folder: Path):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.folder = folder
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.buffers: dict[int, tuple[list, list]] = {}

    def add(self, idx: int, text: str) -> None:
        group = idx // METAINFO_GROUP
        ids, texts = self.buffers.setdefault(group, ([], []))
        ids.append(idx)
        texts.append(text)
        if len(ids) >= 4096:
            self._flush(group)

    def _flush(self, group: int) -> None:
        ids, texts = self.buffers.pop(group)
        if group not in self.writers:
            self.writers[group] = pq.ParquetWriter(self.folder / f"group-{group:05d}.parquet", self.SCHEMA)
        self.writers[group].write_table(pa.table({"idx": ids, "text": texts}, schema=self.SCHEMA))

    def close(self) -> None:
        for group in list(self.buffers):
            self._flush(group)
        for writer in self.writers.values():
            writer.close()

    def sorted_texts(self, batch: int = 2048):
        """Every record's text in idx order, ``batch`` at a time (one group's Arrow table in memory)."""
        for group in sorted(self.writers):
            texts = read_shard(self.folder / f"group-{group:05d}.parquet").sort_by("idx").column("text")
            for start in range(0, len(texts), batch):
                yield texts.slice(start, batch).to_pylist()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


# ---------------------------------------------------------------- import


def fdf_split_roots(fdf_dir: str | Path) -> list[tuple[Path, str | None]]:
    """The layout folders in ``fdf_dir``: itself, or its ``train/`` and ``val/`` children.

    Each comes with the split it implies (None when the folder itself is the layout).
    """
    root = Path(fdf_dir)
    if (root / "images").is_dir():
        return [(root, None)]
    found = [(root / d, s) for s, d in FDF_SPLIT_DIRS.items() if (root / d / "images").is_dir()]
    if not found:
        raise FdfLayoutError(f"{root} is not an FDF folder: no images/ in it or in train/ or val/")
    return found


def fdf_resolutions(root: Path) -> list[int]:
    """Resolutions present under ``root/images/``."""
    return sorted(int(p.name) for p in (root / "images").iterdir() if p.is_dir() and p.name.isdigit())


def load_fdf_arrays(root: Path, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (landmarks N x 7 x 2 fractions, boxes N x 4 crop pixels) of one layout folder."""
    lm_path, box_path = root / "landmarks.npy", root / "bounding_box" / f"{resolution}.torch"
    for path in (lm_path, box_path):
        if not path.is_file():
            raise FdfLayoutError(f"FDF folder {root} lacks {path.relative_to(root)}")
    landmarks = np.load(lm_path).reshape(-1, 7, 2).astype(np.float32)
    boxes = torch.load(box_path, weights_only=True)
    boxes = np.asarray(boxes.numpy() if hasattr(boxes, "numpy") else boxes, dtype=np.float32).reshape(-1, 4)
    if len(boxes) != len(landmarks):
        raise FdfLayoutError(f"{root}: {len(landmarks)} landmarks but {len(boxes)} boxes at {resolution}")
    return landmarks, boxes


def _photo_id(meta: dict, idx: int) -> str:
    if meta.get("photo_id"):
        return str(meta["photo_id"])
    match = re.search(r"/(\d+)/?$", str(meta.get("photo_url") or ""))
    return match.group(1) if match else f"fdf{idx}"


def _split_of(meta: dict, folder_split: str | None, photo_id: str) -> str:
    category = {"training": "train", "validation": "validation"}.get(str(meta.get("category")))
    return category or folder_split or split_for_photo(photo_id)


def _keypoints(fractions: np.ndarray, resolution: int) -> list[list[float]]:
    inside = np.all((fractions >= 0) & (fractions <= 1), axis=1).astype(np.float32)
    return np.concatenate([fractions * resolution, inside[:, None]], axis=1).tolist()


def _import_rows(root: Path, idx: int, meta: dict, folder_split, arrays, resolutions, face_ids) -> list[dict]:
    photo_id = _photo_id(meta, idx)
    face_id = meta.get("face_id") or f"{photo_id}_{face_ids.setdefault(photo_id, 0)}"
    face_ids[photo_id] = face_ids.get(photo_id, 0) + 1
    common = {
        "face_id": face_id,
        "photo_id": photo_id,
        "face_index": int(face_id.rsplit("_", 1)[-1]) if face_id.rsplit("_", 1)[-1].isdigit() else 0,
        "split": _split_of(meta, folder_split, photo_id),
        "bbox_photo": meta.get("bounding_box") or meta.get("original_bounding_box"),
        "crop_photo": meta.get("crop_box"),
        "detector": "fdf",
        "owner_name": meta.get("author"),
        "owner_nsid": meta.get("owner_nsid"),
        "title": meta.get("photo_title"),
        "photo_url": meta.get("photo_url"),
        "license_id": meta.get("license_id"),
        "license_name": meta.get("license"),
        "license_url": meta.get("license_url"),
        "source": meta.get("source") or "fdf",
        "date_taken": pd.to_datetime(meta.get("date_taken"), errors="coerce"),
        "date_uploaded": pd.to_datetime(meta.get("date_uploaded"), errors="coerce", utc=True),
    }
    for key in ("date_taken", "date_uploaded"):
        common[key] = None if pd.isna(common[key]) else common[key].to_pydatetime()
    rows = []
    for res in resolutions:
        landmarks, boxes = arrays[res]
        path = root / "images" / str(res) / f"{idx}.png"
        if not path.is_file():
            raise FdfLayoutError(f"FDF folder {root} lacks images/{res}/{idx}.png")
        rows.append(
            {
                **common,
                "resolution": res,
                "image": {"bytes": path.read_bytes(), "path": f"{face_id}_{res}.png"},
                "bbox": boxes[idx].tolist(),
                "keypoints": _keypoints(landmarks[idx], res),
            }
        )
    return rows


def import_fdf(fdf_dir: str | Path, dataset_dir: str | Path, shard_faces: int = 1024) -> dict:
    """Read an FDF folder (layout or train/ + val/) into face shards under ``dataset_dir``.

    Image bytes are copied unchanged (FDF crops are already PNG). Returns dataset counts.
    ``fdf_metainfo.json`` is parsed as a stream: only the records of the shard being written
    (and any that came early, in a file not in idx order) are held.
    """
    dataset_dir = Path(dataset_dir)
    for root, folder_split in fdf_split_roots(fdf_dir):
        resolutions = fdf_resolutions(root)
        if not resolutions:
            raise FdfLayoutError(f"{root}/images holds no resolution folders")
        arrays = {res: load_fdf_arrays(root, res) for res in resolutions}
        meta_path = root / "fdf_metainfo.json"
        records = _MetainfoByIndex(iter_metainfo(meta_path) if meta_path.is_file() else iter(()))
        count = len(arrays[resolutions[0]][0])
        name = folder_split or "all"
        face_ids: dict[str, int] = {}
        for start in tqdm(range(0, count, shard_faces), desc=f"import {root.name}", unit="shard"):
            shard = f"part-fdf-{name}-{start // shard_faces:05d}.parquet"
            rows = []
            for idx in range(start, min(count, start + shard_faces)):
                rows += _import_rows(root, idx, records.pop(idx), folder_split, arrays, resolutions, face_ids)
            write_face_files(face_table(rows), dataset_dir, shard, row_group_size=ROW_GROUP_SIZE)
            photos = Counter(r["photo_id"] for r in rows)
            write_status(
                [
                    {"photo_id": p, "status": "ok", "faces": n // len(resolutions), "shard": shard}
                    for p, n in sorted(photos.items())
                ],
                dataset_dir / "_status" / shard,
            )
    counts = dataset_counts(dataset_dir)
    write_dataset_json(dataset_dir, {"imported_from": str(fdf_dir)}, counts)
    return counts


class _MetainfoByIndex:
    """Metainfo records by FDF index, read from a stream of (key, record) only as far as needed."""

    def __init__(self, pairs):
        self.pairs = iter(pairs)
        self.waiting: dict[int, dict] = {}
        self.done = False

    def pop(self, idx: int) -> dict:
        """The record of face ``idx`` ({} if the file has none)."""
        while idx not in self.waiting and not self.done:
            try:
                key, record = next(self.pairs)
            except StopIteration:
                self.done = True
                break
            if isinstance(key, str) and key.isdigit() and key == str(int(key)) and isinstance(record, dict):
                self.waiting[int(key)] = record
        return self.waiting.pop(idx, {})
