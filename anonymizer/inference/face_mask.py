"""gan mode's face mask: replace the face itself, keep hair and background, hide the edge.

DeepPrivacy generates a whole square hole but shows only the face: a square pasted into a photo
is the most visible thing about it, and the hair and background around a face carry no more
identity than the rest of the photo, which is kept anyway. The mask is

* **solid** (weight 1, replaced outright) over the face: the convex hull of dlib's jaw line
  (points 0-16) and of the brows (17-26) raised by ``forehead`` times the eye-to-chin distance
  (the landmarks stop at the brows; the forehead above them is skin that identifies as much as
  the cheeks), grown by ``margin`` times the face size. Where the landmarks cannot be trusted
  (small or turned-away faces, held video boxes that have none, a fit that wandered off the box)
  an ellipse through the corners of the face box, grown the same way, stands in. The detected
  face box itself is solid too (``box``), so the mask never replaces less than the box did;
  without it, the box's corners outside the outline (hair, background) keep the photo, and a
  box edge across the hair no longer shows as a straight line;
* clipped to the generator's hole (``region.core``): outside it the generated crop only holds a
  low-resolution copy of the photo, which must not stand in for face pixels;
* **soft** outside that: the weight falls from 1 to 0 over ``feather`` times the face size
  (a smoothstep of the distance to the solid part, so the edge has no kink), and the paste box is
  grown when needed so that the band ends at weight 0 inside it.

Sizes are fractions of the face size, the longer side of the detected face box.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import cv2
import numpy as np

from anonymizer.generator.outline import (
    FOREHEAD,
    MAX_LANDMARK_YAW,
    MIN_LANDMARK_FACE,
    MIN_LANDMARK_IOU,
    face_size,
    landmarks_usable,
    outline_points,
    outline_solid,
)

from .regions import FaceRegion, clip_box

log = logging.getLogger(__name__)

__all__ = [
    "MAX_LANDMARK_YAW",
    "MIN_LANDMARK_FACE",
    "MIN_LANDMARK_IOU",
    "FaceMaskParams",
    "face_size",
    "landmarks_usable",
    "masked_region",
    "outline_points",
    "soft_weights",
]


@dataclass(frozen=True)
class FaceMaskParams:
    """Shape of the face mask, in fractions of the face size (see module doc)."""

    margin: float = 0.05  # grow the face outline (hull or ellipse) by this much
    forehead: float = FOREHEAD  # raise the brows by this fraction of the eye-to-chin distance
    feather: float = 0.1  # width of the band where the weight falls from 1 to 0
    box: bool = True  # the detected face box is always replaced too


def _solid(window, bbox, landmarks68, yaw, params: FaceMaskParams) -> tuple[np.ndarray, bool]:
    """Boolean mask over ``window`` (x0, y0, x1, y1) of the face grown by the margin, and whether
    the landmarks drew it (False: the ellipse)."""
    x0, y0, x1, y1 = window
    used = landmarks_usable(landmarks68, bbox, yaw)
    solid = outline_solid(
        (y1 - y0, x1 - x0), bbox, landmarks68 if used else None, params.margin, params.forehead, (x0, y0), params.box
    )
    return solid, used


def soft_weights(solid: np.ndarray, feather_px: float) -> np.ndarray:
    """Float32 weights: 1 on ``solid``, a smoothstep down to 0 over ``feather_px`` pixels outside it."""
    if feather_px <= 0 or not solid.any():
        return solid.astype(np.float32)
    dist = cv2.distanceTransform((~solid).astype(np.uint8), cv2.DIST_L2, 5)
    t = np.clip(1.0 - dist / float(feather_px), 0.0, 1.0)
    weights = (t * t * (3.0 - 2.0 * t)).astype(np.float32)
    weights[solid] = 1.0
    # The far end of the band keeps the photo exactly (no float round trip).
    weights[weights < 1e-3] = 0.0
    return weights


def masked_region(
    region: FaceRegion,
    bbox,
    landmarks68: np.ndarray | None,
    image_shape,
    params: FaceMaskParams,
    yaw: float | None = None,
) -> FaceRegion:
    """``region`` with the face mask as its blend weights (see module doc). The paste box grows
    where the feather band would reach past it; the core (the generator's hole) stays."""
    height, width = int(image_shape[0]), int(image_shape[1])
    band = math.ceil(params.feather * face_size(bbox)) + 1
    cx0, cy0, cx1, cy1 = region.core
    px0, py0, px1, py1 = region.paste
    paste = clip_box(
        min(px0, cx0 - band), min(py0, cy0 - band), max(px1, cx1 + band), max(py1, cy1 + band), width, height
    )
    solid, used = _solid(paste, bbox, landmarks68, yaw, params)
    hole = np.zeros_like(solid)
    hole[cy0 - paste[1] : cy1 - paste[1], cx0 - paste[0] : cx1 - paste[0]] = True
    solid &= hole
    if not used:
        log.debug("face at %s: ellipse mask (no usable landmarks)", tuple(round(float(v)) for v in bbox))
    weights = soft_weights(solid, params.feather * face_size(bbox))
    return FaceRegion(region.core, paste, weights)
