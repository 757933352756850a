"""How far gan mode moves a face's light and colour: CIELAB of the replaced face against the original.

    python benchmarks/tone_shift.py --json-out benchmarks/results/photos/s14/tone_on.json
    python benchmarks/tone_shift.py --no-tone-match --json-out ...   # the rim colour match only
    python benchmarks/tone_shift.py --no-colour-match --json-out ...  # neither

For every judged face of afw-dev and dlib-faces (the whole-photo set of ``eval_photos.py``
without the signer frames; its annotated boxes where it has them, else the anonymizer's), the
mean CIELAB over the middle half of the box (across and down) in the original and in gan mode's
output (seed 0, truncation 0.85, identity check on). Reports the slope of the output's L* on the
original's (1: as light as the face it replaces; 0: the generator's own light whatever the
photo), the mean absolute L* difference, and the L* shift of dark (L* < 35) and bright (L* >= 65)
originals. Tone matching sets a median over nearly this region, so with it on this shows the
step works, not that faces look right: look at them, and see ``eval_photos.py`` for the judges.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from eval_photos import ROOT, photo_sets  # noqa: E402

from anonymizer.inference.image import AnonymizeConfig, ImageAnonymizer  # noqa: E402

log = logging.getLogger("tone_shift")


def middle_lab(lab: np.ndarray, box) -> np.ndarray | None:
    """Mean CIELAB (L* 0-100) over the middle half of ``box`` in an OpenCV 8-bit Lab image."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    region = lab[int(y0 + 0.25 * h) : int(y1 - 0.25 * h), int(x0 + 0.25 * w) : int(x1 - 0.25 * w)]
    if region.size < 12:
        return None
    mean = region.reshape(-1, 3).astype(np.float64).mean(0)
    return np.array([mean[0] * 100 / 255, mean[1] - 128, mean[2] - 128])


def summary(rows: list[dict]) -> dict:
    """Slope, mean absolute difference and dark / bright shifts of L* over ``rows``."""
    before = np.array([r["original_lab"][0] for r in rows])
    after = np.array([r["output_lab"][0] for r in rows])
    shift = after - before
    dark, bright = before < 35, before >= 65
    return {
        "faces": len(rows),
        "l_slope": round(float(np.polyfit(before, after, 1)[0]), 3),
        "l_mean_abs_difference": round(float(np.abs(shift).mean()), 2),
        "dark_faces": int(dark.sum()),
        "dark_l_shift": round(float(shift[dark].mean()), 2) if dark.any() else None,
        "bright_faces": int(bright.sum()),
        "bright_l_shift": round(float(shift[bright].mean()), 2) if bright.any() else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--checkpoint", default=None, help="generator weights (default: bundled)")
    ap.add_argument("--no-tone-match", action="store_true")
    ap.add_argument("--no-colour-match", action="store_true")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = AnonymizeConfig(
        mode="gan",
        seed=0,
        truncation=0.85,
        checkpoint=args.checkpoint,
        colour_match=not args.no_colour_match,
        tone_match=not args.no_tone_match,
    )
    anonymizer = ImageAnonymizer(config)
    rows = []
    photos = [p for p in photo_sets(args.data, ROOT / "manifests" / "people_gallery.json", 40) if p.set != "signers"]
    for photo in photos:
        rgb = photo.load()
        boxes = photo.boxes or [list(f.bbox) for f in anonymizer.detect(rgb)]
        output = anonymizer.anonymize_rgb(rgb).pixels
        lab_in, lab_out = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), cv2.cvtColor(output, cv2.COLOR_RGB2LAB)
        for box in boxes:
            before, after = middle_lab(lab_in, box), middle_lab(lab_out, box)
            if before is not None:
                rows.append(
                    {
                        "photo": photo.name,
                        "box": [round(float(v), 1) for v in box],
                        "original_lab": before.round(2).tolist(),
                        "output_lab": after.round(2).tolist(),
                    }
                )
        log.info("%s: %d faces", photo.name, len(boxes))
    report = {
        "colour_match": config.colour_match,
        "tone_match": config.tone_match,
        "checkpoint": args.checkpoint or "bundled",
        **summary(rows),
        "faces_measured": rows,
    }
    print(json.dumps({k: v for k, v in report.items() if k != "faces_measured"}, indent=1))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
