"""A grid of sample crops with their 7 keypoints drawn, so a curator sees what was chosen."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as pads
from PIL import Image

from ..shards import list_shards

# nose, eyes, ears, shoulders (COCO order, as in the face shards), RGB
KEYPOINT_COLORS = [(255, 60, 60), (60, 200, 60), (60, 120, 255), (200, 200, 40), (200, 40, 200),
                   (40, 200, 200), (255, 140, 0)]


def draw_keypoints(crop: np.ndarray, keypoints, bbox=None) -> np.ndarray:
    """Copy of ``crop`` with its face box and visible keypoints drawn."""
    out = np.ascontiguousarray(crop.copy())
    radius = max(2, out.shape[0] // 64)
    if bbox is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in bbox)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), 1)
    for (x, y, *vis), color in zip(keypoints or [], KEYPOINT_COLORS):
        if (not vis or vis[0] > 0) and np.isfinite(x) and np.isfinite(y):
            cv2.circle(out, (int(round(x)), int(round(y))), radius, color, -1)
    return out


def sample_grid(dataset_dir, max_faces: int = 48, columns: int = 8, tile: int = 128) -> np.ndarray | None:
    """An RGB image of up to ``max_faces`` crops (smallest resolution, by face id), keypoints drawn."""
    shards = list_shards(dataset_dir)
    if not shards:
        return None
    ds = pads.dataset([str(p) for p in shards], format="parquet")
    meta = ds.to_table(columns=["face_id", "resolution"])
    res = pc.min(meta.column("resolution")).as_py()
    ids = sorted(meta.filter(pc.equal(meta.column("resolution"), res)).column("face_id").to_pylist())
    # Spread the samples over the whole (sorted) dataset rather than its first photos.
    step = max(1, len(ids) // max_faces)
    chosen = ids[::step][:max_faces]
    rows = ds.to_table(columns=["face_id", "image", "keypoints", "bbox"],
                       filter=(pads.field("resolution") == res) & pads.field("face_id").isin(chosen))
    rows = rows.sort_by("face_id").to_pylist()
    n_rows = (len(rows) + columns - 1) // columns
    grid = np.full((n_rows * tile, columns * tile, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        with Image.open(io.BytesIO(row["image"]["bytes"])) as img:
            crop = draw_keypoints(np.asarray(img.convert("RGB")), row["keypoints"], row["bbox"])
        crop = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, columns)
        grid[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = crop
    return grid
