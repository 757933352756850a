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
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import torch
from tqdm import tqdm

from .atomic import atomic_path, atomic_write_bytes, atomic_write_text
from .errors import FdfError
from .shards import list_shards, read_faces, split_for_photo, write_dataset_json, write_face_shard, write_status
from .shards.reader import dataset_counts
from .shards.writer import ROW_GROUP_SIZE

log = logging.getLogger(__name__)

FDF_SPLIT_DIRS = {"train": "train", "validation": "val"}
FDF_CATEGORY = {"train": "training", "validation": "validation"}
_META_COLUMNS = [
    "face_id", "photo_id", "split", "resolution", "bbox", "keypoints", "bbox_photo", "crop_photo",
    "owner_name", "owner_nsid", "title", "photo_url", "license_id", "license_name", "license_url",
    "source", "date_taken", "date_uploaded",
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
    """
    meta = read_faces(dataset_dir, columns=_META_COLUMNS).to_pylist()
    present = sorted({r["resolution"] for r in meta})
    resolutions = sorted(resolutions or present)
    missing = [r for r in resolutions if r not in present]
    if missing:
        raise FdfLayoutError(f"{dataset_dir} has no crops at resolution {missing}; present: {present}")
    by_face: dict[str, dict[int, dict]] = {}
    for row in meta:
        by_face.setdefault(row["face_id"], {})[row["resolution"]] = row
    complete = {f: rows for f, rows in by_face.items() if all(r in rows for r in resolutions)}
    summary = ExportSummary(faces={}, resolutions=resolutions, dropped=len(by_face) - len(complete))
    for split, folder in FDF_SPLIT_DIRS.items():
        faces = sorted(f for f, rows in complete.items() if rows[resolutions[0]]["split"] == split)
        if faces:
            _export_split(dataset_dir, Path(out_dir) / folder, faces, complete, resolutions)
        summary.faces[folder] = len(faces)
    if summary.dropped:
        log.warning("dropped %d faces without crops at every resolution %s", summary.dropped, resolutions)
    return summary


def _export_split(dataset_dir, root: Path, faces: list[str], rows: dict, resolutions: list[int]) -> None:
    index = {face_id: idx for idx, face_id in enumerate(faces)}
    top = resolutions[-1]
    landmarks = np.array(
        [np.asarray(rows[f][top]["keypoints"], dtype=np.float32)[:, :2] / top for f in faces], dtype=np.float32
    )
    with atomic_path(root / "landmarks.npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, landmarks)
    for res in resolutions:
        boxes = torch.tensor([[round(v) for v in rows[f][res]["bbox"]] for f in faces], dtype=torch.int64)
        with atomic_path(root / "bounding_box" / f"{res}.torch") as tmp:
            torch.save(boxes, tmp)
        (root / "images" / str(res)).mkdir(parents=True, exist_ok=True)
    wanted = pads.field("face_id").isin(faces) & pads.field("resolution").isin(resolutions)
    ds = pads.dataset([str(p) for p in list_shards(dataset_dir)], format="parquet")
    with tqdm(total=len(faces) * len(resolutions), desc=f"export {root.name}", unit="img") as bar:
        for batch in ds.to_batches(columns=["face_id", "resolution", "image"], filter=wanted, batch_size=64):
            for face_id, res, image in zip(*(batch.column(i).to_pylist() for i in range(3))):
                atomic_write_bytes(root / "images" / str(res) / f"{index[face_id]}.png", image["bytes"])
                bar.update()
    info = {str(index[f]): _metainfo(rows[f][top], top) for f in faces}
    atomic_write_text(root / "fdf_metainfo.json", json.dumps(info, indent=1))
    log.info("exported %d faces to %s", len(faces), root)


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
    """
    from .shards import face_table

    dataset_dir = Path(dataset_dir)
    for root, folder_split in fdf_split_roots(fdf_dir):
        resolutions = fdf_resolutions(root)
        if not resolutions:
            raise FdfLayoutError(f"{root}/images holds no resolution folders")
        arrays = {res: load_fdf_arrays(root, res) for res in resolutions}
        meta_path = root / "fdf_metainfo.json"
        metainfo = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
        count = len(arrays[resolutions[0]][0])
        name = folder_split or "all"
        face_ids: dict[str, int] = {}
        for start in tqdm(range(0, count, shard_faces), desc=f"import {root.name}", unit="shard"):
            shard = f"part-fdf-{name}-{start // shard_faces:05d}.parquet"
            rows = []
            for idx in range(start, min(count, start + shard_faces)):
                rows += _import_rows(root, idx, metainfo.get(str(idx), {}), folder_split, arrays, resolutions, face_ids)
            write_face_shard(face_table(rows), dataset_dir / shard, row_group_size=ROW_GROUP_SIZE)
            photos = sorted({r["photo_id"] for r in rows})
            write_status(
                [{"photo_id": p, "status": "ok", "faces": sum(r["photo_id"] == p for r in rows) // len(resolutions),
                  "shard": shard} for p in photos],
                dataset_dir / "_status" / shard,
            )
    counts = dataset_counts(dataset_dir)
    write_dataset_json(dataset_dir, {"imported_from": str(fdf_dir)}, counts)
    return counts
