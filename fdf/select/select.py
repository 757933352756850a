"""The ``fdf select`` stage: face shards in, the faces chosen for diversity out.

Steps, each applied to the faces the previous ones kept: quality gates, identical photos
(sha256), near-duplicate faces (dHash), identity cap, owner cap, pose/expression balance. Ties
are broken by a seeded hash of the face id, so the choice depends only on the config and the
seed, never on the order shards were written in (a resumed annotate run gives the same result).

Output: ``part-NNNNN.parquet`` face shards (all resolutions of each kept face, sorted by face
id), ``_status/`` markers, ``_decisions.parquet`` (one row per face: kept or the reason it was
dropped) and ``_select.json`` (counts, histograms before/after), written last.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
from tqdm import tqdm

from ..atomic import atomic_path, atomic_write_text, remove_stale_temporaries
from ..config_file import build_config
from ..errors import ConfigError, FdfError
from ..memory import release_memory
from ..shards import dataset_counts, list_shards, read_dataset_info, write_dataset_json, write_status
from ..shards.reader import open_shard, read_shard, shards_by_name
from ..shards.schema import FACE_SCHEMA, OPTIONAL_COLUMNS
from ..shards.writer import STATUS_DIR, status_path, write_face_files
from .balance import BalanceConfig, balance_drop, bin_labels, histogram
from .caps import cap_per_group, identity_clusters
from .dedupe import duplicate_photos, near_duplicates
from .gates import GATE_REASONS, GateConfig, gate_reasons
from .scan import scan_faces

log = logging.getLogger(__name__)

DECISIONS_FILE = "_decisions.parquet"
SPILL_DIR = "_spill"  # kept rows between the two passes of the writer; removed after
SPILL_BYTES = 128 * 2**20  # shard bytes sorted in memory at once by the writer
SELECT_JSON = "_select.json"
DECISIONS_SCHEMA = pa.schema(
    [
        ("face_id", pa.string()),
        ("photo_id", pa.string()),
        ("kept", pa.bool_()),
        ("reason", pa.string()),
        ("identity", pa.int64()),
        ("dhash", pa.string()),
        ("yaw_bin", pa.string()),
        ("pitch_bin", pa.string()),
        ("expression_bin", pa.string()),
        ("rank", pa.float64()),
    ]
)


class SelectError(FdfError):
    """The input dataset or the selection settings are unusable."""


@dataclass
class SelectConfig:
    """Selection settings; defaults follow FDF (see :mod:`.gates`). ``seed`` breaks ties."""

    gates: GateConfig = field(default_factory=GateConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    near_duplicate_bits: int = 4  # dHash distance at or below which two crops are the same picture
    identity_threshold: float = 0.6  # dlib descriptor distance for "same person"
    identity_cap: int = 20  # faces per identity cluster; 0 disables
    owner_cap: int = 200  # faces per Flickr owner; 0 disables
    seed: int = 0
    faces_per_shard: int = 1000
    download_dir: str | None = None  # for photo sha256; default: the one in the dataset's _dataset.json

    def __post_init__(self) -> None:
        if self.near_duplicate_bits < -1 or self.identity_cap < 0 or self.owner_cap < 0:
            raise ConfigError("near_duplicate_bits must be >= -1 (-1: off), identity_cap and owner_cap >= 0")
        if self.identity_threshold <= 0 or self.faces_per_shard < 1:
            raise ConfigError("identity_threshold must be > 0 and faces_per_shard >= 1")

    @classmethod
    def from_dict(cls, values: dict | None) -> SelectConfig:
        """Build from a plain dict (a config file section) with the project's one loader."""
        return build_config(cls, values, "select")


@dataclass
class SelectSummary:
    """Counts of the selection and the histograms before and after."""

    out_dir: str
    faces_in: int
    faces_kept: int
    dropped: dict
    identities: int
    histograms: dict
    shards: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def format_text(self) -> str:
        drops = ", ".join(f"{k}={v}" for k, v in self.dropped.items()) or "none"
        return (
            f"{self.faces_kept} of {self.faces_in} faces kept ({self.identities} identities) -> {self.out_dir}\n"
            f"dropped: {drops}"
        )


def seeded_rank(face_ids, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per face id, fixed for a seed: the tie-break order."""
    return np.array(
        [int.from_bytes(hashlib.sha256(f"{seed}:{f}".encode()).digest()[:8], "big") / 2**64 for f in face_ids],
        dtype=np.float64,
    )


def _photo_sha256(download_dir: str | None, photo_ids: pd.Series) -> list[str | None]:
    """The sha256 of each face's photo (None where unknown), looked up in Arrow: no dict per photo."""
    if not download_dir or not Path(download_dir).is_dir():
        log.warning("no download folder: identical photos are not checked by sha256")
        return [None] * len(photo_ids)
    ds = pads.dataset(str(download_dir), format="parquet")
    table = ds.to_table(columns=["photo_id", "sha256"], filter=pads.field("status") == "ok")
    # The last row of a photo wins, as a later download shard supersedes an earlier one.
    table = table.take(pa.array(np.arange(table.num_rows - 1, -1, -1)))
    where = pc.index_in(pa.array(photo_ids.to_numpy(dtype=object), pa.string()), value_set=table.column("photo_id"))
    return table.column("sha256").take(where).to_pylist()


def decide(
    faces: pd.DataFrame, hashes: np.ndarray, sha256: list[str | None], embeddings: np.ndarray, config: SelectConfig
) -> pd.DataFrame:
    """Run every selection step on face metadata; return the per-face decisions table.

    Row-aligned with ``faces``: ``hashes`` (uint64 crop dHash), ``sha256`` (of the photo, or
    None) and ``embeddings`` (N x 128 float32, NaN rows for faces without a descriptor).
    """
    rank = seeded_rank(faces["face_id"], config.seed)
    reason = gate_reasons(faces, config.gates).to_numpy(dtype=object).copy()

    def alive() -> np.ndarray:  # faces no step has dropped yet (re-read after each step)
        return pd.isna(reason)

    order = np.argsort(rank, kind="stable")
    photo_ids = faces["photo_id"].to_numpy(dtype=object)
    dup_photos = duplicate_photos(photo_ids[order].tolist(), [sha256[i] for i in order])
    reason[alive() & faces["photo_id"].isin(dup_photos).to_numpy()] = "duplicate_photo"

    dh = np.asarray(hashes, dtype=np.uint64)
    live = np.flatnonzero(alive())
    live_ordered = live[np.argsort(rank[live], kind="stable")]
    near = near_duplicates(dh[live_ordered], photo_ids[live_ordered], config.near_duplicate_bits)
    reason[live_ordered[near]] = "near_duplicate"

    live = alive()
    # Clusters over the faces still in the running only: rejected blurry crops give noisy descriptors.
    live_order = np.flatnonzero(live)[np.argsort(rank[live], kind="stable")]
    identity = identity_clusters(embeddings, live_order, config.identity_threshold)
    over = cap_per_group(pd.Series(np.where(identity >= 0, identity, None), dtype=object), rank, config.identity_cap)
    reason[live & over] = "identity_cap"
    live = alive()
    over = cap_per_group(faces["owner_nsid"].where(live, None), rank, config.owner_cap)
    reason[live & over] = "owner_cap"
    live = np.flatnonzero(alive())
    thin = balance_drop(faces.iloc[live].reset_index(drop=True), rank[live], config.balance)
    reason[live[thin]] = "pose_balance"

    b = config.balance
    return pd.DataFrame(
        {
            "face_id": faces["face_id"],
            "photo_id": faces["photo_id"],
            "kept": pd.isna(reason),
            "reason": reason,
            "identity": identity,
            "dhash": _hex16(dh),
            "yaw_bin": bin_labels(faces["yaw"].to_numpy(float), b.yaw_edges),
            "pitch_bin": bin_labels(faces["pitch"].to_numpy(float), b.pitch_edges),
            "expression_bin": bin_labels(faces[b.expression_column].to_numpy(float), b.expression_edges),
            "rank": rank,
        }
    )


def _hex16(values: np.ndarray) -> np.ndarray:
    """Each uint64 as 16 lowercase hex digits, as f"{value:016x}" writes it."""
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = (values[:, None] >> (np.arange(60, -4, -4, dtype=np.uint64))) & np.uint64(15)
    return digits[nibbles.astype(np.intp)].view("S16").ravel().astype(str).astype(object)


def histograms(decisions: pd.DataFrame, config: BalanceConfig) -> dict:
    """Yaw, pitch and expression histograms over all faces that passed the gates, and the kept ones."""
    passed = decisions[~decisions["reason"].isin(GATE_REASONS)]
    kept = decisions[decisions["kept"]]
    out = {}
    for name, col, edges in (
        ("yaw", "yaw_bin", config.yaw_edges),
        ("pitch", "pitch_bin", config.pitch_edges),
        ("expression", "expression_bin", config.expression_edges),
    ):
        out[name] = {"before": histogram(passed[col], edges), "after": histogram(kept[col], edges)}
    return out


def _write_selected(
    kept_ids: pa.Array, kept_src: np.ndarray, shards: list[Path], out: Path, per_shard: int, progress: bool
) -> list[str]:
    """Write the kept faces (``kept_ids`` sorted, ``kept_src`` indexing ``shards``), ``per_shard``
    faces a file, all resolutions of each, rows sorted by face id and resolution.

    Each source shard is read once, whatever the input's order. When every source's kept faces
    are one run of the sorted ids (annotate's output of a manifest in photo order), output shards
    are cut as the sources are read; otherwise (an FDF metainfo manifest is in face-index order)
    the kept rows go through spill files by range of output shards first. (Reading, for each
    output shard, every source shard it drew from read the input once per output shard.)
    """
    kept_src, shards = _by_shard(kept_src, shards)
    runs = int(np.count_nonzero(kept_src[1:] != kept_src[:-1])) + 1 if len(kept_src) else 0
    if runs == len(np.unique(kept_src)):
        return _write_streaming(kept_ids, kept_src, shards, out, per_shard, progress)
    return _write_spilled(kept_ids, kept_src, shards, out, per_shard, progress)


def _by_shard(kept_src: np.ndarray, files: list[Path]) -> tuple[np.ndarray, list[list[Path]]]:
    """Sources as shards (all their files), not files: a face's rows at other resolutions are in
    its shard's other files (``data/<res>/<split>/``), and a shard is read once."""
    by_name = shards_by_name(files)
    group = {name: k for k, name in enumerate(by_name)}
    return np.array([group[p.name] for p in files], dtype=np.int64)[kept_src], list(by_name.values())


def _kept_rows(files: list[Path], wanted: pa.Array, where: np.ndarray):
    """(rows, their faces' places in the sorted kept ids) of one shard's kept faces, from all its
    ``files`` (every resolution and split; one shard in memory at a time, as annotate wrote it)."""
    table = pa.concat_tables(_as_face_table(read_shard(f)) for f in files)
    at = pc.index_in(table.column("face_id"), value_set=wanted)
    hit = pc.is_valid(at)
    if pc.any(hit).as_py():
        yield _as_face_table(table.filter(hit)), where[at.filter(hit).to_numpy()]


def _write_streaming(kept_ids, kept_src, shards, out, per_shard, progress) -> list[str]:
    firsts = np.flatnonzero(np.r_[True, kept_src[1:] != kept_src[:-1]])  # each source's first kept place
    position = np.arange(len(kept_ids))
    names, pending, places, chunk = [], [], [], 0
    for n, first in enumerate(tqdm(firsts, desc="select: write", unit="shard", disable=not progress)):
        k = kept_src[first]
        mine = kept_src == k
        for rows, where in _kept_rows(shards[k], kept_ids.filter(pa.array(mine)), position[mine]):
            pending.append(rows)
            places.append(where)
        # Faces before the next source's first one are all read: their output shards are whole.
        boundary = firsts[n + 1] if n + 1 < len(firsts) else len(kept_ids)
        done = boundary // per_shard if n + 1 < len(firsts) else -(-len(kept_ids) // per_shard)
        if done > chunk and pending:
            table, where = pa.concat_tables(pending), np.concatenate(places)
            of = where // per_shard
            for c in range(chunk, done):
                part = table.filter(pa.array(of == c))
                names.append(
                    _write_output_shard(
                        part.sort_by([("face_id", "ascending"), ("resolution", "ascending")]).combine_chunks(), out, c
                    )
                )
            rest = of >= done
            pending, places, chunk = [table.filter(pa.array(rest))], [where[rest]], done
            del table
            release_memory("select: output chunk written")
    return names


def _write_spilled(kept_ids, kept_src, shards, out, per_shard, progress) -> list[str]:
    spill_dir = out / SPILL_DIR
    shutil.rmtree(spill_dir, ignore_errors=True)
    spill_dir.mkdir()
    files = sorted({p for group in shards for p in group})
    total_bytes = sum(p.stat().st_size for p in files)
    faces_in = max(1, sum(open_shard(p).metadata.num_rows for p in files))
    # Faces per spill group: a group's rows are sorted in memory (~SPILL_BYTES of shard bytes).
    per_group = per_shard * max(1, int(SPILL_BYTES / max(1.0, total_bytes / faces_in * 2) // per_shard))
    position = np.arange(len(kept_ids))
    writers: dict[int, pq.ParquetWriter] = {}
    try:
        for k in tqdm(np.unique(kept_src), desc="select: gather", unit="shard", disable=not progress):
            mine = kept_src == k
            for rows, where in _kept_rows(shards[k], kept_ids.filter(pa.array(mine)), position[mine]):
                group = where // per_group
                for g in np.unique(group).tolist():
                    if g not in writers:  # plain pages: these files live for one command
                        writers[g] = pq.ParquetWriter(
                            spill_dir / f"group-{g:05d}.parquet",
                            FACE_SCHEMA,
                            compression="none",
                            use_dictionary=False,
                            write_statistics=False,
                        )
                    writers[g].write_table(rows.filter(pa.array(group == g)))
            release_memory("select: shard spilled to groups")
    finally:
        for writer in writers.values():
            writer.close()
    names = []
    for g in tqdm(sorted(writers), desc="select: write", unit="group", disable=not progress):
        path = spill_dir / f"group-{g:05d}.parquet"
        table = read_shard(path).sort_by([("face_id", "ascending"), ("resolution", "ascending")])
        path.unlink()
        ids = kept_ids[g * per_group : (g + 1) * per_group]
        chunk = pc.index_in(table.column("face_id"), value_set=ids).to_numpy() // per_shard
        for c in np.unique(chunk):
            names.append(
                _write_output_shard(
                    table.filter(pa.array(chunk == c)).combine_chunks(), out, (g * per_group) // per_shard + int(c)
                )
            )
        del table
        release_memory("select: spill group written")
    shutil.rmtree(spill_dir, ignore_errors=True)
    return names


def _as_face_table(table: pa.Table) -> pa.Table:
    for name in OPTIONAL_COLUMNS:  # rows of shards older than a column
        if name not in table.column_names:
            table = table.append_column(FACE_SCHEMA.field(name), pa.nulls(table.num_rows, FACE_SCHEMA.field(name).type))
    return table.select(FACE_SCHEMA.names).cast(FACE_SCHEMA)


def _write_output_shard(table: pa.Table, out: Path, k: int) -> str:
    name = f"part-{k:05d}.parquet"
    write_face_files(table, out, name)
    one_res = table.filter(pc.equal(table.column("resolution"), pc.min(table.column("resolution"))))
    photos = Counter(one_res.column("photo_id").to_pylist())
    status = [
        {"photo_id": p, "status": "ok", "error": None, "faces": c, "shard": name} for p, c in sorted(photos.items())
    ]
    write_status(status, status_path(out, name))
    return name


def _remove_extra_shards(out: Path, keep: list[str]) -> None:
    # A previous run with more kept faces may have left higher-numbered shards.
    for path in list_shards(out) + list((out / STATUS_DIR).glob("part-*.parquet")):
        if path.name not in keep:
            path.unlink()


def select_faces(
    dataset_dir: str | Path, out_dir: str | Path, config: SelectConfig | None = None, progress: bool = True
) -> SelectSummary:
    """Choose faces of ``dataset_dir`` for diversity; write them and the decisions to ``out_dir``.

    Deterministic for a config and seed; rerunning (e.g. after a kill) rewrites the same bytes.
    """
    config = config or SelectConfig()
    dataset_dir, out = Path(dataset_dir), Path(out_dir)
    if out.resolve() == dataset_dir.resolve():
        raise SelectError("the selected dataset must go to a different folder than its input")
    if not list_shards(dataset_dir):
        raise SelectError(f"{dataset_dir} holds no face shards (data/*/*/part-*.parquet); run fdf annotate first")
    scanned = scan_faces(dataset_dir, progress)
    info = read_dataset_info(dataset_dir) if (dataset_dir / "_dataset.json").exists() else {}
    download_dir = config.download_dir or info.get("config", {}).get("download_dir")
    sha256 = _photo_sha256(download_dir, scanned.faces["photo_id"])
    decisions = decide(scanned.faces, scanned.hashes, sha256, scanned.embeddings, config)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    marker = out / SELECT_JSON
    if marker.exists():
        marker.unlink()  # the marker must never describe shards being rewritten
    is_kept = decisions["kept"].to_numpy()
    # Decisions are in face-id order (scan sorts them), so the kept ids are sorted too.
    kept_ids = pa.array(decisions["face_id"].to_numpy(dtype=object)[is_kept], pa.string())
    names = _write_selected(kept_ids, scanned.shard_of[is_kept], scanned.shards, out, config.faces_per_shard, progress)
    kept = kept_ids
    _remove_extra_shards(out, names)
    with atomic_path(out / DECISIONS_FILE) as tmp:
        pq.write_table(
            pa.Table.from_pandas(decisions, schema=DECISIONS_SCHEMA, preserve_index=False), tmp, compression="zstd"
        )
    dropped = dict(sorted(Counter(r for r in decisions["reason"] if isinstance(r, str)).items()))
    summary = SelectSummary(
        str(out),
        len(decisions),
        len(kept),
        dropped,
        int(decisions.loc[decisions["kept"] & (decisions["identity"] >= 0), "identity"].nunique()),
        histograms(decisions, config.balance),
        len(names),
    )
    cfg = {"stage": "select", "input": str(dataset_dir), **dataclasses.asdict(config)}
    write_dataset_json(out, cfg, dataset_counts(out))
    atomic_write_text(marker, json.dumps({"config": cfg, **summary.to_dict()}, indent=2, default=str) + "\n")
    log.info("%s", summary.format_text())
    return summary
