"""Expression scores from 68 landmarks: continuous, scale-free, no thresholds.

* ``mouth_open``: distance between the inner lips (mean of 61-63 to mean of 65-67) divided by
  face height (nasion 27 to chin 8). About 0 closed, 0.1-0.4 open.
* ``eye_open``: mean eye aspect ratio of both eyes, (|p37-p41| + |p38-p40|) / (2 |p36-p39|)
  and the same for 42-47. About 0.3 open, below 0.15 closed.
* ``smile``: mouth width (corners 48-54) divided by the distance between the eye centres. About
  0.8-0.9 neutral, above 1 for a wide smile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Expression:
    """Continuous expression scores (see module docstring for their meaning)."""

    mouth_open: float
    eye_open: float
    smile: float


def _dist(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)))


def _eye_aspect_ratio(eye: np.ndarray) -> float:
    width = _dist(eye[0], eye[3])
    return (_dist(eye[1], eye[5]) + _dist(eye[2], eye[4])) / (2 * width) if width > 0 else float("nan")


def expression_scores(landmarks68: np.ndarray) -> Expression:
    """Mouth opening, eye opening and smile scores from 68 landmarks (photo pixels)."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks68 must be 68x2, got {lm.shape}")
    face_height = _dist(lm[27], lm[8])
    gap = _dist(lm[61:64].mean(0), lm[65:68].mean(0))
    interocular = _dist(lm[36:42].mean(0), lm[42:48].mean(0))
    nan = float("nan")
    return Expression(
        mouth_open=gap / face_height if face_height > 0 else nan,
        eye_open=float(np.nanmean([_eye_aspect_ratio(lm[36:42]), _eye_aspect_ratio(lm[42:48])])),
        smile=_dist(lm[48], lm[54]) / interocular if interocular > 0 else nan,
    )
