"""Test clips the anonymizer was never tuned on: slow pans and zooms over photos with several faces.

Each clip is 48 frames at 24 fps, 640x480, x264 CRF 18, made from one afw-dev photo with at least
two annotated faces (the first ``--count`` such photos, in annotation order): the view zooms from
95% to 80% of the photo while it pans across it, so faces move, grow and are re-encoded.

    python benchmarks/make_pan_clips.py ../shared/data/afw-dev out/pans/in
    fdf anonymize out/pans/in --out out/pans/anon
    fdf evaluate-privacy out/pans/in out/pans/anon --frame-step 5 --json

Used for BENCHMARKS.md's anonymizer run 6 (afw-dev: see ../shared/data/README.md for its licence).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

FRAMES, FPS, WIDTH, HEIGHT = 48, 24, 640, 480


def pan_frames(bgr: np.ndarray):
    """RGB frames of the pan over one photo."""
    rgb = np.ascontiguousarray(bgr[:, :, ::-1])
    h, w = rgb.shape[:2]
    full = min(w, h * WIDTH / HEIGHT)  # widest 4:3 view that fits
    for t in np.linspace(0, 1, FRAMES):
        cw = full * (0.95 - 0.15 * t)
        ch = cw * HEIGHT / WIDTH
        x0 = (w - cw) * (0.2 + 0.6 * t)
        y0 = (h - ch) * (0.5 + 0.2 * np.sin(3 * t))
        m = np.float32([[WIDTH / cw, 0, -x0 * WIDTH / cw], [0, HEIGHT / ch, -y0 * HEIGHT / ch]])
        yield np.ascontiguousarray(cv2.warpAffine(rgb, m, (WIDTH, HEIGHT), flags=cv2.INTER_AREA))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("afw", type=Path, help="afw-dev folder (annotations.json, images/)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=8)
    args = ap.parse_args()
    annotations = json.loads((args.afw / "annotations.json").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    for ann in [a for a in annotations if len(a["faces"]) >= 2][: args.count]:
        bgr = cv2.imread(str(args.afw / ann["file"]))
        if bgr is None:
            raise SystemExit(f"cannot read {args.afw / ann['file']}")
        dst = args.out / (Path(ann["file"]).stem + ".mp4")
        writer = imageio_ffmpeg.write_frames(
            str(dst),
            (WIDTH, HEIGHT),
            fps=FPS,
            codec="libx264",
            quality=None,
            macro_block_size=1,
            output_params=["-crf", "18", "-preset", "medium"],
        )
        writer.send(None)
        try:
            for frame in pan_frames(bgr):
                writer.send(frame)
        finally:
            writer.close()
        print(dst, len(ann["faces"]), "faces")


if __name__ == "__main__":
    main()
