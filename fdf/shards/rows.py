"""Turn one analysed face and its crops into face-shard rows (one per resolution).

The analysis gives coordinates in photo pixels; rows store the face box, keypoints and
landmarks in crop pixels, so a training loader needs nothing but the row.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from PIL import Image

from .phash import dhash

# Photo-level columns copied onto every face row (row name <- download-table name).
PHOTO_COLUMNS = {
    "source": "source",
    "license_id": "license_id",
    "license_name": "license_name",
    "license_url": "license_url",
    "owner_nsid": "owner_nsid",
    "owner_name": "owner_name",
    "title": "title",
    "photo_url": "page_url",
    "date_taken": "date_taken",
    "date_uploaded": "date_uploaded",
    "photo_width": "width",
    "photo_height": "height",
}


def field(obj: Any, name: str, default=None):
    """Read ``name`` from a dataclass-like object or a mapping; ``default`` when absent."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def photo_to_crop(points, crop_box, resolution: int) -> np.ndarray:
    """Map photo-pixel (x, y) points to pixels of a ``resolution``-sided crop of ``crop_box``.

    Extra columns (e.g. a visibility flag) pass through unchanged.
    """
    pts = np.array(points, dtype=np.float64).reshape(-1, np.shape(points)[-1])
    x0, y0, x1, y1 = (float(v) for v in crop_box)
    sx, sy = resolution / (x1 - x0), resolution / (y1 - y0)
    out = pts.copy()
    out[:, 0] = (pts[:, 0] - x0) * sx
    out[:, 1] = (pts[:, 1] - y0) * sy
    return out


def box_to_crop(box, crop_box, resolution: int) -> list[float]:
    """Map an (x0, y0, x1, y1) photo-pixel box into crop pixels."""
    corners = photo_to_crop(np.array(box, dtype=np.float64).reshape(2, 2), crop_box, resolution)
    return [float(v) for v in corners.reshape(-1)]


def encode_png(image: np.ndarray) -> bytes:
    """Encode an HxWx3 uint8 RGB array as PNG (lossless: crops are training data)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _float_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _nested(values) -> list[list[float]] | None:
    if values is None:
        return None
    return [[float(v) for v in row] for row in np.asarray(values, dtype=np.float64)]


def photo_fields(photo: Mapping) -> dict:
    """The photo-level columns of a face row, taken from a download-table row."""
    return {name: photo.get(src) for name, src in PHOTO_COLUMNS.items()}


def face_rows(
    photo: Mapping,
    face_index: int,
    face: Any,
    crops: Mapping[int, tuple[np.ndarray, Any]],
    split: str,
) -> list[dict]:
    """Rows for one face: one per resolution in ``crops`` ({resolution: (crop, crop_box)}).

    ``face`` is a FaceAnalysis (or a mapping with the same field names).
    """
    photo_id = str(photo["photo_id"])
    bbox_photo = [float(v) for v in field(face, "bbox")]
    keypoints = field(face, "keypoints")
    landmarks = field(face, "landmarks68")
    expression, quality = field(face, "expression"), field(face, "quality")
    embedding = field(face, "embedding")
    common = {
        "face_id": f"{photo_id}_{face_index}",
        "photo_id": photo_id,
        "face_index": face_index,
        "split": split,
        "bbox_photo": bbox_photo,
        "detector": field(face, "detector"),
        "score": _float_or_none(field(face, "score")),
        "embedding": None if embedding is None else [float(v) for v in np.asarray(embedding).ravel()],
        **{k: _float_or_none(field(face, k)) for k in ("yaw", "pitch", "roll")},
        **{k: _float_or_none(field(expression, k)) for k in ("mouth_open", "eye_open", "smile")},
        **{k: _float_or_none(field(quality, k)) for k in ("face_size", "sharpness", "exposure", "landmark_fit")},
        **photo_fields(photo),
    }
    rows = []
    for resolution in sorted(crops):
        crop, crop_box = crops[resolution]
        if crop.shape[:2] != (resolution, resolution):
            raise ValueError(f"crop for resolution {resolution} has shape {crop.shape[:2]}")
        rows.append(
            {
                **common,
                "resolution": resolution,
                "image": {"bytes": encode_png(crop), "path": f"{photo_id}_{face_index}_{resolution}.png"},
                "dhash": dhash(crop),
                "crop_photo": [float(v) for v in crop_box],
                "bbox": box_to_crop(bbox_photo, crop_box, resolution),
                "keypoints": None if keypoints is None else _nested(photo_to_crop(keypoints, crop_box, resolution)),
                "landmarks68": None if landmarks is None else _nested(photo_to_crop(landmarks, crop_box, resolution)),
            }
        )
    return rows
