"""`fdf build` end to end: photos/s, and peak memory (RSS of the whole process tree) by size.

A loopback Flickr-compatible server (`fdf serve-flickr --synthetic N`, its own process, not
measured) serves N photos drawn from the bundled demo frames; each measured run is one `fdf build`
subprocess, whose process tree (the build and its loky workers) is sampled every 0.1 s.

Runs (each in a fresh folder):
  * e2e:      every stage (search, download, annotate, select, report), default CenterFace;
  * e2e-hog:  every stage with the dlib HOG detector (the fast one, for bigger N on 2 cores);
  * download: search + download only (`--until download`);
  * select:   `fdf select` over a face dataset made by repeating a real annotate output with new
              face/photo ids (so 10,000 photos' worth of faces without 10,000 annotations).

Usage:
    python benchmarks/bench_build.py --out benchmarks/results/build.md

The table is rewritten after every run, and the hand-written analysis of ``--out`` (from its
line starting "What this says" to the end) is kept. With ``--rows FILE`` each run is also
appended to FILE (JSON lines) and the table lists every row there, so long runs can go in
separate invocations. A long run logs its peak RSS so far every 10 s (``<run>.progress.jsonl``
under ``--work``), so a run stopped early still has numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml
from loopback import KEY, SECRET, start_server  # noqa: E402 - benchmarks/ is on sys.path

from fdf.shards import list_shards

LICENSES = ",".join(str(i) for i in range(1, 17))


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and all its descendants (0 for ones that just exited)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def run_measured(cmd: list[str], env: dict, progress: Path | None = None, watch=None) -> tuple[float, int, str]:
    """(wall seconds, peak tree RSS bytes, stdout) of ``cmd``; raises on failure.

    With ``progress``, every 10 s a JSON line (elapsed, peak and current RSS, and ``watch()``'s
    dict, e.g. photos annotated so far) is appended to that file.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        last_log = time.perf_counter()
        while not done.is_set():
            rss = tree_rss(proc.pid)
            peak[0] = max(peak[0], rss)
            if progress and time.perf_counter() - last_log >= 10:
                last_log = time.perf_counter()
                line = {
                    "elapsed_s": round(last_log - started),
                    "peak_rss_mb": round(peak[0] / 2**20),
                    "rss_mb": round(rss / 2**20),
                    **(watch() if watch else {}),
                }
                with progress.open("a") as f:
                    f.write(json.dumps(line) + "\n")
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    return time.perf_counter() - started, peak[0], out


def build_config(path: Path, api_url: str, detector: str, jobs: int) -> Path:
    config = {
        "source": {
            "kind": "flickr",
            "query": {"license_ids": LICENSES, "min_upload_date": "2018-01-01"},
            "flickr": {"api_url": api_url, "calls_per_hour": 1e6, "rate_state": str(path.parent / "rate.json")},
        },
        "download": {"jobs": jobs, "threads": 8},
        "annotate": {"jobs": jobs, "detector": detector, "photos_per_shard": 32},
        "select": {"gates": {"min_crop_px": 64}},  # the demo frames' faces are 50-100 px
    }
    path.write_text(yaml.safe_dump(config))
    return path


def build_run(kind: str, n: int, work: Path, jobs: int) -> dict:
    server, url = start_server(n, work)
    try:
        config = build_config(work / f"{kind}-{n}.yaml", url, "hog" if kind == "e2e-hog" else "centerface", jobs)
        out = work / f"{kind}-{n}"
        cmd = [sys.executable, "-m", "fdf", "-q", "build", str(config), "--out", str(out), "--json"]
        if kind == "download":
            cmd += ["--until", "download"]
        env = {**os.environ, "FLICKR_API_KEY": KEY, "FLICKR_API_SECRET": SECRET}
        wall, peak, stdout = run_measured(cmd, env, work / f"{kind}-{n}.progress.jsonl", lambda: annotated(out))
    finally:
        server.terminate()
        server.wait()
    summary = json.loads(stdout)
    stages = {s["name"]: s for s in summary["stages"]}
    return {
        "run": kind,
        "photos": n,
        "wall_s": round(wall, 1),
        "photos_per_s": round(n / wall, 2),
        "peak_rss_mb": round(peak / 2**20),
        "out": str(out),
        "stage_s": {k: round(v["seconds"], 1) for k, v in stages.items()},
        "faces": stages.get("annotate", {}).get("counts", {}).get("faces"),
        "kept": stages.get("select", {}).get("counts", {}).get("faces_kept"),
    }


def annotated(out: Path) -> dict:
    """Photos the annotate stage of build folder ``out`` has finished so far (from its status tables)."""
    done = 0
    for status in (out / "faces" / "_status").glob("part-*.parquet"):
        try:
            done += pq.read_metadata(status).num_rows
        except Exception:  # being written
            pass
    return {"photos_annotated": done}


def repeat_faces(src: Path, dst: Path, photos_wanted: int) -> int:
    """Copy ``src``'s face shards with fresh ids until they hold ``photos_wanted`` photos' faces."""
    dst.mkdir(parents=True)
    shards = list_shards(src)
    photos_per_copy = len(set(pq.read_table(src / "data", columns=["photo_id"]).column("photo_id").to_pylist()))
    copies = -(-photos_wanted // photos_per_copy)
    for c in range(copies):
        for s in shards:
            t = pq.read_table(s)
            for col in ("face_id", "photo_id"):
                i = t.schema.get_field_index(col)
                t = t.set_column(i, col, pc.binary_join_element_wise(pa.scalar(f"r{c}_"), t.column(col), ""))
            target = dst / s.parent.relative_to(src) / f"part-{c:04d}-{s.stem[5:]}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(t, target, compression="zstd")
    (dst / "_dataset.json").write_text((src / "_dataset.json").read_text())
    return copies * photos_per_copy


def select_run(faces: Path, photos: int, work: Path) -> dict:
    data = work / f"faces-x{photos}"
    total = repeat_faces(faces, data, photos)
    cmd = [
        sys.executable,
        "-m",
        "fdf",
        "-q",
        "select",
        str(data),
        "--out",
        str(work / f"sel-{photos}"),
        "--min-crop-px",
        "64",
        "--json",
    ]
    wall, peak, stdout = run_measured(cmd, dict(os.environ))
    s = json.loads(stdout)
    return {
        "run": "select",
        "photos": total,
        "faces": s["faces_in"],
        "kept": s["faces_kept"],
        "wall_s": round(wall, 1),
        "photos_per_s": round(total / wall, 1),
        "peak_rss_mb": round(peak / 2**20),
        "stage_s": {},
    }


ANALYSIS_START = "What this says"


def kept_analysis(path: Path | None) -> str:
    """The hand-written analysis at the end of an earlier table (from its "What this says" line)."""
    if not path or not path.exists():
        return ""
    text = path.read_text()
    at = text.find("\n" + ANALYSIS_START)
    return text[at + 1 :] if at >= 0 else ""


def to_markdown(rows: list[dict], jobs: int, analysis: str = "") -> str:
    lines = [
        f"`fdf build` on this machine ({os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}), loopback Flickr-compatible server in its own process serving "
        f"the bundled 640x480 demo frames (synthetic catalog), {jobs} worker processes. Peak memory is the "
        "RSS of the whole `fdf` process tree (build + loky workers), sampled every 0.1 s; the server is "
        "not counted. Wall time includes process start-up and model loading.",
        "",
        "| run | photos | faces | kept | wall (s) | photos/s | peak RSS (MB) | seconds per stage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        stages = ", ".join(f"{k} {v}" for k, v in r["stage_s"].items())
        lines.append(
            f"| {r['run']} | {r['photos']} | {r.get('faces') or ''} | {r.get('kept') or ''} | {r['wall_s']} "
            f"| {r['photos_per_s']} | {r['peak_rss_mb']} | {stages} |"
        )
    lines += [
        "",
        "Runs: **e2e** every stage (search, download, annotate with CenterFace, select, report); "
        "**e2e-hog** (when run) the same with dlib's HOG detector; **download** search + download only "
        "(`--until download`); **select** `fdf select` over the real face rows of the smallest e2e run repeated "
        "with new face and photo ids (not new annotations), `--min-crop-px 64` as in the builds.",
    ]
    text = "\n".join(lines) + "\n"
    return text + "\n" + analysis if analysis else text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--e2e", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--e2e-hog", type=int, nargs="*", default=[])
    ap.add_argument("--download", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--select", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="write a Markdown table here")
    ap.add_argument(
        "--rows",
        type=Path,
        default=None,
        help="append each run to this JSON-lines file; the table lists every row in it",
    )
    ap.add_argument("--work", type=Path, default=None, help="keep the runs' folders here (default: a temporary one)")
    ap.add_argument(
        "--faces",
        type=Path,
        default=None,
        help="face folder the select runs repeat (default: that of this invocation's smallest e2e run)",
    )
    args = ap.parse_args()
    analysis = kept_analysis(args.out)
    rows = []

    def record(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.rows:
            with args.rows.open("a") as f:
                f.write(json.dumps(row) + "\n")
        if args.out:
            table = [json.loads(line) for line in args.rows.read_text().splitlines()] if args.rows else rows
            args.out.write_text(to_markdown(table, args.jobs, analysis))

    with tempfile.TemporaryDirectory(prefix="fdf-bench-build-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for kind, sizes in (("e2e", args.e2e), ("e2e-hog", args.e2e_hog), ("download", args.download)):
            for n in sizes:
                record(build_run(kind, n, work, args.jobs))
        # The smallest e2e run: repeating it 1x and 10x gives the 1,000 and 10,000 photo rows.
        e2e = sorted((r for r in rows if r["run"].startswith("e2e")), key=lambda r: r["photos"])
        faces_from = args.faces or (Path(e2e[0]["out"]) / "faces" if e2e else None)
        for n in args.select if faces_from else []:
            record(select_run(faces_from, n, work))


if __name__ == "__main__":
    main()
