"""Load the photos to audit, one row each, from a face-shard dataset, a download folder or a manifest.

Every kind yields the same columns (:data:`PHOTO_COLUMNS`), so the checks, credits and the
revalidation do not care where the rows came from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..errors import FdfError
from ..manifest import read_manifest
from ..shards.reader import list_shards, read_dataset_info, read_faces
from ..shards.writer import DATASET_JSON

log = logging.getLogger(__name__)

PHOTO_COLUMNS = ("photo_id", "owner_nsid", "owner_name", "title", "photo_url", "license_id", "license_name",
                 "license_url", "source")
KINDS = ("dataset", "download", "manifest")


class AuditInputError(FdfError):
    """The path to audit is not a face-shard dataset, a download folder or a manifest."""


@dataclass
class PhotoSet:
    """The photos of one dataset, download folder or manifest.

    ``photos`` has :data:`PHOTO_COLUMNS` plus ``faces`` (faces per photo; None outside a
    dataset) and ``tags`` (a list, or None when the input does not record tags).
    """

    kind: str
    path: Path
    photos: pd.DataFrame

    @property
    def tags_known(self) -> bool:
        return bool(len(self.photos)) and bool(self.photos["tags"].map(lambda t: t is not None).all())

    @property
    def faces(self) -> int | None:
        return None if self.kind != "dataset" else int(self.photos["faces"].sum())


def detect_kind(path: str | Path) -> str:
    """'dataset' (face shards), 'download' (downloader output) or 'manifest' (one Parquet file)."""
    path = Path(path)
    if not path.exists():
        raise AuditInputError(f"not found: {path}")
    if path.is_file():
        if path.suffix != ".parquet":
            raise AuditInputError(f"{path} is not a Parquet manifest (expected a .parquet file)")
        return "manifest"
    if (path / DATASET_JSON).exists():
        return "dataset"
    parts = sorted(path.glob("part-*.parquet"))
    if parts:
        names = pq.read_schema(parts[0]).names
        if "face_id" in names:
            return "dataset"
        if "status" in names:
            return "download"
    inner = sorted(p.name for p in path.iterdir() if (p / DATASET_JSON).exists())
    hint = f"; it holds the datasets {', '.join(inner)}: audit one of them" if inner else ""
    raise AuditInputError(f"{path} is neither a face-shard dataset (_dataset.json, part-*.parquet) "
                          f"nor a download folder (part-*.parquet with a status column){hint}")


def _with_photo_columns(df: pd.DataFrame) -> pd.DataFrame:
    if "photo_url" not in df and "page_url" in df:
        df = df.rename(columns={"page_url": "photo_url"})
    for col in PHOTO_COLUMNS:
        if col not in df:
            df[col] = None
    df["photo_id"] = df["photo_id"].astype(str)
    df["license_id"] = pd.to_numeric(df["license_id"], errors="coerce").astype("Int16")
    return df


def _tags_from_download(dataset_dir: Path) -> dict[str, list[str]] | None:
    """Tags by photo id from the download folder the dataset was annotated from, if still there.

    Face rows do not carry tags; the download table does, and ``_dataset.json`` names it.
    """
    try:
        folder = read_dataset_info(dataset_dir).get("config", {}).get("download_dir")
    except FdfError:
        return None
    if not folder or not Path(folder).is_dir():
        return None
    try:
        ds = pads.dataset(str(folder), format="parquet")
        if "tags" not in ds.schema.names:
            return None
        table = ds.to_table(columns=["photo_id", "tags"])
    except Exception as exc:  # pyarrow raises several types; the audit goes on without tags
        log.warning("cannot read tags from %s: %s", folder, exc)
        return None
    return {str(p): list(t or []) for p, t in zip(table["photo_id"].to_pylist(), table["tags"].to_pylist())}


def _dataset_photos(path: Path) -> pd.DataFrame:
    if not list_shards(path):
        return pd.DataFrame(columns=[*PHOTO_COLUMNS, "faces", "tags"])
    faces = read_faces(path, columns=["face_id", *PHOTO_COLUMNS]).to_pandas()
    counts = faces.groupby("photo_id")["face_id"].nunique().rename("faces")
    photos = faces.drop(columns=["face_id"]).drop_duplicates("photo_id").set_index("photo_id")
    photos = photos.join(counts).reset_index()
    tags = _tags_from_download(path)
    photos["tags"] = photos["photo_id"].map(lambda p: tags.get(p) if tags is not None else None)
    return photos


def _download_photos(path: Path) -> pd.DataFrame:
    ds = pads.dataset(str(path), format="parquet")
    df = ds.to_table(filter=pads.field("status") == "ok").to_pandas()
    df = df.drop_duplicates("photo_id", keep="last")  # a retried photo may have several rows
    df["faces"] = None
    return df


def _manifest_photos(path: Path) -> pd.DataFrame:
    df = read_manifest(path)
    df["faces"] = None
    return df


def load_photos(path: str | Path) -> PhotoSet:
    """Read the photos of ``path`` (a face-shard dataset, download folder or manifest)."""
    path = Path(path)
    kind = detect_kind(path)
    df = {"dataset": _dataset_photos, "download": _download_photos, "manifest": _manifest_photos}[kind](path)
    df = _with_photo_columns(df)
    if "tags" not in df:
        df["tags"] = None
    else:
        df["tags"] = df["tags"].map(lambda t: None if t is None or (isinstance(t, float) and pd.isna(t)) else list(t))
    df = df[[*PHOTO_COLUMNS, "faces", "tags"]].sort_values("photo_id").reset_index(drop=True)
    log.info("%s %s: %d photos", kind, path, len(df))
    return PhotoSet(kind, path, df)
