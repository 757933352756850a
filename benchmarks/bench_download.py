"""Download throughput: `fdf download` vs img2dataset on the same URL list, same run.

A loopback Flickr-compatible server (`fdf serve-flickr --synthetic N`, a separate process)
serves real JPEGs; `fdf search` lists them; then each tool downloads the same URLs with the
same number of processes and threads, alternating, several rounds. Our run hashes (sha256)
and fully decodes every image; img2dataset runs both in its fastest faithful mode (no
re-encoding, sha256 on) and in its default mode (decode + re-encode, resize_mode=no).

Usage:
    python benchmarks/bench_download.py --n 3000 --jobs 4 --threads 8 --rounds 3 \
        --img2dataset .venv-bench/bin/img2dataset --out benchmarks/results/download.md

img2dataset lives in its own virtual environment (its pins clash with ours):
    python -m venv .venv-bench && .venv-bench/bin/pip install img2dataset
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from loopback import KEY, SECRET, start_server  # noqa: E402 - benchmarks/ is on sys.path


def timed(cmd: list[str], env=None) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return elapsed, res


def img2dataset_ok(folder: Path) -> int:
    return sum(json.loads(p.read_text()).get("successes", 0) for p in folder.glob("*_stats.json"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--img2dataset", default=".venv-bench/bin/img2dataset")
    ap.add_argument("--out", default="benchmarks/results/download.md")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-download-"))
    server, rest_url = start_server(args.n, work)
    try:
        env = dict(os.environ, FLICKR_API_KEY=KEY, FLICKR_API_SECRET=SECRET, FDF_CACHE_DIR=str(work / "cache"))
        manifest = work / "M.parquet"
        timed(
            [
                sys.executable,
                "-m",
                "fdf",
                "-q",
                "search",
                "--api-url",
                rest_url,
                "--license",
                "1,2,4,5",
                "--min-upload-date",
                "2019-01-01",
                "--max-upload-date",
                "2019-03-02",
                "--out",
                str(manifest),
            ],
            env,
        )
        urls = pd.read_parquet(manifest, columns=["download_url"]).rename(columns={"download_url": "url"})
        url_list = work / "urls.parquet"
        urls.to_parquet(url_list, index=False)
        n = len(urls)
        runs: dict[str, list[float]] = {
            "fdf download": [],
            "img2dataset (no re-encode)": [],
            "img2dataset (default: decode + re-encode)": [],
        }
        oks: dict[str, int] = {}
        i2d_common = [
            args.img2dataset,
            "--url_list",
            str(url_list),
            "--input_format",
            "parquet",
            "--url_col",
            "url",
            "--output_format",
            "files",
            "--processes_count",
            str(args.jobs),
            "--thread_count",
            str(args.threads),
            "--resize_mode",
            "no",
            "--compute_hash",
            "sha256",
            "--timeout",
            "10",
            "--retries",
            "0",
            "--enable_wandb",
            "False",
            "--number_sample_per_shard",
            "1000",
            "--distributor",
            "multiprocessing",
        ]
        for r in range(args.rounds):
            out = work / f"fdf-{r}"
            t, res = timed(
                [
                    sys.executable,
                    "-m",
                    "fdf",
                    "-q",
                    "download",
                    str(manifest),
                    "--out",
                    str(out),
                    "--jobs",
                    str(args.jobs),
                    "--threads",
                    str(args.threads),
                    "--no-progress",
                    "--json",
                ],
                env,
            )
            runs["fdf download"].append(t)
            oks["fdf download"] = json.loads(res.stdout)["dataset_counts"].get("ok", 0)
            shutil.rmtree(out)
            for label, extra in (
                ("img2dataset (no re-encode)", ["--disable_all_reencoding", "True"]),
                ("img2dataset (default: decode + re-encode)", []),
            ):
                out = work / f"i2d-{r}"
                t, _ = timed(
                    i2d_common + ["--output_folder", str(out)] + extra,
                    env=dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1"),
                )
                runs[label].append(t)
                oks[label] = img2dataset_ok(out)
                shutil.rmtree(out)
            print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in runs.items()), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        "| tool | images | ok | median wall time (s) | images/s (median) | all rounds (s) |",
        "|---|---|---|---|---|---|",
    ]
    for label, times in runs.items():
        med = statistics.median(times)
        lines.append(
            f"| {label} | {n} | {oks[label]} | {med:.2f} | {n / med:.0f} | "
            + ", ".join(f"{t:.2f}" for t in times)
            + " |"
        )
    header = (
        f"Download throughput, {n} JPEGs (640x480 frames and one 512x512 PNG, ~40 KB) from a loopback "
        f"Flickr-compatible server (separate process), {args.jobs} processes x {args.threads} threads for "
        f"both tools, {args.rounds} alternating rounds, wall time of the whole command. "
        f"Machine: {os.cpu_count()} cores, {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}.\n"
    )
    text = header + "\n" + "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
