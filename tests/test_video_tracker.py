"""Tracking: a face the detector misses for a few frames stays anonymized (hold, interpolate, back-fill)."""

import numpy as np
import pytest

from anonymizer.inference.detect import FaceBox
from anonymizer.video import FaceTracker, TrackedFrames, TrackerConfig
from anonymizer.video.tracker import iou


def true_box(t: int) -> tuple[float, float, float, float]:
    """A 40 px face walking right 6 px per frame."""
    x = 20 + 6 * t
    return (x, 50.0, x + 40.0, 90.0)


def covers(outer, inner, slack: float = 0.0) -> bool:
    return (
        outer[0] <= inner[0] + slack
        and outer[1] <= inner[1] + slack
        and outer[2] >= inner[2] - slack
        and outer[3] >= inner[3] - slack
    )


def run(frames: int, missing: set[int], lookahead: int, config: TrackerConfig | None = None):
    buf = TrackedFrames(lookahead, FaceTracker(config or TrackerConfig()))
    out = []
    for t in range(frames):
        dets = [] if t in missing else [FaceBox(true_box(t), 0.9)]
        out += buf.push(t, np.zeros((1, 1, 3), np.uint8), dets)
    out += buf.flush()
    assert [s.index for s in out] == list(range(frames))
    return out


def test_hold_keeps_a_box_through_missed_frames_without_lookahead():
    slots = run(20, missing={8, 9}, lookahead=0)
    for t in (8, 9):
        (face,) = slots[t].faces.values()
        assert iou(face.bbox, true_box(t)) > 0.5  # the held box still mostly covers the moving face
    assert all(len(s.faces) == 1 for s in slots)  # one track throughout


def test_interpolation_covers_the_face_through_a_longer_gap():
    missing = {10, 11, 12, 13, 14}
    slots = run(30, missing, lookahead=8)
    ids = {tid for s in slots for tid in s.faces}
    assert ids == {0}  # the face kept its track id (one latent for the whole clip)
    for t in missing:
        face = slots[t].faces[0]
        assert covers(face.bbox, true_box(t), slack=0.5), (t, face.bbox, true_box(t))


def test_without_tracking_the_gap_would_leak():
    """Control: the same gap with hold 0 and no look-ahead leaves the frames bare."""
    missing = {10, 11, 12, 13, 14}
    slots = run(30, missing, lookahead=0, config=TrackerConfig(hold_frames=0))
    assert all(not slots[t].faces for t in missing)


def test_back_fill_covers_frames_before_the_first_detection():
    slots = run(12, missing={0, 1, 2}, lookahead=4)
    for t in (0, 1, 2):
        assert slots[t].faces, f"frame {t} before the first detection has no box"
    assert 0 in slots[3].faces


def test_track_ends_after_hold_and_two_faces_keep_their_ids():
    tracker = FaceTracker(TrackerConfig(hold_frames=2))
    a, b = (0, 0, 30, 30), (100, 0, 130, 30)
    first = tracker.update(0, [FaceBox(a, 0.9), FaceBox(b, 0.9)])
    ids = {f.face.bbox: f.track_id for f in first}
    second = tracker.update(1, [FaceBox((102, 1, 132, 31), 0.9), FaceBox((2, 1, 32, 31), 0.9)])
    assert {f.track_id for f in second if f.face.bbox[0] > 50} == {ids[b]}
    for t in (2, 3):
        assert len(tracker.update(t, [])) == 2  # held
    assert tracker.update(4, []) == []  # hold of 2 frames is over


def test_tracker_config_is_checked():
    with pytest.raises(ValueError):
        TrackerConfig(min_iou=0)
    with pytest.raises(ValueError):
        TrackerConfig(hold_frames=-1)
