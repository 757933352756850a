"""A fixed sample sheet of whole photos, original beside output, for one mode or checkpoint.

    python benchmarks/make_sample_sheet.py --mode gan [--checkpoint GEN] [--no-verify] \
        --out benchmarks/results/photos/sheet_gan.png

Always the same photos (``SHEET``: four afw-dev photos, two dlib-faces photos, two frames of the
signer clips), so sheets of two models or modes can be laid side by side. Each row is one photo,
original on the left; the sheet is shrunk until its PNG is under ``--max-mb`` (3 MB), so faces in
the group photos are small: look at the single-face rows for realism.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from eval_photos import ROOT, clip_frame  # noqa: E402

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image  # noqa: E402

#: (label, path under the data folder, frame of a clip or None)
SHEET = (
    ("afw-dev 4174638819", "afw-dev/images/4174638819.jpg", None),  # one frontal face, 289 px
    ("afw-dev 1254885428", "afw-dev/images/1254885428.jpg", None),  # two faces in profile, +-60 degrees
    ("afw-dev 2086996835", "afw-dev/images/2086996835.jpg", None),  # a group of six, 120-160 px
    ("afw-dev 310076750", "afw-dev/images/310076750.jpg", None),  # one frontal face, 216 px
    ("dlib-faces Tom_Cruise", "dlib-faces/Tom_Cruise_avp_2014_4.jpg", None),
    ("dlib-faces 2008_002079", "dlib-faces/2008_002079.jpg", None),
    ("videos again.mkv frame 40", "videos/again.mkv", 40),
    ("videos milk.mkv frame 40", "videos/milk.mkv", 40),
)
ROW_HEIGHT = 420  # px of each photo before the sheet is shrunk to fit the size limit
log = logging.getLogger("make_sample_sheet")


def row(label: str, original: np.ndarray, output: np.ndarray, height: int) -> np.ndarray:
    """Original and output side by side at ``height`` px, the label on the original."""
    f = height / original.shape[0]
    size = (round(original.shape[1] * f), height)
    a = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
    b = cv2.resize(output, size, interpolation=cv2.INTER_AREA)
    for image, text in ((a, label), (b, "output")):
        # white on a dark strip: readable on any photo, and still after the sheet is shrunk
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 1)
        image[: h + 14, : w + 12] = (image[: h + 14, : w + 12] * 0.3).astype(np.uint8)
        cv2.putText(image, text, (6, h + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return np.hstack([a, np.full((height, 6, 3), 255, np.uint8), b])


def sheet(rows: list[np.ndarray]) -> np.ndarray:
    """Rows stacked, centred on a white background."""
    width = max(r.shape[1] for r in rows)
    padded = [
        np.pad(
            r,
            ((0, 6), ((width - r.shape[1]) // 2, width - r.shape[1] - (width - r.shape[1]) // 2), (0, 0)),
            constant_values=255,
        )
        for r in rows
    ]
    return np.vstack(padded)


def png_under(image: np.ndarray, max_bytes: int) -> bytes:
    """PNG bytes of ``image``, shrunk (area-averaged) until they fit ``max_bytes``."""
    while True:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG", optimize=True)
        data = buffer.getvalue()
        if len(data) <= max_bytes:
            return data
        f = 0.95 * (max_bytes / len(data)) ** 0.5
        image = cv2.resize(image, (round(image.shape[1] * f), round(image.shape[0] * f)), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="gan", choices=["gan", "blur", "pixelate", "mask"])
    ap.add_argument("--checkpoint", default=None, help="generator weights for gan mode (default: bundled)")
    ap.add_argument("--no-verify", action="store_true", help="gan mode without the identity check")
    ap.add_argument("--truncation", type=float, default=None, help="gan mode's truncation (default: the config's)")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-mb", type=float, default=3.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    anonymizer = ImageAnonymizer(
        AnonymizeConfig(
            mode=args.mode,
            checkpoint=args.checkpoint,
            verify_identity=not args.no_verify,
            **({} if args.truncation is None else {"truncation": args.truncation}),
        )
    )
    rows = []
    for label, rel, frame in SHEET:
        path = args.data / rel
        original = clip_frame(path, frame) if frame is not None else read_image(path).rgb
        result = anonymizer.anonymize_rgb(original)
        log.info("%s: %d faces", label, len(result.faces))
        rows.append(row(label, original, result.pixels, ROW_HEIGHT))
    data = png_under(sheet(rows), int(args.max_mb * 1e6))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    log.info("wrote %s (%.2f MB)", args.out, len(data) / 1e6)


if __name__ == "__main__":
    main()
