"""A grid of sample crops with their 7 keypoints drawn, so a curator sees what was chosen."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from ..shards import check_shards, list_shards
from ..shards.reader import lowest_resolution, read_shard

# nose, eyes, ears, shoulders (COCO order, as in the face shards), RGB
KEYPOINT_COLORS = [
    (255, 60, 60),
    (60, 200, 60),
    (60, 120, 255),
    (200, 200, 40),
    (200, 40, 200),
    (40, 200, 200),
    (255, 140, 0),
]


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
    """An RGB image of up to ``max_faces`` crops (smallest resolution, by face id), keypoints drawn.

    Shard by shard: the face ids first (one small column), then crops only from the shards that
    hold a chosen face.
    """
    shards = check_shards(list_shards(dataset_dir))
    if not shards:
        return None
    res = lowest_resolution(shards)
    ids, shard_of = [], []
    for k, shard in enumerate(shards):
        t = read_shard(shard, ["face_id", "resolution"])
        found = t.filter(pc.equal(t.column("resolution"), res)).column("face_id")
        ids.append(found)
        shard_of.append(np.full(len(found), k))
    all_ids = pa.chunked_array(ids, pa.string())
    shard_of = np.concatenate(shard_of)
    order = pc.sort_indices(all_ids).to_numpy()
    # Spread the samples over the whole (sorted) dataset rather than its first photos.
    step = max(1, len(order) // max_faces)
    picked = order[::step][:max_faces]
    chosen = all_ids.take(pa.array(picked)).combine_chunks()
    parts = []
    for k in sorted(set(shard_of[picked].tolist())):
        t = read_shard(shards[k], ["face_id", "resolution", "image", "keypoints", "bbox"])
        parts.append(
            t.filter(pc.and_(pc.equal(t.column("resolution"), res), pc.is_in(t.column("face_id"), value_set=chosen)))
        )
    rows = pa.concat_tables(parts).sort_by("face_id").to_pylist()
    n_rows = (len(rows) + columns - 1) // columns
    grid = np.full((n_rows * tile, columns * tile, 3), 255, dtype=np.uint8)
    for i, row in enumerate(rows):
        with Image.open(io.BytesIO(row["image"]["bytes"])) as img:
            crop = draw_keypoints(np.asarray(img.convert("RGB")), row["keypoints"], row["bbox"])
        crop = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, columns)
        grid[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = crop
    return grid
