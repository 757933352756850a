"""`kill -9` of the `fdf build` process alone (not its process group), as the OOM killer does it:
its download child and loky workers must end within seconds, so the same command, run at once,
is not refused by a lock an orphan holds, and finishes with the same faces and bytes as a clean run.

Photos: bundled demo photos (CC BY 4.0 video frames and a public-domain astronaut; see
fdf/data/demo_photos/CREDITS.md) from the loopback Flickr server, each image answered after a
delay so the build can be caught mid-download.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from test_pipelines import KEY_ENV, ROOT, fdf, selected_files, small_catalog, write_config

from fdf.flickr_server import Faults
from fdf.shards import read_faces


def _start_build(config: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fdf", "build", str(config), "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, **KEY_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(what, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert proc.poll() is None, "the build finished before it could be killed"
        assert time.monotonic() < deadline, "the build never reached the stage to kill it in"
        time.sleep(0.05)


def _kill_alone_and_check_descendants(proc: subprocess.Popen, want_children: int) -> None:
    """SIGKILL the build process only; every descendant it had must be gone within 10 s."""
    tree = psutil.Process(proc.pid).children(recursive=True)
    assert len(tree) >= want_children, [p.cmdline()[-3:] for p in tree]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, f"orphans still running 10 s after the kill: {[p.pid for p in alive]}"


def _faces(out: Path) -> list[str]:
    return sorted(read_faces(out / "faces", columns=["face_id"]).column("face_id").to_pylist())


@pytest.fixture(scope="module")
def slow_server():
    from fdf.flickr_server import FlickrServer

    # Every photo answers after 0.5 s: a download of 6 photos lasts long enough to be killed in.
    faults = Faults(image_kind="slow", image_fraction=1.0, slow_delay=0.5)
    with FlickrServer(small_catalog(6), faults=faults) as srv:
        yield srv


@pytest.fixture(scope="module")
def clean(slow_server, tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    config = write_config(
        root / "build.yaml",
        slow_server.rest_url,
        download={"jobs": 2, "threads": 1, "shard_size": 1, "backoff": 0.1},
        annotate={"jobs": 2, "photos_per_shard": 1},
    )
    assert fdf("build", config, "--out", root / "out").returncode == 0
    return config, root / "out"


@pytest.mark.parametrize("stage", ["download", "annotate"])
def test_kill_9_of_the_build_alone_leaves_no_orphans_and_a_rerun_finishes(clean, stage, tmp_path):
    config, clean_out = clean
    out = tmp_path / "killed"
    proc = _start_build(config, out)
    if stage == "download":  # the spawned download child and its loky workers are running
        _wait_for(lambda: len(list((out / "download").glob("part-*.parquet"))) >= 1, proc)
        want = 2
    else:  # annotate's loky workers are running
        _wait_for(lambda: len(list((out / "faces" / "_status").glob("part-*.parquet"))) >= 1, proc)
        want = 1
    _kill_alone_and_check_descendants(proc, want)
    assert not (out / "_build" / "summary.json").exists()

    rerun = fdf("build", config, "--out", out)  # at once: no lock left behind
    assert rerun.returncode == 0, rerun.stderr
    assert _faces(out) == _faces(clean_out)
    assert selected_files(out) == selected_files(clean_out)
