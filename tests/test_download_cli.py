"""`fdf download` as users run it: a real subprocess, 4 workers, faults, and a SIGKILL mid-run."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from PIL import Image

from fdf.flickr_server import Faults, catalog_from_files
from fdf.manifest import write_manifest

REPO = Path(__file__).resolve().parents[1]
PHOTOS = sorted((Path(__file__).parent / "data" / "download").glob("*.jpg"))


def _serve(flickr_server, n: int, **faults):
    catalog = catalog_from_files([PHOTOS[k % len(PHOTOS)] for k in range(n)])
    return flickr_server(catalog, faults=Faults(**faults)), {p.id: Path(p.image_path) for p in catalog}


def _fdf(*args: str) -> list[str]:
    return [sys.executable, "-m", "fdf", *args]


def _write_manifest(srv, ids, path: Path) -> Path:
    df = pd.DataFrame([{"photo_id": pid, "download_url": srv.image_url(pid), "license_id": 5} for pid in ids])
    return write_manifest(df, path)


def _check_dataset(out: Path, images: dict[str, Path]) -> pd.DataFrame:
    df = ds.dataset(out, format="parquet").to_table().to_pandas()
    assert sorted(df.photo_id) == sorted(images), "exactly one row per manifest photo"
    for row in df[df.status == "ok"].itertuples():
        data = images[row.photo_id].read_bytes()
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert hashlib.sha256((out / row.path).read_bytes()).hexdigest() == row.sha256
        with Image.open(images[row.photo_id]) as img:
            assert (row.width, row.height) == img.size
    assert not list(out.rglob(".*.tmp"))
    return df


@pytest.mark.slow
def test_cli_download_with_faults_and_json_summary(tmp_path, flickr_server):
    srv, images = _serve(flickr_server, 30)
    ids = sorted(images)
    for pid, kind in zip(ids, ["404", "500", "truncated", "html", "noai", "500_once"]):
        srv.set_image_fault(pid, kind)
    manifest = _write_manifest(srv, ids, tmp_path / "m.parquet")
    out = tmp_path / "out"
    proc = subprocess.run(
        _fdf(
            "download", str(manifest), "--out", str(out), "--jobs", "4", "--retries", "1", "--backoff", "0.05", "--json"
        ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    df = _check_dataset(out, images)
    statuses = df.set_index("photo_id").status
    assert statuses[ids[:6]].tolist() == ["http_404", "http_500", "truncated", "not_image", "robots_disallowed", "ok"]
    assert (statuses[ids[6:]] == "ok").all()
    assert summary["counts"] == statuses.value_counts().to_dict() and summary["attempted"] == len(images)
    assert summary["images_per_s"] > 0 and summary["shards_written"] >= 4


def test_cli_bad_manifest_is_one_line_error(tmp_path):
    proc = subprocess.run(
        _fdf("download", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "o")),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0 and "manifest not found" in proc.stderr


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_one_valid_row_per_photo(tmp_path, flickr_server):
    # Every image is "slow" (30 ms before its first byte), so the run lasts long enough to kill.
    srv, images = _serve(flickr_server, 160, image_fraction=1.0, image_kind="slow", slow_delay=0.03)
    out = tmp_path / "out"
    manifest = _write_manifest(srv, sorted(images), tmp_path / "m.parquet")
    cmd = _fdf(
        "download",
        str(manifest),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--threads",
        "2",
        "--shard-size",
        "6",
        "--no-progress",
    )
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("part-*.parquet"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Kill only the parent: its loky workers live on as orphans while the rerun starts,
        # and must not write shards that collide with the rerun's.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        killed_shards = len(list(out.glob("part-*.parquet")))
        srv.faults.image_fraction = 0.0
        rerun = subprocess.run(cmd + ["--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):  # the orphans this test started
            os.killpg(proc.pid, signal.SIGKILL)
    assert killed_shards >= 3
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert 0 < summary["skipped"] < len(images), "the kill must land mid-run"
    assert summary["attempted"] == len(images) - summary["skipped"]
    df = _check_dataset(out, images)
    assert (df.status == "ok").all()
