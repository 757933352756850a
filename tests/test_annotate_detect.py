"""Detection on real photos: finds annotated faces, maps boxes back exactly, loads models once."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fdf.annotate import DetectorError, detect_faces, models

DATA = Path(__file__).parent / "data" / "annotate"


def load_rgb(name: str) -> np.ndarray:
    return np.ascontiguousarray(cv2.imread(str(DATA / name))[:, :, ::-1])


def centres_inside(a, b) -> bool:
    def inside(p, box):
        return box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3]

    return inside(((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), b) and inside(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), a)


@pytest.fixture(scope="module")
def afw():
    return {r["file"]: r for r in json.loads((DATA / "afw_annotations.json").read_text())}


def test_centerface_finds_every_annotated_face_with_landmarks(afw):
    rec = afw["afw_2519293956.jpg"]
    image = load_rgb(rec["file"])
    dets = detect_faces(image, "centerface", max_side=1600)
    for face in rec["faces"]:
        hits = [d for d in dets if centres_inside(face["bbox_xyxy"], d.bbox)]
        assert hits, f"missed face {face['bbox_xyxy']}"
        lm5 = hits[0].landmarks5
        # CenterFace's first point is the image-left eye: compare with AFW's eye annotations.
        left, right = sorted(face["eyes"], key=lambda p: p[0])
        side = face["bbox_xyxy"][2] - face["bbox_xyxy"][0]
        assert np.linalg.norm(lm5[0] - left) < 0.15 * side
        assert np.linalg.norm(lm5[1] - right) < 0.15 * side
    assert all(0 <= d.bbox[0] < d.bbox[2] <= image.shape[1] for d in dets)
    assert [d.score for d in dets] == sorted((d.score for d in dets), reverse=True)


def test_downscaled_detection_maps_back_exactly():
    # A photo upscaled 2x by pixel repetition shrinks back (INTER_AREA, max_side) to the very same
    # pixels, so detections on the big photo must be exactly twice those on the original.
    image = np.ascontiguousarray(load_rgb("einstein.jpg")[:480, 200:600])
    big = cv2.resize(image, (800, 960), interpolation=cv2.INTER_NEAREST)
    small_dets = detect_faces(image, "centerface", max_side=None)
    big_dets = detect_faces(big, "centerface", max_side=480)
    assert len(small_dets) == len(big_dets) >= 1
    for s, b in zip(small_dets, big_dets):
        np.testing.assert_allclose(np.array(b.bbox), 2 * np.array(s.bbox), rtol=0, atol=1e-3)
        np.testing.assert_allclose(b.landmarks5, 2 * s.landmarks5, rtol=0, atol=1e-3)
        assert b.score == pytest.approx(s.score, abs=1e-6)


def test_downscaled_detection_agrees_with_full_size(afw):
    rec = afw["afw_2519293956.jpg"]  # 1536 x 1152
    image = load_rgb(rec["file"])
    full = detect_faces(image, "centerface", max_side=None)
    small = detect_faces(image, "centerface", max_side=768)
    for face in rec["faces"]:
        a = next(d for d in full if centres_inside(face["bbox_xyxy"], d.bbox))
        b = next(d for d in small if centres_inside(face["bbox_xyxy"], d.bbox))
        side = a.bbox[2] - a.bbox[0]
        assert np.abs(np.array(a.bbox) - np.array(b.bbox)).max() < 0.1 * side


def test_hog_finds_frontal_face_and_misses_nothing_obvious():
    image = load_rgb("einstein.jpg")
    dets = detect_faces(image, "hog", max_side=None)
    pts = np.loadtxt(DATA / "einstein.pts", skiprows=3, max_rows=68)
    cx, cy = pts.mean(0)
    assert any(d.bbox[0] < cx < d.bbox[2] and d.bbox[1] < cy < d.bbox[3] for d in dets)
    assert all(d.landmarks5 is None and d.detector == "hog" for d in dets)


def test_models_are_loaded_once_per_process():
    image = load_rgb("einstein.jpg")[:256, :256]
    for _ in range(3):
        detect_faces(image, "centerface")
        detect_faces(image, "hog")
    assert models.LOAD_COUNTS["centerface"] == 1
    assert models.LOAD_COUNTS["hog"] == 1


def test_bad_input_gives_clear_errors():
    with pytest.raises(DetectorError, match="unknown detector"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), "yolo")
    with pytest.raises(DetectorError, match="uint8"):
        detect_faces(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(DetectorError, match="HxWx3"):
        detect_faces(np.zeros((64, 64, 5), np.uint8))
    assert detect_faces(np.zeros((64, 64, 3), np.uint8)) == []
