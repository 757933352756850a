"""Download and annotate fanned out over a Dask cluster on loopback: a scheduler plus 1, 2, 4
single-thread worker processes, the same `fdf build --backend dask` each time.

    python benchmarks/bench_dask_scale.py [--photos 160] [--workers 1,2,4]

The photos are a synthetic catalog over the bundled 640x480 demo frames (CC BY 4.0 video frames,
see fdf/data/demo_photos/CREDITS.md), served by `fdf serve-flickr` in its own process. Each row:
workers, seconds of the download and annotate stages (from the build's summary), wall time of
the build, speed-up of annotate over one worker. Rows are appended to
benchmarks/results/dask_scale_rows.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml
from loopback import KEY, SECRET, start_server  # noqa: E402 - benchmarks/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
ROWS = ROOT / "benchmarks" / "results" / "dask_scale_rows.jsonl"
DASK = Path(sys.executable).parent / "dask"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(workers: int, work: Path) -> tuple[str, list[subprocess.Popen]]:
    from dask.distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = dict(cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    procs = [
        subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], **common
        )
    ]
    for k in range(workers):
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
                    f"w{k}",
                    "--local-directory",
                    str(work),
                ],
                **common,
            )
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout=5) as client:
                client.wait_for_workers(workers, timeout=60)
            return address, procs
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # each was started in its own session
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=160)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fdf-dask-scale"))
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    server, api_url = start_server(args.photos, args.work)
    base = None
    try:
        for workers in [int(w) for w in args.workers.split(",")]:
            run = args.work / f"w{workers}"
            run.mkdir()
            config = {
                "source": {
                    "kind": "flickr",
                    "query": {"license_ids": "1,2,4,5", "min_upload_date": "2018-01-01"},
                    "flickr": {"api_url": api_url, "calls_per_hour": 1e6, "rate_state": str(run / "rate.json")},
                },
                "download": {"jobs": workers, "threads": 4},
                "annotate": {"jobs": workers, "photos_per_shard": 8},
                "select": {"gates": {"min_crop_px": 64}},
                "report": False,
            }
            (run / "build.yaml").write_text(yaml.safe_dump(config))
            address, procs = start_cluster(workers, run)
            try:
                env = {**os.environ, "FLICKR_API_KEY": KEY, "FLICKR_API_SECRET": SECRET}
                started = time.perf_counter()
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "fdf",
                        "build",
                        str(run / "build.yaml"),
                        "--out",
                        str(run / "out"),
                        "--backend",
                        "dask",
                        "--scheduler",
                        address,
                        "--json",
                    ],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=ROOT,
                )
                wall = time.perf_counter() - started
            finally:
                stop(procs)
            if proc.returncode:
                print(proc.stderr[-3000:], file=sys.stderr)
                return 1
            summary = json.loads(proc.stdout)
            stages = {s["name"]: s for s in summary["stages"]}
            row = {
                "workers": workers,
                "photos": stages["download"]["counts"]["photos"],
                "faces": stages["annotate"]["counts"]["faces"],
                "download_s": stages["download"]["seconds"],
                "annotate_s": stages["annotate"]["seconds"],
                "build_s": round(wall, 1),
                "tasks_by_worker": summary["backend"]["tasks_by_worker"],
                "cores": os.cpu_count(),
                "load_avg": round(os.getloadavg()[0], 1),
                "date": time.strftime("%Y-%m-%d %H:%M"),
            }
            base = base or row
            row["annotate_speedup"] = round(base["annotate_s"] / row["annotate_s"], 2)
            row["download_speedup"] = round(base["download_s"] / row["download_s"], 2)
            print(json.dumps(row), flush=True)
            with ROWS.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    finally:
        server.terminate()
        server.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
