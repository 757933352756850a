"""Issue 3 acceptance on afw-dev: `fdf search` -> `fdf download` -> `fdf annotate` through the
loopback Flickr-compatible server, scored against AFW's hand annotations, per detector.

Usage: python benchmarks/bench_annotate_e2e.py ../shared/data/afw-dev [--detectors centerface,hog]
       [--out benchmarks/results/annotate_e2e.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from fdf.annotate.e2e import run_e2e


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="folder with annotations.json and images/ (afw-dev layout)")
    ap.add_argument("--detectors", default="centerface,hog")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="benchmarks/results/annotate_e2e.md")
    args = ap.parse_args()
    rows = []
    for det in args.detectors.split(","):
        with tempfile.TemporaryDirectory() as work:
            score, t = run_e2e(args.data, work, detector=det, jobs=args.jobs, resolutions="128,256")
        rows.append((det, score, t))
        print(det, score.to_dict(), t, flush=True)
    lines = [
        f"End to end on `{Path(args.data).name}` ({rows[0][1].photos} photos): `fdf search` -> `fdf download` -> "
        f"`fdf annotate --resolutions 128,256 --jobs {args.jobs}` through the loopback server, each a real "
        f"subprocess. Faces counted: annotated boxes at least 64 px wide; matched when box centres lie inside "
        f"each other (one-to-one). Yaw: matched faces with |annotated yaw| <= 60 deg. "
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}.",
        "",
        "| detector | faces >= 64 px | found | recall | yaw within 15 deg | yaw MAE | extra rows | "
        "annotate s | photos/s | faces/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for det, s, t in rows:
        faces = t["faces"] // 2  # two resolutions per face
        lines.append(
            f"| {det} | {s.annotated_faces} | {s.found_faces} | {s.recall:.3f} | "
            f"{s.yaw_within}/{s.yaw_faces} = {s.yaw_rate:.3f} | {s.yaw_mae:.1f} | {s.extra_faces} | "
            f"{t['annotate_s']:.1f} | {s.photos / t['annotate_s']:.2f} | {faces / t['annotate_s']:.2f} |"
        )
    text = (
        "\n".join(lines) + "\n\n'annotate s' is the wall time of the whole `fdf annotate` command (model "
        "loading, detection, landmarks, pose, descriptors, crops, PNG encoding, Parquet), so photos/s here "
        "is the full pipeline's rate, not detection alone (see detectors.md for that).\n"
    )
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
