"""Head-pose accuracy of fdf.annotate against AFW's annotated yaw/pitch/roll.

Runs the analyzer (detector as configured, default CenterFace) on every photo of afw-dev,
matches detections to annotated faces (box centres inside each other), and reports mean
absolute error of yaw, pitch and roll, and the fraction of faces with |yaw error| <= 15 degrees
among faces annotated |yaw| <= 60 (acceptance: >= 80%). AFW's poses are quantised to 15 degree
steps (pitch 22.5), so errors below ~7 degrees are not meaningful.

Usage: python benchmarks/bench_pose.py /work/shared/data/afw-dev [--out benchmarks/results/pose.md]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fdf.annotate import AnalyzerConfig, FaceAnalyzer
from fdf.annotate.pose import head_pose
from fdf.atomic import atomic_write_text


def centres_inside(a, b) -> bool:
    """True when each box's centre lies inside the other box (the rule of shared/data/README.md)."""

    def inside(p, box):
        return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]

    return inside(((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), b) and inside(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), a)


def collect(data: Path, config: AnalyzerConfig) -> list[dict]:
    """One row per annotated face found: annotated and estimated yaw/pitch/roll."""
    analyzer = FaceAnalyzer(config)
    rows = []
    for rec in tqdm(json.loads((data / "annotations.json").read_text()), desc="photos"):
        image = cv2.imread(str(data / rec["file"]))[:, :, ::-1]
        faces = analyzer.analyze(image)
        for truth in rec["faces"]:
            match = [f for f in faces if centres_inside(truth["bbox_xyxy"], f.bbox)]
            if not match:
                continue
            best = max(match, key=lambda f: f.score)
            pnp_yaw = head_pose(best.landmarks68, image.shape[1], image.shape[0])[0]
            rows.append(
                {"true": truth["yaw_pitch_roll_deg"], "est": [best.yaw, best.pitch, best.roll], "pnp_yaw": pnp_yaw}
            )
    return rows


def summarise(rows: list[dict]) -> dict:
    true = np.array([r["true"] for r in rows], float)
    est = np.array([r["est"] for r in rows], float)
    err = np.abs(est - true)
    moderate = np.abs(true[:, 0]) <= 60
    pnp_err = np.abs(np.array([r["pnp_yaw"] for r in rows]) - true[:, 0])
    return {
        "pnp_yaw_mae_moderate": float(pnp_err[moderate].mean()),
        "pnp_yaw_within_15_moderate": float((pnp_err[moderate] <= 15).mean()),
        "faces": len(rows),
        "mae": err.mean(0).tolist(),
        "mae_moderate": err[moderate].mean(0).tolist(),
        "moderate_faces": int(moderate.sum()),
        "yaw_within_15_moderate": float((err[moderate, 0] <= 15).mean()),
        "yaw_within_15_profile": float((err[~moderate, 0] <= 15).mean()) if (~moderate).any() else float("nan"),
        "profile_faces": int((~moderate).sum()),
        "corr": [
            float(np.corrcoef(true[:, i], est[:, i])[0, 1]) if true[:, i].std() > 0 else float("nan") for i in range(3)
        ],
    }


def report(s: dict, config: AnalyzerConfig, seconds: float, data: Path) -> str:
    mae, mm = s["mae"], s["mae_moderate"]
    return f"""# Head pose vs AFW annotations (afw-dev)

Estimator: yaw from CenterFace's 5 points (`pose.yaw_from_five_points`, one scale constant
fitted on this same set, 2-fold cross-validated 0.87-0.90); pitch and roll from cv2.solvePnP
(EPnP then iterative) on 14 of dlib's 68 landmarks against a hand-written 3D mean face, focal
length = photo width. Faces: those {config.detector} (threshold {config.threshold or "default"}, max_side {config.max_side}) found on
`{data}` (centre-inside match with an annotated face).

| faces | yaw MAE | pitch MAE | roll MAE |
|---|---|---|---|
| all {s["faces"]} | {mae[0]:.1f} | {mae[1]:.1f} | {mae[2]:.1f} |
| annotated abs(yaw) <= 60: {s["moderate_faces"]} | {mm[0]:.1f} | {mm[1]:.1f} | {mm[2]:.1f} |

- abs(yaw error) <= 15 deg among faces with abs(yaw) <= 60: **{s["yaw_within_15_moderate"]:.1%}** (acceptance >= 80%)
- same for profiles (abs(yaw) > 60, {s["profile_faces"]} faces): {s["yaw_within_15_profile"]:.1%} (few faces; AFW
  marks profiles as 75-90 deg and the 5-point offset saturates there, so expect errors near 90).
- PnP yaw from the 68 landmarks alone (the fallback for HOG/MMOD boxes): MAE {s["pnp_yaw_mae_moderate"]:.1f} deg,
  {s["pnp_yaw_within_15_moderate"]:.1%} within 15 deg on abs(yaw) <= 60 — below the acceptance; dlib's predictor slides
  off turned faces, which is why yaw uses the 5 points whenever the detector gives them.
- correlation with annotation (yaw, pitch, roll): {", ".join(f"{c:.2f}" for c in s["corr"])}
- AFW poses are quantised (yaw/roll 15 deg, pitch 22.5 deg steps): MAE below ~7 deg is noise.
- Time: {seconds:.0f} s for the whole run (detection + full analysis without embeddings) on
  {platform.processor() or platform.machine()}, {__import__("os").cpu_count()} CPU cores.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description="Head pose accuracy against AFW annotations.")
    parser.add_argument("data", type=Path, help="folder with annotations.json and images/ (afw-dev)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "pose.md")
    parser.add_argument("--detector", default="centerface")
    parser.add_argument("--max-side", type=int, default=1600)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = AnalyzerConfig(detector=args.detector, max_side=args.max_side, embeddings=False)
    start = time.perf_counter()
    rows = collect(args.data, config)
    s = summarise(rows)
    text = report(s, config, time.perf_counter() - start, args.data)
    atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
