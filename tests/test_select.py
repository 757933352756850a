"""fdf.select on real annotated photos: gates, duplicates, identity/owner caps, balance, determinism.

The faces come from a real build (loopback Flickr server -> download -> annotate) of bundled
demo photos (CC BY 4.0 video frames, public-domain astronaut; see fdf/data/demo_photos/CREDITS.md)
plus an exact byte copy and a re-encoded, resized copy posted as new photos.
"""

from __future__ import annotations

import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fdf.flickr_server import FlickrServer, catalog_from_files
from fdf.select import SelectConfig, select_faces
from fdf.select.balance import BalanceConfig, balance_drop
from fdf.select.dedupe import dhash, dhash_png
from fdf.select.gates import GateConfig, gate_reasons
from fdf.shards import list_shards, read_faces

PHOTOS = Path(__file__).resolve().parents[1] / "fdf" / "data" / "demo_photos"
ORIGINALS = [
    "astronaut.jpg",
    "head-pose-face-detection-male_f012.jpg",
    "head-pose-face-detection-male_f049.jpg",
    "milk_f015.jpg",
    "sorry_f022.jpg",
    "book_f033.jpg",
]
OPEN_GATES = GateConfig(min_crop_px=0, min_sharpness=0, max_landmark_fit=math.inf)


def _reencoded(path: Path) -> bytes:
    """The photo resized to 90% and saved as a lower-quality JPEG: new bytes, same picture."""
    with Image.open(path) as img:
        small = img.convert("RGB").resize((int(img.width * 0.9), int(img.height * 0.9)), Image.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=60)
    return buf.getvalue()


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A real build folder; photo ids: originals 46000000000.., then the exact and the near copy."""
    from pipelines import run_build
    from pipelines.demo import demo_build_config

    items = [{"image_path": str(PHOTOS / name), "owner": f"owner{i % 2}@N00"} for i, name in enumerate(ORIGINALS)]
    items.append({"image_bytes": (PHOTOS / ORIGINALS[0]).read_bytes(), "owner": "copier@N00"})
    items.append({"image_bytes": _reencoded(PHOTOS / ORIGINALS[1]), "owner": "copier@N00"})
    out = tmp_path_factory.mktemp("select_build")
    with FlickrServer(catalog_from_files(items)) as srv:
        config = demo_build_config(srv.rest_url, out, jobs=1, report=False)
        run_build(config, out, progress=False)
    return out


def _decisions(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "_decisions.parquet")


def _reason(d: pd.DataFrame, face_id: str) -> str | None:
    value = d.loc[face_id, "reason"]
    return None if pd.isna(value) else value


def _ids(n: int) -> str:
    return str(46000000000 + n)


def test_decisions_cover_every_face_and_match_the_written_shards(build, tmp_path):
    summary = select_faces(build / "faces", tmp_path / "sel", progress=False)
    faces = read_faces(build / "faces", columns=["face_id"]).column("face_id").to_pylist()
    decisions = _decisions(tmp_path / "sel")
    assert sorted(decisions["face_id"]) == sorted(set(faces))
    kept = set(decisions.loc[decisions["kept"], "face_id"])
    written = read_faces(tmp_path / "sel", columns=["face_id", "resolution"]).to_pandas()
    assert set(written["face_id"]) == kept
    assert summary.faces_kept == len(kept) and summary.faces_in == len(set(faces))
    # every dropped face says why; every kept face has no reason
    assert decisions.loc[~decisions["kept"], "reason"].notna().all()
    assert decisions.loc[decisions["kept"], "reason"].isna().all()
    assert sum(summary.dropped.values()) == summary.faces_in - summary.faces_kept


def test_exact_and_near_duplicate_photos_are_dropped(build, tmp_path):
    config = SelectConfig(gates=OPEN_GATES, balance=BalanceConfig(enabled=False), identity_cap=0, owner_cap=0)
    select_faces(build / "faces", tmp_path / "sel", config, progress=False)
    d = _decisions(tmp_path / "sel").set_index("face_id")
    exact = {_reason(d, f"{_ids(0)}_0"), _reason(d, f"{_ids(6)}_0")}
    assert exact == {"duplicate_photo", None}  # one copy kept, whichever ranks first
    near = {_reason(d, f"{_ids(1)}_0"), _reason(d, f"{_ids(7)}_0")}
    assert near == {"near_duplicate", None}
    # different pictures of the same man (frames 12 and 49) are not near duplicates of each other
    assert _reason(d, f"{_ids(2)}_0") is None
    assert set(d["reason"].dropna()) == {"duplicate_photo", "near_duplicate"}


def test_identity_clusters_group_one_person_and_cap_holds(build, tmp_path):
    config = SelectConfig(
        gates=OPEN_GATES, balance=BalanceConfig(enabled=False), identity_cap=1, owner_cap=0, near_duplicate_bits=-1
    )
    select_faces(build / "faces", tmp_path / "sel", config, progress=False)
    d = _decisions(tmp_path / "sel").set_index("face_id")
    man = {d.loc[f"{_ids(i)}_0", "identity"] for i in (1, 2, 7)}  # two frames + the re-encoded copy
    assert len(man) == 1
    assert d.loc[f"{_ids(0)}_0", "identity"] not in man  # the astronaut is someone else
    kept = d[d["kept"]]
    assert kept["identity"].value_counts().max() == 1
    assert (d["reason"] == "identity_cap").sum() >= 2


def test_owner_cap(build, tmp_path):
    config = SelectConfig(
        gates=OPEN_GATES, balance=BalanceConfig(enabled=False), identity_cap=0, owner_cap=1, near_duplicate_bits=-1
    )
    select_faces(build / "faces", tmp_path / "sel", config, progress=False)
    kept = read_faces(tmp_path / "sel", columns=["face_id", "owner_nsid"]).to_pandas().drop_duplicates("face_id")
    assert kept["owner_nsid"].value_counts().max() == 1
    assert set(kept["owner_nsid"]) == {"owner0@N00", "owner1@N00", "copier@N00"}


def test_same_seed_same_bytes_other_seed_other_ranks(build, tmp_path):
    for name in ("a", "b"):
        select_faces(build / "faces", tmp_path / name, SelectConfig(seed=7), progress=False)
    parts = sorted(p.relative_to(tmp_path / "a").as_posix() for p in list_shards(tmp_path / "a"))
    assert parts
    for name in parts + ["_decisions.parquet"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    select_faces(build / "faces", tmp_path / "c", SelectConfig(seed=8), progress=False)
    assert not np.allclose(_decisions(tmp_path / "a")["rank"], _decisions(tmp_path / "c")["rank"])


def test_fdf_default_gates_on_real_faces(build):
    faces = read_faces(
        build / "faces",
        columns=["face_id", "resolution", "crop_photo", "face_size", "sharpness", "landmark_fit", "score"],
    ).to_pandas()
    faces = faces[faces["resolution"] == faces["resolution"].min()].reset_index(drop=True)
    side = faces["crop_photo"].map(lambda b: b[2] - b[0])
    reasons = gate_reasons(faces, GateConfig())
    assert ((side < 128) == (reasons == "crop_too_small")).all()
    fdf256 = gate_reasons(faces, GateConfig(min_crop_px=0, min_face_px=64, min_sharpness=0, max_landmark_fit=math.inf))
    assert ((faces["face_size"] < 64) == (fdf256 == "face_too_small")).all()


def test_dhash_matches_a_reencoded_copy_not_another_picture():
    def load(data: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))

    a = dhash(load((PHOTOS / ORIGINALS[3]).read_bytes()))
    copy = dhash(load(_reencoded(PHOTOS / ORIGINALS[3])))
    other = dhash(load((PHOTOS / ORIGINALS[0]).read_bytes()))  # a different scene (two signing frames hash alike)
    assert bin(a ^ copy).count("1") <= 4
    assert bin(a ^ other).count("1") > 10
    buf = io.BytesIO()
    Image.open(PHOTOS / ORIGINALS[3]).save(buf, format="PNG")
    assert dhash_png(buf.getvalue()) == a  # lossless encoding: the same hash


def test_balance_thins_the_full_yaw_bin_and_keeps_its_expressions():
    rng = np.random.default_rng(0)
    n_front, n_side = 100, 10
    faces = pd.DataFrame(
        {
            "yaw": np.r_[rng.uniform(-9, 9, n_front), rng.uniform(35, 55, n_side)],
            "pitch": rng.uniform(-10, 10, n_front + n_side),
            "mouth_open": np.r_[np.tile([0.01, 0.3], n_front // 2), np.full(n_side, 0.01)],
        }
    )
    config = BalanceConfig()
    drop = balance_drop(faces, rng.random(len(faces)), config)
    cap = math.ceil(config.max_over_target * len(faces) / (len(config.yaw_edges) - 1))
    front_kept = faces.iloc[:n_front][~drop[:n_front]]
    assert len(front_kept) == cap
    assert not drop[n_front:].any()
    # round-robin over strata: open and closed mouths kept in equal numbers
    assert abs((front_kept["mouth_open"] > 0.15).sum() - (front_kept["mouth_open"] < 0.05).sum()) <= 1


def test_cli_select_json_and_error(build, tmp_path):
    out = tmp_path / "sel"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "select",
            str(build / "faces"),
            "--out",
            str(out),
            "--identity-cap",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    import json

    summary = json.loads(proc.stdout)
    assert summary["faces_kept"] == pq.read_table(out / "_decisions.parquet").to_pandas()["kept"].sum()
    bad = subprocess.run(
        [sys.executable, "-m", "fdf", "select", str(tmp_path / "empty"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "not found" in bad.stderr


def test_scan_faces_is_one_compact_row_per_face_in_face_id_order(build):
    from fdf.select.dedupe import dhash_png
    from fdf.select.scan import scan_faces

    scanned = scan_faces(build / "faces", progress=False)
    rows = read_faces(build / "faces", columns=["face_id", "resolution", "image", "embedding", "crop_photo"])
    rows = rows.to_pandas()
    rows = rows[rows["resolution"] == rows["resolution"].min()].sort_values("face_id").reset_index(drop=True)
    assert list(scanned.faces["face_id"]) == list(rows["face_id"])
    assert "crop_photo" not in scanned.faces and "embedding" not in scanned.faces
    assert scanned.hashes.dtype == np.uint64
    assert [int(h) for h in scanned.hashes] == [dhash_png(img["bytes"]) for img in rows["image"]]
    assert scanned.embeddings.dtype == np.float32 and scanned.embeddings.shape == (len(rows), 128)
    np.testing.assert_allclose(scanned.embeddings, np.stack(rows["embedding"].to_list()), rtol=1e-6)
    np.testing.assert_allclose(scanned.faces["crop_side"], [b[2] - b[0] for b in rows["crop_photo"]], rtol=1e-6)
    shards = {str(scanned.shards[k]) for k in scanned.shard_of}
    assert shards <= {str(p) for p in list_shards(build / "faces")}
