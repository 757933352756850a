"""`fdf build --backend dask` on a real local cluster (a `dask scheduler` and two `dask worker`
processes) gives the same dataset as loky, and the workers did the work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_pipelines import fdf, selected_files, small_catalog, write_config

from fdf.shards import read_faces

DASK = Path(sys.executable).parent / "dask"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parent_pid(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ')'.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.fixture
def dask_cluster(request, tmp_path):
    """Scheduler + two (or ``request.param``) single-threaded workers as real processes; yields
    (address, worker Popens)."""
    from dask.distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = dict(cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **common
        )
    ]
    try:
        count = getattr(request, "param", 2)
        for name in [f"w{k + 1}" for k in range(count)]:
            procs.append(
                subprocess.Popen(
                    [
                        str(DASK),
                        "worker",
                        address,
                        "--nworkers",
                        "1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                        "--name",
                        name,
                        "--local-directory",
                        str(tmp_path),
                    ],
                    **common,
                )
            )
        deadline = time.monotonic() + 30
        while True:  # the scheduler may not listen yet
            try:
                with Client(address, timeout=5) as client:
                    client.wait_for_workers(count, timeout=30)
                break
            except OSError:
                assert time.monotonic() < deadline, "dask scheduler did not start"
                time.sleep(0.5)
        yield address, procs[1:]
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_dask_backend_builds_the_same_dataset_as_loky(dask_cluster, flickr_server, tmp_path):
    address, workers = dask_cluster
    srv = flickr_server(small_catalog(4))
    # One photo per batch: 8 download + annotate tasks, so both workers get some.
    config = write_config(
        tmp_path / "build.yaml",
        srv.rest_url,
        download={"jobs": 2, "threads": 2, "shard_size": 1, "backoff": 0.1},
        annotate={"jobs": 2, "photos_per_shard": 1},
    )
    on_dask = fdf("build", config, "--out", tmp_path / "dask", "--backend", "dask", "--scheduler", address, "--json")
    assert on_dask.returncode == 0, on_dask.stderr
    backend = json.loads(on_dask.stdout)["backend"]
    assert backend["name"] == "dask"
    # Both worker processes ran tasks; they are the children of the `dask worker` processes we started.
    used = backend["worker_pids_used"]
    assert len(used) == 2 and sum(backend["tasks_by_worker"].values()) >= 8
    assert sorted(parent_pid(pid) for pid in used) == sorted(w.pid for w in workers)

    on_loky = fdf("build", config, "--out", tmp_path / "loky", "--json")
    assert on_loky.returncode == 0, on_loky.stderr
    assert json.loads(on_loky.stdout)["backend"]["name"] == "loky"
    ids = lambda out: sorted(read_faces(out / "faces", columns=["face_id"]).column("face_id").to_pylist())  # noqa: E731
    assert ids(tmp_path / "dask") == ids(tmp_path / "loky") and ids(tmp_path / "loky")
    assert selected_files(tmp_path / "dask") == selected_files(tmp_path / "loky")


@pytest.mark.parametrize("dask_cluster", [1], indirect=True)
def test_a_cluster_of_one_single_thread_worker_still_runs_the_tasks(dask_cluster):
    """joblib's own Dask backend runs every task in the calling process when the cluster has one
    thread in all; the build's backend keeps them on the cluster, even with n_jobs=1."""
    import joblib

    from pipelines.backends import backend_context

    address, workers = dask_cluster
    with backend_context("dask", address) as info:
        pids = joblib.Parallel(n_jobs=1)(joblib.delayed(os.getpid)() for _ in range(4))
    assert os.getpid() not in pids and sum(info.tasks_by_worker.values()) == 4
    assert {parent_pid(pid) for pid in pids} == {workers[0].pid}


def test_unreachable_scheduler_is_a_clear_error():
    from pipelines.backends import BackendError, backend_context

    with pytest.raises(BackendError, match="cannot reach the Dask scheduler"):
        with backend_context("dask", f"tcp://127.0.0.1:{free_port()}", timeout=1):
            pass
