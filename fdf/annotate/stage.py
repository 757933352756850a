"""The ``fdf annotate`` stage: download folder in, face shards out.

Photos are split into batches; each batch becomes one face shard plus a status table that
records every photo of the batch (ok, no_faces, error) and is written last. A rerun skips
photos that already have a status row, so a killed run resumes where it stopped. Batches
run in joblib (loky) workers; each worker builds one FaceAnalyzer per config and keeps it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from joblib import Parallel, delayed
from PIL import Image
from tqdm import tqdm

from ..atomic import remove_stale_temporaries
from ..audit.takedown import read_removal_log
from ..errors import FdfError
from ..memory import release_memory
from ..shards import (
    completed_photo_ids,
    dataset_counts,
    face_table,
    orphan_shards,
    split_for_photo,
    write_dataset_json,
    write_status,
)
from ..shards.reader import legacy_shards
from ..shards.rows import PHOTO_COLUMNS, face_rows
from ..shards.split import DEFAULT_VAL_FRACTION
from ..shards.writer import status_path, write_face_files
from .analyzer import AnalyzerConfig, FaceAnalyzer
from .crops import make_fdf_crop

log = logging.getLogger(__name__)

REQUIRED_DOWNLOAD_COLUMNS = ("photo_id", "status", "path")
# What a worker reads of a download row: the photo file, its checksum, given FDF faces and the
# photo-level columns copied onto face rows. Other download columns are never read.
USED_DOWNLOAD_COLUMNS = ("photo_id", "path", "sha256", "fdf_faces", *dict.fromkeys(PHOTO_COLUMNS.values()))


class AnnotateError(FdfError):
    """The download folder or the stage configuration is unusable."""


class PhotoError(Exception):
    """One photo cannot be used (missing, corrupt, wrong checksum); recorded, never fatal."""


@dataclass
class AnnotateConfig:
    """How to annotate: crop sizes, detector, split, batching and parallelism."""

    resolutions: tuple[int, ...] = (128, 256)
    detector: str = "centerface"
    val_fraction: float = DEFAULT_VAL_FRACTION
    photos_per_shard: int = 32
    jobs: int = 1
    verify_sha256: bool = True
    analyzer_options: dict = field(default_factory=dict)  # extra AnalyzerConfig fields

    def __post_init__(self) -> None:
        try:  # YAML gives a list; a tuple of ints either way
            object.__setattr__(self, "resolutions", tuple(int(r) for r in self.resolutions))
        except (TypeError, ValueError):
            raise AnnotateError(f"resolutions must be integers >= 8, got {self.resolutions!r}") from None
        if not self.resolutions or any(r < 8 for r in self.resolutions):
            raise AnnotateError(f"resolutions must be integers >= 8, got {self.resolutions}")
        if not 0.0 <= self.val_fraction <= 1.0:
            raise AnnotateError(f"val_fraction must be between 0 and 1, got {self.val_fraction}")
        if self.photos_per_shard < 1 or self.jobs < 1:
            raise AnnotateError("photos_per_shard and jobs must be at least 1")


@dataclass
class AnnotateSummary:
    """What one run did; ``counts`` is the whole dataset afterwards (as in _dataset.json)."""

    photos_total: int
    photos_skipped: int
    photos_processed: int
    faces_written: int
    photos_failed: int
    counts: dict


def read_download_table(download_dir: str | Path) -> pa.Table:
    """Downloaded photos (status 'ok') sorted by photo_id, only the columns this stage uses.

    Kept in Arrow (tens of bytes a photo); a batch becomes Python dicts only when it is sent
    to a worker, instead of one dict of every column per photo for the whole run.
    """
    root = Path(download_dir)
    if not root.is_dir():
        raise AnnotateError(f"download folder not found: {root}")
    try:
        ds = pads.dataset(str(root), format="parquet")
    except Exception as exc:  # pyarrow raises several types for unreadable folders
        raise AnnotateError(f"{root} is not a readable download folder: {exc}") from None
    missing = [c for c in REQUIRED_DOWNLOAD_COLUMNS if c not in ds.schema.names]
    if missing:
        raise AnnotateError(f"{root} lacks download columns: {', '.join(missing)}")
    schema = pa.schema([ds.schema.field(c) for c in USED_DOWNLOAD_COLUMNS if c in ds.schema.names])
    # One shard at a time, one thread, freed memory returned once the table is built: the dataset
    # scanner (read-ahead over every shard in several threads) left the build process holding
    # several times the table's size for the whole stage.
    parts = [_ok_rows(path, schema) for path in ds.files]
    # One chunk before sorting: take() over many chunks of strings cost ~5x the table in RSS.
    table = pa.concat_tables([p for p in parts if p is not None] or [schema.empty_table()]).combine_chunks()
    parts = None
    table = table.take(pc.sort_indices(pc.cast(table.column("photo_id"), pa.string())))
    release_memory("annotate: download table read")
    return table


def _ok_rows(path: str, schema: pa.Schema) -> pa.Table | None:
    """The rows of download shard ``path`` with status 'ok', as ``schema`` (columns a shard lacks
    are nulls, as the dataset scanner made them); None when it has no status column."""
    shard = pq.ParquetFile(path)
    names = set(shard.schema_arrow.names)
    if "status" not in names:
        return None
    table = shard.read(columns=[*(c for c in schema.names if c in names), "status"], use_threads=False)
    shard.close()
    table = table.filter(pc.equal(table.column("status"), "ok"))  # null statuses dropped, as before
    return pa.table(
        [
            _as_type(table.column(f.name), f.type) if f.name in names else pa.nulls(table.num_rows, f.type)
            for f in schema
        ],
        schema=schema,
    )


def _as_type(column: pa.ChunkedArray, type_: pa.DataType) -> pa.ChunkedArray:
    # Only when it differs: casting a list of structs with null-typed fields (FDF metainfo's
    # fdf_faces) to its own type makes an invalid array (pyarrow 26).
    return column if column.type == type_ else column.cast(type_)


def read_download_rows(download_dir: str | Path) -> list[dict]:
    """Rows of downloaded photos (status 'ok') from a download folder, sorted by photo_id."""
    return read_download_table(download_dir).to_pylist()


def _photo_ids(table: pa.Table) -> pa.ChunkedArray:
    return pc.cast(table.column("photo_id"), pa.string())


def _is_in(column: pa.ChunkedArray, values) -> np.ndarray:
    if not values:
        return np.zeros(len(column), dtype=bool)
    found = pc.is_in(column, value_set=pa.array(sorted(values), pa.string()))
    return found.fill_null(False).to_numpy(zero_copy_only=False)


def removed_mask(table: pa.Table, removal) -> np.ndarray:
    """True for photos the removal log blocks (the photo itself, or any photo of its owner)."""
    blocked = _is_in(_photo_ids(table), removal.photo_ids)
    if "owner_nsid" in table.column_names:
        blocked |= _is_in(pc.cast(table.column("owner_nsid"), pa.string()), removal.owners)
    return blocked


def shard_name(batch: list[dict]) -> str:
    """A deterministic shard file name from the photo ids in ``batch``."""
    digest = hashlib.sha1("\n".join(str(r["photo_id"]) for r in batch).encode()).hexdigest()
    return f"part-{digest[:16]}.parquet"


def plan_batches(todo: pa.Table, photos_per_shard: int) -> list[pa.Table]:
    """Split the photos to annotate into batches of ``photos_per_shard`` (zero-copy slices)."""
    return [todo.slice(i, photos_per_shard) for i in range(0, todo.num_rows, photos_per_shard)]


def load_photo(download_dir: Path, row: dict, verify_sha256: bool = True) -> np.ndarray:
    """Read and decode a downloaded photo to an RGB uint8 array; PhotoError says why not."""
    path = download_dir / str(row["path"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PhotoError(f"cannot read {row['path']}: {exc.strerror or exc}") from None
    expected = row.get("sha256")
    if verify_sha256 and expected and hashlib.sha256(data).hexdigest() != expected:
        raise PhotoError(f"sha256 mismatch for {row['path']}")
    try:
        with Image.open(io.BytesIO(data)) as img:
            # No EXIF rotation: boxes from FDF and from the downloader refer to stored pixels.
            return np.asarray(img.convert("RGB"))
    except Exception as exc:  # PIL raises many types for corrupt files
        raise PhotoError(f"cannot decode {row['path']}: {type(exc).__name__}: {exc}") from None


def known_faces_of(row: dict) -> list[dict] | None:
    """Given faces for an FDF rebuild (the ``fdf_faces`` column), as FaceAnalyzer expects."""
    faces = row.get("fdf_faces")
    if not faces:
        return None
    known = []
    for f in faces:
        bbox = f.get("original_bounding_box") or f.get("bounding_box")
        landmarks = f.get("original_landmark") or f.get("landmark")
        known.append({**f, "bbox": bbox, "landmarks": landmarks})
    return known


def _config_key(config: AnnotateConfig) -> str:
    return json.dumps({"detector": config.detector, **config.analyzer_options}, sort_keys=True)


@functools.lru_cache(maxsize=4)
def _analyzer_for(key: str):
    # Cached per worker process: loky workers live across batches, so models load once each.
    return FaceAnalyzer(AnalyzerConfig(**json.loads(key)))


def _position(face) -> tuple[float, float]:
    bbox = face["bbox"] if isinstance(face, dict) else face.bbox
    return float(bbox[0]), float(bbox[1])


def photo_face_rows(image: np.ndarray, row: dict, analyzer, config: AnnotateConfig) -> list[dict]:
    """Analyse one photo and return its face rows (one per face per resolution)."""
    known = known_faces_of(row)
    faces = analyzer.analyze(image, known_faces=known)
    if known is None:  # stable ids: detection order varies, position does not
        faces = sorted(faces, key=_position)
    split = split_for_photo(str(row["photo_id"]), config.val_fraction)
    rows = []
    for index, face in enumerate(faces):
        bbox = face["bbox"] if isinstance(face, dict) else face.bbox
        crops = {int(res): make_fdf_crop(image, bbox, resolution=int(res)) for res in config.resolutions}
        rows += face_rows(row, index, face, crops, split)
    return rows


def annotate_batch(
    download_dir: str | Path, dataset_dir: str | Path, batch: list[dict], config: AnnotateConfig
) -> dict:
    """Annotate one batch: write its face shard, then its status table (the marker)."""
    download_dir, dataset_dir = Path(download_dir), Path(dataset_dir)
    name = shard_name(batch)
    analyzer = None  # loaded on the first decodable photo: a batch of broken files needs no models
    rows, status, photo_rows, image = [], [], None, None
    for photo in batch:
        entry = {"photo_id": str(photo["photo_id"]), "status": "ok", "error": None, "faces": 0, "shard": name}
        try:
            image = load_photo(download_dir, photo, config.verify_sha256)
            analyzer = analyzer or _analyzer_for(_config_key(config))
            photo_rows = photo_face_rows(image, photo, analyzer, config)
        except PhotoError as exc:
            entry.update(status="error", error=str(exc))
        except Exception as exc:  # a model failing on one photo must not stop the batch
            log.exception("analysis failed for photo %s", photo["photo_id"])
            entry.update(status="error", error=f"analysis failed: {type(exc).__name__}: {exc}")
        else:
            rows += photo_rows
            entry["faces"] = len(photo_rows) // len(config.resolutions)
            entry["status"] = "ok" if photo_rows else "no_faces"
        status.append(entry)
    if rows:
        write_face_files(face_table(rows), dataset_dir, name)
    write_status(status, status_path(dataset_dir, name))
    rows = photo_rows = image = None  # freed before the heap is trimmed below
    # A worker lives for the whole stage. What this batch freed (decoded photos, crops, PNG
    # bytes, the shard's Arrow table) stays resident in glibc's heap and Arrow's pool unless
    # handed back, and the worker's resident high-water crept up with every photo.
    release_memory("annotate: worker batch done")
    return {
        "shard": name,
        "faces": sum(s["faces"] for s in status),
        "failed": sum(s["status"] == "error" for s in status),
    }


def annotate(
    download_dir: str | Path, dataset_dir: str | Path, config: AnnotateConfig | None = None
) -> AnnotateSummary:
    """Run the annotate stage over a download folder; resumable; returns a summary."""
    config = config or AnnotateConfig()
    dataset_dir = Path(dataset_dir)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dataset_dir)
    for orphan in orphan_shards(dataset_dir):
        log.warning(
            "removing %s: its run was killed before the shard was marked complete", orphan.relative_to(dataset_dir)
        )
        orphan.unlink()
    if legacy_shards(dataset_dir):
        log.warning(
            "%s holds shards of the layout before data/: new shards go under data/; run "
            "fdf migrate %s to move the old ones there too",
            dataset_dir,
            dataset_dir,
        )
    table = read_download_table(download_dir)
    # Takedowns hold across rebuilds: skip photos (and every photo of owners) in the removal log.
    blocked = removed_mask(table, read_removal_log(dataset_dir))
    if blocked.any():
        log.info("skipping %d photos removed from this dataset (_removals.jsonl)", int(blocked.sum()))
        table = table.filter(pa.array(~blocked))
    total = table.num_rows
    done = _is_in(_photo_ids(table), completed_photo_ids(dataset_dir))
    skipped = int(done.sum())
    batches = plan_batches(table.filter(pa.array(~done)), config.photos_per_shard)
    log.info("%d photos: %d done before, %d to annotate in %d shards", total, skipped, total - skipped, len(batches))
    faces = failed = 0
    # No backend= here: loky by default, or whatever joblib.parallel_config selects (e.g. dask).
    # The generator turns a batch into dicts only as joblib dispatches it (a few ahead).
    results = Parallel(n_jobs=config.jobs, return_as="generator")(
        delayed(annotate_batch)(download_dir, dataset_dir, batch.to_pylist(), config) for batch in batches
    )
    with tqdm(total=total - skipped, desc="annotate", unit="photo") as bar:
        for batch, result in zip(batches, results):
            faces += result["faces"]
            failed += result["failed"]
            bar.update(batch.num_rows)
            # joblib's and loky's threads here (pickling batches, reading results) free what they
            # allocate, but glibc keeps the freed pages of their malloc arenas resident, a little
            # more every second of the stage.
            release_memory("annotate: batch result read")
    counts = dataset_counts(dataset_dir)
    write_dataset_json(
        dataset_dir, {"stage": "annotate", "download_dir": str(download_dir), **dataclasses.asdict(config)}, counts
    )
    return AnnotateSummary(total, skipped, total - skipped, faces, failed, counts)
