"""Issue 16 (FDF at full scale) and issue 17 items 14-21 on synthetic face shards.

* the fast selection steps decide exactly as the loops they replaced (tests/select_reference.py);
* dHash from the ``dhash`` column, or from the crops in shards written before it existed;
* vectorised audit checks, streamed JSON report, streamed export/import;
* a truncated shard stops audit, select, remove, credits, card, report, export and a download
  resume with one line naming it, exit status 2 and nothing changed; remove --skip-unreadable;
* ``fdf select`` on a download folder says so instead of raising KeyError.

The faces are written by benchmarks/bench_scale.py's generator (descriptors drawn from real dlib
statistics, biased dHash bits, Zipf owners) with the project's own shard writer.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import select_reference as ref

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_scale  # noqa: E402

from fdf.audit.checks import check_table, flag_names, missing_attribution, part_names, photo_flags  # noqa: E402
from fdf.select import SelectConfig  # noqa: E402
from fdf.select.balance import BalanceConfig, balance_drop  # noqa: E402
from fdf.select.caps import cap_per_group, identity_clusters  # noqa: E402
from fdf.select.dedupe import dhash_png, duplicate_photos, near_duplicates  # noqa: E402
from fdf.select.gates import GateConfig  # noqa: E402
from fdf.shards import list_shards  # noqa: E402


def run_fdf(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fdf", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """600 synthetic faces in shards of ~100, with a download table beside them."""
    work = tmp_path_factory.mktemp("synthetic")
    bench_scale.write_dataset(work, 600, seed=3, resolutions=[64, 128], faces_per_shard=100)
    return work


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- the same decisions


def test_identity_clusters_equal_the_loop():
    rng = np.random.default_rng(0)
    for trial in range(24):
        n, dim = int(rng.integers(1, 2500)), int(rng.choice([1, 2, 3, 128]))
        if trial % 3 == 0:  # integer grid: many exact ties between leaders
            emb, threshold = rng.integers(0, 6, (n, dim)).astype(np.float64), 1.5
        elif trial % 3 == 1:  # identities: tight clusters
            centres = rng.normal(0, 0.5, (max(1, n // 5), dim))
            emb = (centres[rng.integers(0, len(centres), n)] + rng.normal(0, 0.15, (n, dim))).astype(np.float32)
            threshold = 0.6
        else:
            emb, threshold = rng.normal(0, 0.3, (n, dim)).astype(np.float32), 0.6
        emb[rng.random(n) < 0.05] = np.nan
        order = rng.permutation(n)[: max(1, int(n * rng.uniform(0.5, 1)))]
        np.testing.assert_array_equal(
            identity_clusters(emb, order, threshold), ref.identity_clusters(emb, order, threshold)
        )


def test_near_duplicates_equal_the_loop():
    rng = np.random.default_rng(1)
    for trial in range(32):
        n = int(rng.integers(0, 2500))
        if trial % 4 == 0:
            hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
        elif trial % 4 == 1:  # long runs of equal pieces, many close pairs
            hashes = rng.integers(0, 16, n).astype(np.uint64)
        else:  # re-uploads: a few bits flipped
            base = rng.integers(0, 2**63, max(1, n // 10), dtype=np.int64).astype(np.uint64)
            flips = np.zeros(n, dtype=np.uint64)
            for _ in range(int(rng.integers(0, 5))):
                flips |= np.uint64(1) << rng.integers(0, 64, n).astype(np.uint64)
            hashes = base[rng.integers(0, len(base), n)] ^ flips
        groups = rng.choice([f"p{i}" for i in range(max(1, n // 3))], n) if n else np.array([], dtype=object)
        bits = int(rng.choice([-1, 0, 1, 2, 3, 4, 6, 9]))
        np.testing.assert_array_equal(near_duplicates(hashes, groups, bits), ref.near_duplicates(hashes, groups, bits))


def test_caps_balance_and_duplicate_photos_equal_the_loops():
    rng = np.random.default_rng(2)
    for trial in range(20):
        n = int(rng.integers(0, 2000))
        groups = pd.Series(rng.choice(["a", "b", "", None, "c", np.nan, "d"], n), dtype=object)
        if trial % 2:
            groups = pd.Series(np.where(rng.random(n) < 0.3, None, rng.integers(0, 20, n)).astype(object), dtype=object)
        rank = rng.random(n)
        rank[rng.random(n) < 0.3] = 0.5  # ties
        cap = int(rng.integers(0, 5))
        np.testing.assert_array_equal(cap_per_group(groups, rank, cap), ref.cap_per_group(groups, rank, cap))
        faces = pd.DataFrame(
            {"yaw": rng.normal(0, 40, n), "pitch": rng.normal(0, 20, n), "mouth_open": rng.exponential(0.1, n)}
        )
        for col in faces:
            faces.loc[rng.random(n) < 0.05, col] = np.nan
        config = BalanceConfig(
            max_over_target=float(rng.choice([0.5, 1.0, 2.0])), target=None if trial % 2 else list(rng.random(7) + 0.1)
        )
        np.testing.assert_array_equal(balance_drop(faces, rank, config), ref.balance_drop(faces, rank, config))
        photos = list(rng.choice([f"x{i}" for i in range(50)], n))
        digests = list(rng.choice(["a", "b", "", None, "c"], n))
        assert duplicate_photos(photos, digests) == ref.duplicate_photos(photos, digests)


@pytest.mark.parametrize(
    "config",
    [
        SelectConfig(),
        SelectConfig(identity_cap=2, owner_cap=3, near_duplicate_bits=6, seed=4),
        SelectConfig(gates=GateConfig(min_crop_px=0, min_sharpness=0, max_landmark_fit=math.inf), identity_cap=1),
    ],
)
def test_whole_selection_decides_as_before_on_synthetic_faces(synthetic, config):
    from fdf.select.scan import scan_faces
    from fdf.select.select import _photo_sha256, decide

    scanned = scan_faces(synthetic / "faces", progress=False)
    sha = _photo_sha256(str(synthetic / "download"), scanned.faces["photo_id"])
    new = decide(scanned.faces, scanned.hashes, sha, scanned.embeddings, config)
    old = ref.decide(scanned.faces, scanned.hashes, sha, scanned.embeddings, config)
    pd.testing.assert_frame_equal(new, old)
    assert new["kept"].sum() > 0 and new["reason"].nunique() >= 3


def test_dhash_column_or_decoded_crops_give_the_same_hashes(synthetic, tmp_path):
    """Shards written before the dhash column existed: selection hashes their crops instead."""
    from fdf.select.scan import scan_faces

    old = tmp_path / "old"
    old.mkdir()
    for path in list_shards(synthetic / "faces"):
        table = pq.read_table(path)
        images = table.column("image").combine_chunks().field("bytes").to_pylist()
        # Crops that really hash to the stored value, then the column dropped.
        hashes = [dhash_png(b) for b in images]
        table = table.set_column(table.column_names.index("dhash"), "dhash", pa.array(hashes, pa.uint64()))
        where = path.relative_to(synthetic / "faces")
        for folder, rows in ((old, table.drop_columns(["dhash"])), (tmp_path / "new", table)):
            (folder / where).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(rows, folder / where)
    from_column = scan_faces(tmp_path / "new", progress=False)
    from_crops = scan_faces(old, progress=False)
    np.testing.assert_array_equal(from_column.hashes, from_crops.hashes)


# ---------------------------------------------------------------- audit, export, import


def test_vectorised_checks_equal_the_per_row_checks():
    rng = np.random.default_rng(5)
    n = 400
    ids = rng.choice([None, 0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 16, 99], n)
    urls = rng.choice(
        [
            None,
            "",
            "  ",
            "https://creativecommons.org/licenses/by/2.0/",
            "https://creativecommons.org/licenses/by-nc-nd/2.0/",
            "http://example.org/x",
        ],
        n,
    )
    text = lambda: rng.choice([None, "", " \t", "x", "Élan"], n)  # noqa: E731
    tags = [
        None if rng.random() < 0.2 else list(rng.choice(["a", "no_cv", "NoCV", "b"], int(rng.integers(0, 3))))
        for _ in range(n)
    ]
    table = pa.table(
        {
            "license_id": pa.array([None if i is None else int(i) for i in ids], pa.int16()),
            "license_url": list(urls),
            "title": list(text()),
            "owner_name": list(text()),
            "photo_url": list(text()),
            "tags": pa.array(tags, pa.list_(pa.string())),
        }
    )
    flags, missing = check_table(table)
    for k, row in enumerate(table.to_pylist()):
        assert flag_names(int(flags[k])) == photo_flags(row), row
        assert part_names(int(missing[k])) == missing_attribution(row), row


def test_audit_json_streams_the_same_document(synthetic):
    from fdf.audit.render import to_json
    from fdf.audit.run import audit

    report = audit(synthetic / "faces")
    assert len(report.flagged) > 100
    assert json.loads(to_json(report)) == json.loads(json.dumps(report.to_dict(), default=str))
    assert to_json(report) == json.dumps(report.to_dict(), indent=2, default=str) + "\n"


def test_export_streams_metainfo_in_order_and_import_reads_any_order(synthetic, tmp_path):
    from fdf.fdf_layout import export_fdf, import_fdf
    from fdf.shards import read_faces

    summary = export_fdf(synthetic / "faces", tmp_path / "fdf")
    text = (tmp_path / "fdf" / "train" / "fdf_metainfo.json").read_text()
    meta = json.loads(text)
    assert list(meta) == [str(i) for i in range(summary.faces["train"])]
    assert text == json.dumps(meta, indent=1)  # as the whole-dict export wrote it
    # A metainfo file whose records are not in idx order still imports the same faces.
    reordered = dict(reversed(list(meta.items())))
    (tmp_path / "fdf" / "train" / "fdf_metainfo.json").write_text(json.dumps(reordered))
    import_fdf(tmp_path / "fdf", tmp_path / "back", shard_faces=50)
    back = read_faces(tmp_path / "back", columns=["face_id", "resolution", "image"]).to_pandas()
    src = read_faces(synthetic / "faces", columns=["face_id", "resolution", "image"]).to_pandas()
    key = lambda df: df.sort_values(["face_id", "resolution"]).reset_index(drop=True)  # noqa: E731
    assert len(back) == len(src)
    assert key(back)["face_id"].tolist() == key(src)["face_id"].tolist()
    assert [i["bytes"] for i in key(back)["image"]] == [i["bytes"] for i in key(src)["image"]]


def test_metainfo_stream_errors_name_the_place(tmp_path):
    from fdf.errors import SourceError
    from fdf.sources.fdf_metainfo import iter_metainfo

    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "0": {"photo_url": "x"},\n  "1": {"photo_url": "y",\n  }\n}', encoding="utf-8")
    with pytest.raises(SourceError, match=r"bad\.json: line 4, column 3: invalid JSON"):
        list(iter_metainfo(bad))
    bad.write_text('[{"photo_url": "x"}]')
    with pytest.raises(SourceError, match="expected a JSON object keyed by FDF face index, got list"):
        list(iter_metainfo(bad))
    bad.write_text('{"0": {"photo_url": "x"}, "1": {"photo_url": "y"')  # cut short
    with pytest.raises(SourceError, match="invalid JSON"):
        list(iter_metainfo(bad))


# ---------------------------------------------------------------- truncated shards (issue 17, 14-20)


@pytest.fixture
def truncated(synthetic, tmp_path) -> tuple[Path, Path]:
    """A copy of the synthetic dataset whose third face shard lost its second half."""
    import shutil

    work = tmp_path / "w"
    shutil.copytree(synthetic, work)
    shard = list_shards(work / "faces")[2]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    return work, shard


@pytest.mark.parametrize("command", ["audit", "select", "remove", "credits", "card", "report", "export"])
def test_a_truncated_shard_is_named_exit_2_and_nothing_changes(truncated, command):
    work, shard = truncated
    faces = work / "faces"
    args = {
        "audit": ["audit", faces],
        "select": ["select", faces, "--out", work / "selected"],
        "remove": ["remove", faces, "--owner", "10000@N00"],
        "credits": ["credits", faces],
        "card": ["card", faces],
        "report": ["report", faces, "--out", work / "report"],
        "export": ["export", faces, "--format", "fdf", "--out", work / "fdf"],
    }[command]
    before = tree_digest(work)
    proc = run_fdf(*args)
    assert proc.returncode == 2, proc.stderr
    assert str(shard) in proc.stderr and "truncated or corrupt" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert tree_digest(work) == before


def test_remove_can_still_take_down_from_the_healthy_shards(truncated):
    from fdf.audit.takedown import read_removal_log
    from fdf.shards import read_shard

    work, shard = truncated
    faces = work / "faces"
    healthy = [p for p in list_shards(faces) if p != shard]
    owner = read_shard(healthy[0], ["owner_nsid"]).column("owner_nsid")[0].as_py()
    proc = run_fdf("remove", faces, "--owner", owner, "--skip-unreadable", "--json")
    assert proc.returncode == 1, proc.stderr
    assert str(shard) in proc.stderr and "could not read" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["shards_unreadable"] == [str(shard)] and summary["photos_removed"] > 0
    for path in healthy:
        assert owner not in set(read_shard(path, ["owner_nsid"]).column("owner_nsid").to_pylist())
    assert owner in read_removal_log(faces).owners  # reaches the bad shard once it is restored
    assert len(shard.read_bytes()) > 0  # left as it was


def test_download_resume_names_a_truncated_download_shard(truncated):
    from fdf.manifest import write_manifest

    work, _ = truncated
    download = work / "download"
    bad = sorted(download.glob("part-*.parquet"))[0]
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    manifest = work / "m.parquet"
    write_manifest(
        pd.DataFrame({"photo_id": ["1"], "download_url": ["http://127.0.0.1:9/1.jpg"], "license_id": [4]}), manifest
    )
    before = tree_digest(download)
    proc = run_fdf("download", manifest, "--out", download)
    assert proc.returncode == 2, proc.stderr
    assert str(bad) in proc.stderr and "Traceback" not in proc.stderr
    after = tree_digest(download)
    assert {k: v for k, v in after.items() if not k.startswith("_state")} == {
        k: v for k, v in before.items() if not k.startswith("_state")
    }


def test_select_on_a_download_folder_says_what_it_is(synthetic, tmp_path):
    proc = run_fdf("select", synthetic / "download", "--out", tmp_path / "sel")
    assert proc.returncode == 2, proc.stderr
    assert "is a download folder, not a face dataset" in proc.stderr and "KeyError" not in proc.stderr
    assert not (tmp_path / "sel").exists()


def test_selected_shards_are_the_same_bytes_streamed_or_spilled(synthetic, tmp_path):
    """Inputs in face-id order are cut into output shards as they are read; others go through
    spill files: both give the same files."""
    import pyarrow as pa

    from fdf.select import select as sel
    from fdf.select.scan import scan_faces

    scanned = scan_faces(synthetic / "faces", progress=False)
    decisions = sel.decide(
        scanned.faces, scanned.hashes, [None] * len(scanned.faces), scanned.embeddings, SelectConfig()
    )
    kept = decisions["kept"].to_numpy()
    ids = pa.array(decisions["face_id"].to_numpy(dtype=object)[kept], pa.string())
    files = {}
    for name, write in (("streamed", sel._write_streaming), ("spilled", sel._write_spilled)):
        (tmp_path / name).mkdir()
        write(ids, *sel._by_shard(scanned.shard_of[kept], scanned.shards), tmp_path / name, 70, False)
        files[name] = {p.relative_to(tmp_path / name): p.read_bytes() for p in list_shards(tmp_path / name)}
    assert len(files["streamed"]) > 2 and files["streamed"] == files["spilled"]
    assert not (tmp_path / "spilled" / sel.SPILL_DIR).exists()
