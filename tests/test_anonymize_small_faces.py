"""Small photos get a second detection pass at twice their size (photos only, not video frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from anonymizer.inference import DetectConfig, find_faces
from fdf.boxes import iou

DATA = Path(__file__).parent / "data" / "anonymize"


def small_face_photo(face_px: int = 53) -> np.ndarray:
    """The astronaut photo shrunk so her face is ~12 px wide, on a 400 x 300 grey canvas."""
    im = Image.open(DATA / "astronaut.jpg").convert("RGB").resize((face_px, face_px), Image.LANCZOS)
    canvas = np.full((300, 400, 3), 120, np.uint8)
    canvas[100 : 100 + face_px, 150 : 150 + face_px] = np.asarray(im)
    return canvas


def test_upscaled_pass_scores_a_tiny_face_higher_and_maps_it_back():
    photo = small_face_photo()
    native = find_faces(photo, DetectConfig(), upscale_small=False)
    both = find_faces(photo, DetectConfig())
    assert native and both
    best_native, best = max(native, key=lambda f: f.score), max(both, key=lambda f: f.score)
    assert best.score > best_native.score + 0.1, "the 2x pass sees the ~12 px face far better"
    assert iou(best.bbox, best_native.bbox) > 0.5, "its box is mapped back to the photo's pixels"
    assert best.landmarks5 is not None and np.all(best.landmarks5[:, 0] >= best.bbox[0] - 2)
    assert best.landmarks5 is not None and np.all(best.landmarks5[:, 0] <= best.bbox[2] + 2)


def test_no_upscaled_pass_when_switched_off_or_for_large_photos():
    photo = small_face_photo()
    off = find_faces(photo, DetectConfig(upscale_small=False))
    assert [f.score for f in off] == [f.score for f in find_faces(photo, DetectConfig(), upscale_small=False)]
    big = np.asarray(Image.fromarray(photo).resize((1200, 900)))  # over UPSCALE_MAX_SIDE: one pass
    assert [f.score for f in find_faces(big, DetectConfig())] == [f.score for f in find_faces(big, DetectConfig(upscale_small=False))]
