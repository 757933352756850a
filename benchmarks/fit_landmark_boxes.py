"""Re-fit the box calibration that lets dlib's 68-point predictor run on CenterFace/MMOD boxes.

dlib's shape predictor was trained on boxes from dlib's HOG detector; other detectors frame the
face differently (CenterFace's box reaches the forehead and chin, MMOD's is tighter). On photos
where HOG and the other detector find the same face, fit

    hog_cx = cx + a * w,   hog_cy = cy + b * h,   hog_w = c * w,   hog_h = d * h

(each constant the median of the per-face ratios, robust to the odd mismatched pair and not
dominated by the largest faces), and print the constants to paste into ``fdf/annotate/landmarks.py`` (BOX_CALIBRATION).

Usage: python benchmarks/fit_landmark_boxes.py /work/shared/data/afw-dev [--max-side 800]
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fdf.annotate.detect import detect_faces


def centres_inside(a, b) -> bool:
    """True when each box's centre lies inside the other box."""

    def inside(p, box):
        return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]

    ca = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    cb = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return inside(ca, b) and inside(cb, a)


def fit(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Median constants (a, b, c, d) mapping detector boxes onto HOG boxes, and the residual."""
    src = np.array([p[0] for p in pairs], float)
    hog = np.array([p[1] for p in pairs], float)
    w, h = src[:, 2] - src[:, 0], src[:, 3] - src[:, 1]
    cx, cy = (src[:, 0] + src[:, 2]) / 2, (src[:, 1] + src[:, 3]) / 2
    hw, hh = hog[:, 2] - hog[:, 0], hog[:, 3] - hog[:, 1]
    hcx, hcy = (hog[:, 0] + hog[:, 2]) / 2, (hog[:, 1] + hog[:, 3]) / 2
    dx, dy = np.median((hcx - cx) / w), np.median((hcy - cy) / h)
    sw, sh = np.median(hw / w), np.median(hh / h)
    centre_err = np.hypot(hcx - cx - dx * w, hcy - cy - dy * h) / hw
    return {
        "dx": float(dx),
        "dy": float(dy),
        "sw": float(sw),
        "sh": float(sh),
        "n": len(pairs),
        "median_centre_error_per_hog_width": float(np.median(centre_err)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("data", type=Path, help="folder with annotations.json and images/ (afw-dev)")
    parser.add_argument("--max-side", type=int, default=800, help="working resolution for all detectors")
    parser.add_argument("--detectors", default="centerface,mmod")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    records = json.loads((args.data / "annotations.json").read_text())
    names = args.detectors.split(",")
    pairs: dict[str, list] = {n: [] for n in names}
    for rec in tqdm(records, desc="photos"):
        image = cv2.imread(str(args.data / rec["file"]))[:, :, ::-1]
        hog = [d.bbox for d in detect_faces(image, "hog", max_side=args.max_side)]
        if not hog:
            continue
        for name in names:
            for det in detect_faces(image, name, max_side=args.max_side):
                match = [hb for hb in hog if centres_inside(hb, det.bbox)]
                if len(match) == 1:
                    pairs[name].append((np.array(det.bbox), np.array(match[0])))
    for name in names:
        print(name, json.dumps({k: round(v, 4) for k, v in fit(pairs[name]).items()}))


if __name__ == "__main__":
    main()
