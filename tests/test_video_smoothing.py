"""Track smoothing (anonymizer.video.smoothing) through the look-ahead buffer: jitter goes down,
steady motion is not delayed, the face box stays as detected, and no look-ahead means no change."""

from __future__ import annotations

import numpy as np

from anonymizer.inference.detect import FaceBox
from anonymizer.video.stream import TrackedFrames
from anonymizer.video.tracker import FaceTracker, TrackerConfig


def _face(x: float, jitter: float = 0.0) -> FaceBox:
    kp = np.zeros((7, 3), np.float32)
    kp[:, 0] = x + np.arange(7) * 5 + jitter
    kp[:, 1] = 100 + np.arange(7) * 3 - jitter
    kp[:, 2] = 1.0
    lm = np.stack([x + np.arange(68) + jitter, 100 + np.arange(68) * 0.5], 1).astype(np.float32)
    return FaceBox((x, 80.0, x + 60, 160.0), 0.9, keypoints=kp, landmarks68=lm)


def _run(faces: list[FaceBox], lookahead: int, smooth: int) -> list[FaceBox]:
    frames = TrackedFrames(lookahead, FaceTracker(TrackerConfig()), 1, smooth)
    out = []
    for i, face in enumerate(faces):
        for slot in frames.push(i, np.zeros((4, 4, 3), np.uint8), [face]):
            out.extend(slot.faces.values())
    for slot in frames.flush():
        out.extend(slot.faces.values())
    return out


def test_jitter_goes_down_and_the_box_stays_as_detected():
    rng = np.random.default_rng(0)
    raw = [_face(200.0 + i, jitter=float(rng.normal(0, 2))) for i in range(40)]
    out = _run(raw, lookahead=8, smooth=2)
    assert [f.bbox for f in out] == [f.bbox for f in raw]

    def shake(faces):  # frame-to-frame change of the keypoints beyond the steady 1 px a frame
        xs = np.array([f.keypoints[0, 0] for f in faces])
        return float(np.std(np.diff(xs)))

    assert shake(out) < 0.5 * shake(raw)
    lm = np.array([f.landmarks68[0, 0] for f in out])
    assert float(np.std(np.diff(lm))) < 0.5 * float(np.std(np.diff([f.landmarks68[0, 0] for f in raw])))


def test_steady_motion_is_not_delayed():
    raw = [_face(100.0 + 3 * i) for i in range(20)]
    out = _run(raw, lookahead=8, smooth=2)
    for a, b in zip(raw, out):
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-4)
        np.testing.assert_allclose(a.landmarks68, b.landmarks68, atol=1e-4)


def test_without_look_ahead_or_smoothing_faces_are_as_detected():
    rng = np.random.default_rng(1)
    raw = [_face(200.0, jitter=float(rng.normal(0, 2))) for i in range(10)]
    for lookahead, smooth in ((0, 2), (8, 0)):
        out = _run(raw, lookahead=lookahead, smooth=smooth)
        for a, b in zip(raw, out):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
