"""What a report shows, loaded from a build folder (``fdf build --out``) or a face dataset."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.compute as pc

from ..errors import FdfError
from ..shards import list_shards
from ..shards.reader import check_shards, read_lowest_resolution, read_shard

FACE_COLUMNS = [
    "face_id",
    "photo_id",
    "resolution",
    "license_name",
    "license_id",
    "yaw",
    "pitch",
    "roll",
    "mouth_open",
    "eye_open",
    "smile",
    "face_size",
    "owner_nsid",
]


class ReportError(FdfError):
    """Nothing to report on at the given path."""


@dataclass
class ReportInputs:
    """Face metadata (one row per face), the selection's record, and the build summary if any."""

    title: str
    faces: pd.DataFrame  # the dataset reported on (selected faces for a build)
    faces_dir: Path
    all_faces: pd.DataFrame | None = None  # every detected face, before selection
    decisions: pd.DataFrame | None = None
    select_info: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)
    download_counts: dict = field(default_factory=dict)


def _face_meta(dataset_dir: Path, columns: list[str] = FACE_COLUMNS) -> pd.DataFrame:
    """``columns`` of every face (one row each), sorted by face id; only the columns a figure needs."""
    if not list_shards(dataset_dir):
        return pd.DataFrame(columns=columns)
    table = read_lowest_resolution(dataset_dir, list(dict.fromkeys(["face_id", *columns])))
    return table.sort_by("face_id").select(columns).to_pandas()


def _download_status_counts(download: Path) -> dict:
    counts: Counter = Counter()
    for shard in check_shards(sorted(download.glob("part-*.parquet"))):
        for item in pc.value_counts(read_shard(shard, ["status"]).column("status")).to_pylist():
            counts[item["values"]] += item["counts"]
    return dict(counts.most_common())


def _json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def load_inputs(path: str | Path, build_summary: dict | None = None) -> ReportInputs:
    """Load a build folder (with ``_build/``) or a face-shard dataset folder."""
    root = Path(path)
    if not root.is_dir():
        raise ReportError(f"not a folder: {root}")
    if (root / "_build").is_dir() or (root / "selected").is_dir():
        selected, faces = root / "selected", root / "faces"
        if not selected.is_dir():
            raise ReportError(f"{root} has no selected/ folder yet; finish the build first")
        # Every detected face, only for the face-size figure.
        all_faces = _face_meta(faces, ["face_size"]) if faces.is_dir() else None
        inputs = ReportInputs(f"fdf build {root.name}", _face_meta(selected), selected, all_faces=all_faces)
        inputs.build = build_summary or _json(root / "_build" / "summary.json")
        download = root / "download"
        if download.is_dir() and list(download.glob("*.parquet")):
            inputs.download_counts = _download_status_counts(download)
    elif list_shards(root):
        inputs = ReportInputs(f"face dataset {root.name}", _face_meta(root), root)
    else:
        raise ReportError(f"{root} is neither a build folder nor a face-shard dataset (no data/*/*/part-*.parquet)")
    decisions = inputs.faces_dir / "_decisions.parquet"
    if decisions.exists():  # only why faces were dropped is shown
        inputs.decisions = read_shard(decisions, ["reason"]).to_pandas()
    inputs.select_info = _json(inputs.faces_dir / "_select.json")
    return inputs
