"""Steadier faces across frames: a track's keypoints and landmarks averaged over the frames on
either side.

The detector's points jitter by a pixel or two from frame to frame. The carried face is warped
by its keypoints and shown under a mask drawn from its landmarks (:mod:`.carry`,
:mod:`anonymizer.inference.face_mask`), so that jitter became a face that shook inside a mask
whose edge shook. Each emitted face takes the weighted mean of its track's points over a window
that is always symmetric (``radius`` frames each side, fewer where the look-ahead buffer or the
track's history is shorter), so smoothing adds no lag on steady motion; with no look-ahead there
is nothing to average. The face box is left as detected: what is replaced outright does not move.
"""

from __future__ import annotations

import dataclasses
from collections import deque

import numpy as np

from anonymizer.inference.detect import FaceBox


def _weights(radius: int) -> np.ndarray:
    """Triangular weights over 2 * radius + 1 frames (1, 2, ..., radius + 1, ..., 2, 1)."""
    return np.array([radius + 1 - abs(k) for k in range(-radius, radius + 1)], np.float32)


def smoothed(face: FaceBox, before: list[FaceBox], after: list[FaceBox]) -> FaceBox:
    """``face`` with keypoints (x, y) and landmarks averaged with its track's faces ``before``
    (nearest last) and ``after`` (nearest first), over the widest symmetric window they allow."""
    if face.keypoints is None:
        return face
    radius = 0
    while (
        radius < min(len(before), len(after))
        and before[-1 - radius].keypoints is not None
        and after[radius].keypoints is not None
    ):
        radius += 1
    if radius == 0:
        return face
    window = [*before[len(before) - radius :], face, *after[:radius]]
    w = _weights(radius)[:, None, None]
    keypoints = face.keypoints.copy()
    keypoints[:, :2] = (w * np.stack([f.keypoints[:, :2] for f in window])).sum(0) / w.sum()
    landmarks = face.landmarks68
    if landmarks is not None and all(f.landmarks68 is not None for f in window):
        landmarks = ((w * np.stack([np.asarray(f.landmarks68, np.float32) for f in window])).sum(0) / w.sum()).astype(
            np.float32
        )
    return dataclasses.replace(face, keypoints=keypoints.astype(face.keypoints.dtype), landmarks68=landmarks)


class TrackSmoother:
    """Remembers each track's last ``radius`` emitted faces (as detected, not smoothed)."""

    def __init__(self, radius: int) -> None:
        self.radius = radius
        self._recent: dict[int, deque[tuple[int, FaceBox]]] = {}

    def emit(self, index: int, faces: dict[int, FaceBox], upcoming: list[tuple[int, dict[int, FaceBox]]]) -> dict:
        """The faces of frame ``index`` smoothed with the frames before it and ``upcoming``
        (the look-ahead buffer: (index, faces) in order)."""
        if self.radius == 0:
            return faces
        out = {}
        for track, face in faces.items():
            recent = self._recent.setdefault(track, deque(maxlen=self.radius))
            before = _consecutive(dict(recent), index, -1)
            after = _consecutive({i: f[track] for i, f in upcoming[: self.radius] if track in f}, index, +1)
            out[track] = smoothed(face, before, after)
            recent.append((index, face))
        return out


def _consecutive(by_frame: dict[int, FaceBox], index: int, step: int) -> list[FaceBox]:
    """The run of faces on the frames right next to ``index`` going ``step``-wards, in
    ``before``/``after`` order (nearest last before, nearest first after); a gap ends it."""
    pairs = by_frame
    run = []
    k = index + step
    while k in pairs:
        run.append(pairs[k])
        k += step
    return run[::-1] if step < 0 else run
