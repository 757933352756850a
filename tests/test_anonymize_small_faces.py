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


def test_upscaled_pass_finds_a_face_missed_at_its_own_size():
    photo = small_face_photo()
    native = find_faces(photo, DetectConfig(), upscale_small=False)
    assert native, "found at threshold 0.25 at its own size (score ~0.41)"
    # At a threshold over the native score, only the 2x pass (score ~0.73) still finds it.
    strict = DetectConfig(threshold=max(f.score for f in native) + 0.05)
    assert find_faces(photo, strict, upscale_small=False) == []
    (face,) = find_faces(photo, strict)
    assert iou(face.bbox, native[0].bbox) > 0.5, "its box is mapped back to the photo's pixels"
    x0, y0, x1, y1 = face.bbox
    assert np.all((face.landmarks5[:, 0] >= x0 - 2) & (face.landmarks5[:, 0] <= x1 + 2))


def test_faces_found_at_their_own_size_keep_their_boxes():
    photo = small_face_photo()
    native = find_faces(photo, DetectConfig(), upscale_small=False)
    both = find_faces(photo, DetectConfig())
    assert [f.bbox for f in native] == [f.bbox for f in both if any(f.bbox == n.bbox for n in native)]
    assert all(any(f.bbox == b.bbox for b in both) for f in native)


def test_no_upscaled_pass_when_switched_off_or_for_large_photos():
    photo = small_face_photo()
    off = find_faces(photo, DetectConfig(upscale_small=False))
    assert [f.score for f in off] == [f.score for f in find_faces(photo, DetectConfig(), upscale_small=False)]
    big = np.asarray(Image.fromarray(photo).resize((1200, 900)))  # over UPSCALE_MAX_SIDE: one pass
    assert [f.score for f in find_faces(big, DetectConfig())] == [
        f.score for f in find_faces(big, DetectConfig(upscale_small=False))
    ]
