"""FDF's 7 keypoints, in COCO order, derived from 68 landmarks and head pose.

Order: nose, left eye, right eye, left ear, right ear, left shoulder, right shoulder. COCO's
"left" is the *subject's* left, which appears on the *image right* in a photo of a face looking at
the camera. So COCO's left eye is iBUG points 42-47 and its left ear the jaw end 16; COCO's right
eye is 36-41 and its right ear jaw end 0.

Each row is (x, y, visible). Ears are marked visible only when the head is not turned away
from them by more than :data:`EAR_HIDDEN_YAW` degrees (yaw sign: see :mod:`fdf.annotate.pose`;
positive yaw turns the subject's left ear away from the camera). Shoulders cannot be
derived from a face and are always (0, 0, 0): we do not invent them.
"""

from __future__ import annotations

import numpy as np

KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder")
#: Beyond this yaw (degrees) the ear on the far side of the head is taken as hidden.
EAR_HIDDEN_YAW = 30.0


def keypoints_from_landmarks(landmarks68: np.ndarray, yaw: float | None) -> np.ndarray:
    """7x3 float32 keypoints (x, y, visible) in photo pixels from 68 landmarks and yaw (degrees)."""
    lm = np.asarray(landmarks68, dtype=np.float32)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks68 must be 68x2, got {lm.shape}")
    kp = np.zeros((7, 3), dtype=np.float32)
    kp[0, :2] = lm[30]
    kp[1, :2] = lm[42:48].mean(0)  # subject's left eye: image right
    kp[2, :2] = lm[36:42].mean(0)  # subject's right eye: image left
    kp[3, :2] = lm[16]
    kp[4, :2] = lm[0]
    kp[:3, 2] = 1.0
    if yaw is not None and np.isfinite(yaw):
        kp[3, 2] = float(yaw <= EAR_HIDDEN_YAW)
        kp[4, 2] = float(yaw >= -EAR_HIDDEN_YAW)
    kp[kp[:, 2] == 0, :2] = 0.0
    return kp


def keypoints_from_given(points) -> np.ndarray:
    """7x3 keypoints from caller-given 7x2 (or 7x3, or flat 14/21) points, e.g. FDF metainfo.

    Non-finite or negative coordinates, or a visibility of 0, mean not visible.
    """
    pts = np.asarray(points, dtype=np.float32)
    if pts.ndim == 1 and pts.size in (14, 21):
        pts = pts.reshape(7, -1)
    if pts.ndim != 2 or pts.shape[0] != 7 or pts.shape[1] < 2:
        raise ValueError(f"given keypoints must be 7x2 (or 7x3), got shape {pts.shape}")
    kp = np.zeros((7, 3), dtype=np.float32)
    ok = np.isfinite(pts[:, :2]).all(1) & (pts[:, :2] >= 0).all(1)
    if pts.shape[1] >= 3:
        ok &= pts[:, 2] > 0
    kp[ok, :2] = pts[ok, :2]
    kp[ok, 2] = 1.0
    return kp
