"""`fdf audit --commercial-safe --out SUBSET`: the photos whose licences allow commercial use and adaptation."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import FdfError
from ..licenses import license_table
from ..manifest import read_manifest, write_manifest
from ..shards.reader import (
    check_shards,
    dataset_counts,
    list_shards,
    list_status_files,
    read_dataset_info,
    read_shard,
    shards_by_name,
)
from ..shards.writer import status_path, write_dataset_json, write_face_files, write_status
from .checks import is_commercial_safe
from .photos import detect_kind
from .takedown import REMOVALS_FILE

log = logging.getLogger(__name__)


def commercial_safe_license_ids() -> list[int]:
    """Licence ids that allow both commercial use and adaptations."""
    return sorted(lic.id for lic in license_table().values() if lic.commercial and lic.derivatives)


def _safe_mask(table: pa.Table) -> pa.Array:
    rows = table.select(["license_id", "license_url"]).to_pylist()
    return pa.array([is_commercial_safe(r) for r in rows], pa.bool_())


def write_commercial_subset(path: str | Path, out: str | Path) -> dict:
    """Write the commercial-safe part of a dataset (as a new dataset) or a manifest (as a manifest).

    Rows whose licence id disagrees with their licence URL are left out: which licence holds
    is unclear. Returns counts of what was kept.
    """
    path, out = Path(path), Path(out)
    if out.resolve() == path.resolve():
        raise FdfError("--out must differ from the audited path: the subset is written beside it")
    kind = detect_kind(path)
    if kind == "manifest":
        df = read_manifest(path)
        keep = df[[is_commercial_safe(r) for r in df.to_dict("records")]]
        write_manifest(keep, out)
        return {"kind": kind, "out": str(out), "photos": len(keep), "photos_dropped": len(df) - len(keep)}
    if kind != "dataset":
        raise FdfError(f"--commercial-safe needs a face-shard dataset or a manifest, not a {kind} folder")
    if out.exists() and any(out.iterdir()):
        raise FdfError(f"{out} exists and is not empty; choose a new folder for the subset")
    check_shards([*list_shards(path), *list_status_files(path)])  # a truncated shard: named, nothing written
    out.mkdir(parents=True, exist_ok=True)
    kept_photos: set[str] = set()
    rows_dropped = 0
    written: set[str] = set()
    for name, files in shards_by_name(list_shards(path)).items():
        table = pa.concat_tables(read_shard(f) for f in files)
        mask = _safe_mask(table)
        kept = table.filter(mask)
        rows_dropped += table.num_rows - kept.num_rows
        if kept.num_rows:
            write_face_files(kept, out, name)
            written.add(name)
            kept_photos.update(kept["photo_id"].to_pylist())
    for status in list_status_files(path):
        if status.name in written:  # each written shard needs its status table (completion marker)
            rows = read_shard(status)
            keep = pc.is_in(rows["photo_id"], value_set=pa.array(sorted(kept_photos), pa.string()))
            write_status(rows.filter(keep).to_pylist(), status_path(out, status.name))
    if (path / REMOVALS_FILE).exists():  # takedowns carry over to every copy
        shutil.copyfile(path / REMOVALS_FILE, out / REMOVALS_FILE)
    config = {
        "stage": "audit --commercial-safe",
        "parent": str(path),
        "license_ids": commercial_safe_license_ids(),
        "parent_config": read_dataset_info(path).get("config", {}),
    }
    write_dataset_json(out, config, dataset_counts(out))
    log.info("commercial-safe subset: %d photos -> %s (%d rows dropped)", len(kept_photos), out, rows_dropped)
    return {"kind": kind, "out": str(out), "photos": len(kept_photos), "rows_dropped": rows_dropped}
