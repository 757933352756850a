"""`fdf build` end to end against the loopback Flickr server: configs, search flags, resume after kill -9.

Photos: bundled demo photos (CC BY 4.0 video frames and a public-domain astronaut; see
fdf/data/demo_photos/CREDITS.md), served by a real HTTP server on 127.0.0.1; builds run as real
`fdf` subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from fdf.errors import ConfigError
from fdf.flickr_server import Catalog, demo_catalog
from fdf.shards import list_shards, read_faces
from pipelines import build_config_from_dict, load_build_config

ROOT = Path(__file__).resolve().parents[1]
ALL_LICENSES = ",".join(str(i) for i in range(1, 17))  # the demo catalog uses several
KEY_ENV = {"FLICKR_API_KEY": "0123456789abcdef0123456789abcdef", "FLICKR_API_SECRET": "fedcba9876543210"}


def small_catalog(n: int) -> Catalog:
    """The first ``n`` bundled photos by id that a reuse-licence search returns (all have faces)."""
    usable = [p for p in sorted(demo_catalog(), key=lambda p: p.id) if p.license > 0 and "no_cv" not in p.tags]
    return Catalog(usable[:n])


def fdf(*args, timeout=180, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, **KEY_ENV}
    return subprocess.run(
        [sys.executable, "-m", "fdf", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
        **kwargs,
    )


def write_config(path: Path, api_url: str, **overrides) -> Path:
    """A small build config: tiny batches so a kill lands between many markers."""
    config = {
        "source": {
            "kind": "flickr",
            "query": {"license_ids": ALL_LICENSES, "min_upload_date": "2000-01-01"},
            "flickr": {"api_url": api_url, "backoff_base": 0.1, "rate_state": str(path.parent / "rate.json")},
        },
        "download": {"jobs": 1, "threads": 2, "shard_size": 2, "backoff": 0.1},
        "annotate": {"jobs": 1, "photos_per_shard": 2},
        "select": {"gates": {"min_crop_px": 64}},
        "report": False,
    }
    config.update(overrides)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def selected_files(out: Path) -> dict[str, bytes]:
    sel = out / "selected"
    return {p.relative_to(sel).as_posix(): p.read_bytes() for p in list_shards(sel) + [sel / "_decisions.parquet"]}


def test_shipped_configs_load():
    flickr = load_build_config(ROOT / "manifests" / "fdf_like_flickr.yaml")
    assert flickr.source.kind == "flickr" and flickr.select.gates.min_crop_px == 128
    rebuild = load_build_config(ROOT / "manifests" / "fdf_rebuild.toml")
    assert rebuild.source.kind == "fdf_metainfo" and Path(rebuild.source.path).is_absolute()
    assert rebuild.select.identity_cap == 0 and rebuild.select.balance.enabled is False


@pytest.mark.parametrize(
    "values, message",
    [
        ({"source": {"kind": "flickr", "query": {"text": "x"}}, "selct": {}}, "unknown build config keys: selct"),
        ({"source": {"kind": "flickr", "query": {"text": "x"}}, "backend": "dask"}, "needs a scheduler"),
        ({"source": {"kind": "ftp", "path": "x"}}, "source kind must be one of"),
        ({"source": {"kind": "fdf_metainfo"}}, "needs a path"),
        ({"source": {"kind": "flickr", "query": {"text": "x"}}, "download": {"jobs": 0}}, "invalid download settings"),
        (
            {"source": {"kind": "flickr", "query": {"text": "x"}}, "select": {"gates": {"min_px": 3}}},
            "unknown select.gates keys: min_px",
        ),
    ],
)
def test_bad_configs_say_what_is_wrong(values, message):
    with pytest.raises(ConfigError, match=message):
        build_config_from_dict(values)


def test_bad_config_file_is_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[source\nkind = 'flickr'\n")
    proc = fdf("build", bad, "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert proc.stderr.startswith("fdf build: error:") and "not valid TOML" in proc.stderr
    proc = fdf("build", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "search flags" in proc.stderr


def test_build_from_search_flags_then_rerun_is_a_no_op(flickr_server, tmp_path):
    srv = flickr_server(small_catalog(4))
    out = tmp_path / "out"
    args = [
        "build",
        "--out",
        out,
        "--api-url",
        srv.rest_url,
        "--license",
        ALL_LICENSES,
        "--min-upload-date",
        "2000-01-01",
        "--jobs",
        "1",
        "--rate-state",
        tmp_path / "rate.json",
        "--json",
    ]
    proc = fdf(*args)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    stages = {s["name"]: s for s in summary["stages"]}
    assert list(stages) == ["source", "download", "annotate", "select", "report"]
    assert stages["source"]["counts"]["photos"] == 4
    assert stages["download"]["counts"]["ok"] == 4
    kept = read_faces(out / "selected", columns=["face_id"]).column("face_id").to_pylist()
    assert stages["select"]["counts"]["faces_kept"] == len(set(kept)) > 0
    assert (out / "report" / "index.html").exists()
    assert json.loads((out / "_build" / "summary.json").read_text())["stages"] == summary["stages"]
    before = selected_files(out)
    again = json.loads(fdf(*args).stdout)
    assert {s["name"]: s["skipped"] for s in again["stages"]}["download"] is True
    assert selected_files(out) == before


def test_resume_after_kill_9_equals_a_clean_run(flickr_server, tmp_path):
    srv = flickr_server(small_catalog(6))
    config = write_config(tmp_path / "build.yaml", srv.rest_url)
    clean = tmp_path / "clean"
    assert fdf("build", config, "--out", clean).returncode == 0

    killed = tmp_path / "killed"
    env = {**os.environ, **KEY_ENV}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdf", "build", str(config), "--out", str(killed)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Kill the build and its workers once annotate has committed some batches but not all.
    deadline = time.monotonic() + 120
    while len(list((killed / "faces" / "_status").glob("part-*.parquet"))) < 1:
        assert proc.poll() is None, "the build finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "_build" / "summary.json").exists()
    done_before = len(list((killed / "faces" / "_status").glob("part-*.parquet")))

    resumed = fdf("build", config, "--out", killed, "--json")
    assert resumed.returncode == 0, resumed.stderr
    annotate = next(s for s in json.loads(resumed.stdout)["stages"] if s["name"] == "annotate")
    assert annotate["counts"]["photos"] > 0 and done_before >= 1
    # Same faces, no duplicates, same selected bytes.
    faces = lambda out: sorted(read_faces(out / "faces", columns=["face_id"]).column("face_id").to_pylist())  # noqa: E731
    assert faces(killed) == faces(clean)
    assert selected_files(killed) == selected_files(clean)
    assert pq.read_table(killed / "selected" / "_decisions.parquet").num_rows == len(set(faces(clean)))


def test_until_stops_early_and_a_changed_config_is_refused(flickr_server, tmp_path):
    srv = flickr_server(small_catalog(2))
    config = write_config(tmp_path / "a.yaml", srv.rest_url)
    first = fdf("build", config, "--out", tmp_path / "out", "--until", "download", "--json")
    assert [s["name"] for s in json.loads(first.stdout)["stages"]] == ["source", "download"]
    assert not (tmp_path / "out" / "faces").exists()
    other = write_config(tmp_path / "b.yaml", srv.rest_url, seed=5)
    proc = fdf("build", other, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "different config" in proc.stderr and "seed" in proc.stderr
    rest = json.loads(fdf("build", config, "--out", tmp_path / "out", "--json").stdout)
    stages = {s["name"]: s for s in rest["stages"]}
    assert stages["download"]["skipped"] and stages["select"]["counts"]["faces_in"] > 0


def test_release_local_workers_stops_the_loky_workers():
    """After annotate, its workers (each holding the models) are stopped before select runs."""
    import os

    import psutil
    from joblib import Parallel, delayed

    from pipelines.backends import release_local_workers

    me = psutil.Process()
    pids = set(Parallel(n_jobs=2)(delayed(os.getpid)() for _ in range(4)))
    assert pids and os.getpid() not in pids
    assert release_local_workers() is True
    alive = {p.pid for p in me.children(recursive=True)}
    assert not pids & alive, "the workers that ran the tasks are gone"
    assert release_local_workers() is False, "nothing left to stop"
