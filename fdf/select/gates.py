"""Quality gates: drop faces too small, too blurry or with landmarks that slid off the face.

Defaults follow FDF: the expanded crop must be at least 128 photo pixels wide for FDF128 (no
upsampled crops); FDF256 also asks for faces of at least 64 pixels (``min_face_px``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

GATE_REASONS = ("crop_too_small", "face_too_small", "blurry", "landmarks_off", "low_score")


@dataclass
class GateConfig:
    """Thresholds; a measure that is missing (NaN) passes its gate, since it cannot judge."""

    min_crop_px: float = 128.0  # side of the expanded FDF crop, photo pixels
    min_face_px: float = 0.0  # face_size (geometric mean of box sides); FDF256 uses 64
    min_sharpness: float = 10.0  # variance of the Laplacian at 64x64; blurry faces score < ~50
    max_landmark_fit: float = 0.5  # ~0.1 when landmarks and detector agree
    min_score: float = 0.0


def crop_side(crop_photo: pd.Series) -> np.ndarray:
    """Width of each expanded crop box (x0, y0, x1, y1) in photo pixels."""
    boxes = np.array([list(b) if b is not None else [np.nan] * 4 for b in crop_photo], dtype=np.float64)
    return boxes[:, 2] - boxes[:, 0] if len(boxes) else np.zeros(0)


def gate_reasons(faces: pd.DataFrame, config: GateConfig) -> pd.Series:
    """The first failed gate of each face ('crop_too_small', ...), or None when all pass.

    The crop width is read from a ``crop_side`` column when ``faces`` has one (as the select
    stage's compact per-face state does), else from the ``crop_photo`` boxes.
    """
    side = faces["crop_side"].to_numpy(dtype=float) if "crop_side" in faces else crop_side(faces["crop_photo"])
    checks = [
        ("crop_too_small", side < config.min_crop_px),
        ("face_too_small", faces["face_size"].to_numpy(dtype=float) < config.min_face_px),
        ("blurry", faces["sharpness"].to_numpy(dtype=float) < config.min_sharpness),
        ("landmarks_off", faces["landmark_fit"].to_numpy(dtype=float) > config.max_landmark_fit),
        ("low_score", faces["score"].to_numpy(dtype=float) < config.min_score),
    ]
    reasons = pd.Series([None] * len(faces), index=faces.index, dtype=object)
    # Reverse order so the first gate in the list wins when several fail (NaN compares False).
    for name, failed in reversed(checks):
        reasons[np.asarray(failed, dtype=bool)] = name
    return reasons
