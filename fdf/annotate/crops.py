"""FDF face crops: square, expanded, shifted into the photo, zero-padded where it cannot be.

The recipe follows FDF / DeepPrivacy v1 (Hukkelås et al. 2019): make the face box square around
its centre (longer side), expand it by 0.35 of that side on every side, shift the square so it
lies inside the photo when the photo is large enough along that axis, otherwise keep it centred
and fill the part outside the photo with zeros; then resize to the training resolution.
"""

from __future__ import annotations

import cv2
import numpy as np

FDF_EXPANSION = 0.35


def expand_fdf_box(bbox, image_shape, expansion: float = FDF_EXPANSION) -> tuple[int, int, int, int]:
    """The FDF crop box (x0, y0, x1, y1) in photo pixels, square, for face ``bbox``.

    ``image_shape`` is the photo's (height, width[, channels]). The box may extend beyond the
    photo only along an axis where the photo is shorter than the square.
    """
    x0, y0, x1, y1 = (float(v) for v in bbox)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"face box must have x1 > x0 and y1 > y0, got {tuple(bbox)}")
    if expansion < 0:
        raise ValueError(f"expansion must be >= 0, got {expansion}")
    height, width = int(image_shape[0]), int(image_shape[1])
    side = int(round(max(x1 - x0, y1 - y0) * (1 + 2 * expansion)))
    side = max(side, 1)
    start = []
    for centre, extent in (((x0 + x1) / 2, width), ((y0 + y1) / 2, height)):
        s = int(round(centre - side / 2))
        if side <= extent:
            s = min(max(s, 0), extent - side)  # shift inside rather than pad
        start.append(s)
    return start[0], start[1], start[0] + side, start[1] + side


def cut_with_padding(image: np.ndarray, box) -> np.ndarray:
    """Pixels of ``image`` inside integer ``box``; parts outside the photo are zeros."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = image.shape[:2]
    out = np.zeros((y1 - y0, x1 - x0) + image.shape[2:], dtype=image.dtype)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def make_fdf_crop(image: np.ndarray, bbox, resolution: int = 128, expansion: float = FDF_EXPANSION):
    """Cut the FDF crop of the face in ``bbox``: (uint8 res x res x 3 crop, crop box in photo px)."""
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    box = expand_fdf_box(bbox, image.shape, expansion)
    square = cut_with_padding(image, box)
    side = box[2] - box[0]
    interp = cv2.INTER_AREA if side > resolution else cv2.INTER_LINEAR
    crop = cv2.resize(square, (resolution, resolution), interpolation=interp)
    return crop, box


def to_crop_coords(points, crop_box, resolution: int) -> np.ndarray:
    """Map photo-pixel points (N x 2, or N x 3 with visibility kept as is) into crop pixels."""
    pts = np.array(points, dtype=np.float32, copy=True)
    x0, y0, x1, _ = crop_box
    scale = resolution / float(x1 - x0)
    pts[..., 0] = (pts[..., 0] - x0) * scale
    pts[..., 1] = (pts[..., 1] - y0) * scale
    return pts


def to_photo_coords(points, crop_box, resolution: int) -> np.ndarray:
    """Inverse of :func:`to_crop_coords`: crop pixels back to photo pixels."""
    pts = np.array(points, dtype=np.float32, copy=True)
    x0, y0, x1, _ = crop_box
    scale = float(x1 - x0) / resolution
    pts[..., 0] = pts[..., 0] * scale + x0
    pts[..., 1] = pts[..., 1] * scale + y0
    return pts
