"""Image files in a folder tree, with licence sidecars -> manifest (source 'folder').

Images are found recursively by extension (jpg, jpeg, png, webp, bmp, tif, tiff; any case).
Hidden files and folders (names starting with '.') are skipped.

Licence sidecars
----------------
``LICENSE.json`` — folder-wide defaults for every image in its folder and the folders below
(the nearest one wins)::

    {"license_id": 4, "owner_name": "Jane Doe", "title": "...", "source_url": "https://...",
     "owner_nsid": "12345678@N00"}

``license_url`` or ``license_name`` may replace ``license_id``. Unknown keys are an error.

``licenses.csv`` — per-file entries, with a header, ``file`` relative to the CSV's folder::

    file,license_id,license_url,owner_name,title,source_url
    beach/img_001.jpg,4,,Jane Doe,Beach,https://www.flickr.com/photos/jane/123/

Only ``file`` is required; ``license_id``, ``license_url`` or ``license_name`` gives the licence.
A per-file entry overrides the folder-wide defaults field by field; of several ``licenses.csv``
naming the same file, the nearest one wins. ``source_url`` becomes ``page_url``.

An image with no licence information gets ``license_id`` null and a warning: it is never assumed
free. Rows carry ``local_path`` (absolute), ``local_root`` (the scanned folder: the download
stage reads a row's file only if it is a regular file inside that folder) and ``photo_id`` =
first 16 hex digits of the SHA-256 of the file's bytes, so the same photo in two folders is one
row; ``download_url`` is empty.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..errors import SourceError
from ..licenses import get_license, license_id_from_url
from .url_list import _license_names

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
FOLDER_SIDECAR = "LICENSE.json"
FILE_SIDECAR = "licenses.csv"
SIDECAR_FIELDS = ("license_id", "license_url", "license_name", "owner_name", "owner_nsid", "title", "source_url")


@dataclass
class FolderStats:
    """Counts from one folder scan."""

    images: int = 0
    photos: int = 0
    duplicates: int = 0
    unlicensed: int = 0
    unreadable: int = 0
    sidecar_entries_unused: int = 0
    sidecars: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def file_digest(path: Path) -> str:
    """First 16 hex digits of the SHA-256 of the file's bytes (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def find_images(root: Path) -> list[Path]:
    """Image files under ``root`` in sorted order, skipping hidden names."""
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(path)
    return found


def _license_id(entry: dict, where: str) -> int | None:
    """Licence id from an entry's id, URL or name; SourceError (naming ``where``) if unknown."""
    value = entry.get("license_id")
    if value not in (None, ""):
        try:
            return get_license(int(value)).id
        except (KeyError, ValueError, TypeError):
            raise SourceError(f"{where}: unknown licence id {value!r} (Flickr ids are 0-16)") from None
    url = entry.get("license_url")
    if url:
        lid = license_id_from_url(url)
        if lid is None:
            raise SourceError(f"{where}: licence URL {url!r} is not one of Flickr's licences")
        return lid
    name = entry.get("license_name")
    if name:
        lid = _license_names().get(str(name).strip().lower())
        if lid is None:
            raise SourceError(f"{where}: unknown licence name {name!r}")
        return lid
    return None


def read_folder_sidecar(path: Path) -> dict:
    """Read a ``LICENSE.json``; return its fields with ``license_id`` resolved."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise SourceError(f'{path}: expected a JSON object like {{"license_id": 4, "owner_name": ...}}')
    unknown = sorted(set(data) - set(SIDECAR_FIELDS))
    if unknown:
        raise SourceError(f"{path}: unknown keys {', '.join(unknown)}; allowed: {', '.join(SIDECAR_FIELDS)}")
    entry = {k: v for k, v in data.items() if v not in (None, "")}
    lid = _license_id(entry, str(path))
    if lid is not None:
        entry["license_id"] = lid
    return entry


def read_file_sidecar(path: Path) -> dict[Path, dict]:
    """Read a ``licenses.csv``; return entries keyed by the absolute image path."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if "file" not in header:
            raise SourceError(f"{path}: line 1: needs a 'file' column; header is {', '.join(header) or 'empty'}")
        unknown = sorted(set(header) - set(SIDECAR_FIELDS) - {"file"})
        if unknown:
            raise SourceError(f"{path}: line 1: unknown columns {', '.join(unknown)}")
        entries = {}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            if not row.get("file"):
                raise SourceError(f"{path}: line {line}: empty 'file'")
            entry = {k: v for k, v in row.items() if k != "file" and v}
            lid = _license_id(entry, f"{path}: line {line}")
            if lid is not None:
                entry["license_id"] = lid
            entries[(path.parent / row["file"]).resolve()] = entry
    return entries


@dataclass
class Sidecars:
    """All sidecars under a root: folder defaults by folder, per-file entries by image path."""

    folder_defaults: dict[Path, dict]
    file_entries: dict[Path, dict]

    def entry_for(self, image: Path, root: Path) -> dict:
        """Merged licence fields for one image: nearest folder default, then its per-file entry."""
        merged: dict = {}
        folder = image.parent
        while True:
            if folder in self.folder_defaults:
                merged = dict(self.folder_defaults[folder])
                break
            if folder == root or folder.parent == folder:
                break
            folder = folder.parent
        merged.update(self.file_entries.get(image, {}))
        return merged


def load_sidecars(root: Path, stats: FolderStats) -> Sidecars:
    """Read every ``LICENSE.json`` and ``licenses.csv`` under ``root``."""
    defaults, entries = {}, {}
    # Deepest first, so a nearer licenses.csv overrides an entry from a folder above it.
    for path in sorted(root.rglob(FILE_SIDECAR), key=lambda p: -len(p.parts)):
        for image, entry in read_file_sidecar(path).items():
            entries.setdefault(image, entry)
        stats.sidecars.append(str(path))
    for path in root.rglob(FOLDER_SIDECAR):
        defaults[path.parent.resolve()] = read_folder_sidecar(path)
        stats.sidecars.append(str(path))
    return Sidecars(defaults, entries)


def _image_size(path: Path, stats: FolderStats) -> tuple[int | None, int | None]:
    try:
        with Image.open(path) as im:  # reads the header only
            return im.size
    except (UnidentifiedImageError, OSError) as exc:
        stats.unreadable += 1
        log.warning("%s: not a readable image (%s); listed without size", path, exc)
        return None, None


def folder_to_manifest(root: str | Path, progress: bool = True) -> tuple[pd.DataFrame, FolderStats]:
    """Scan ``root`` for images and their licence sidecars; return a manifest frame and counts."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"not a folder: {root}")
    root = root.resolve()
    stats = FolderStats()
    sidecars = load_sidecars(root, stats)
    images = find_images(root)
    stats.images = len(images)
    rows: dict[str, dict] = {}
    for image in tqdm(
        images, desc=f"hashing {root.name}", unit=" files", disable=None if progress and len(images) >= 50 else True
    ):
        photo_id = file_digest(image)
        entry = sidecars.entry_for(image, root)
        kept = rows.get(photo_id)
        if kept is not None:
            stats.duplicates += 1
            log.info("%s is the same photo as %s; kept once", image, kept["local_path"])
            # A copy whose licence is known beats one whose licence is not.
            if kept["license_id"] is not None or entry.get("license_id") is None:
                continue
        rows[photo_id] = _folder_row(image, photo_id, entry, stats)
    rows = list(rows.values())
    unused = set(sidecars.file_entries) - set(images)
    stats.sidecar_entries_unused = len(unused)
    for path in sorted(unused)[:10]:
        log.warning("licenses.csv names %s, which is not an image found under %s", path, root)
    stats.photos = len(rows)
    stats.unlicensed = sum(r["license_id"] is None for r in rows)
    if stats.unlicensed:
        log.warning(
            "%s: %d images have no licence information; license_id left empty (not assumed free)",
            root,
            stats.unlicensed,
        )
    columns = [
        "photo_id",
        "source",
        "download_url",
        "page_url",
        "owner_nsid",
        "owner_name",
        "title",
        "license_id",
        "width",
        "height",
        "local_path",
    ]
    df = pd.DataFrame(rows, columns=columns)
    df["local_root"] = str(root)
    df["license_id"] = df["license_id"].astype("Int16")
    return df, stats


def _folder_row(image: Path, photo_id: str, entry: dict, stats: FolderStats) -> dict:
    width, height = _image_size(image, stats)
    return {
        "photo_id": photo_id,
        "source": "folder",
        "download_url": None,
        "page_url": entry.get("source_url"),
        "owner_nsid": entry.get("owner_nsid"),
        "owner_name": entry.get("owner_name"),
        "title": entry.get("title"),
        "license_id": entry.get("license_id"),
        "width": width,
        "height": height,
        "local_path": str(image),
    }
