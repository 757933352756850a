"""What the generator is allowed to see: the crop with the face box masked out, the mask, and
one map per visible keypoint.

Pixel values are floats in [-1, 1]. The mask is 1 where the photo is known and 0 inside the
face box, so ``image * mask`` is the masked crop. Masking happens here, before any network
runs: the generator never receives the original face pixels.
"""

from __future__ import annotations

import numpy as np
import torch

NUM_KEYPOINTS = 7
#: Index pairs swapped by a horizontal flip (COCO order: subject's left <-> right).
FLIP_PAIRS = ((1, 2), (3, 4), (5, 6))
#: Channels of the condition tensor: masked RGB, mask, keypoint maps.
CONDITION_CHANNELS = 3 + 1 + NUM_KEYPOINTS


def box_mask(boxes: torch.Tensor, resolution: int) -> torch.Tensor:
    """N x 1 x R x R float mask: 0 on every pixel the box (x0, y0, x1, y1) touches, 1 elsewhere.

    Partly covered pixels count as inside, so no sliver of the original face survives.
    """
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    coords = torch.arange(resolution, dtype=torch.float32, device=boxes.device)
    # Pixel i covers [i, i+1): it is touched when i+1 > x0 and i < x1.
    x_in = (coords[None] + 1 > boxes[:, 0:1]) & (coords[None] < boxes[:, 2:3])
    y_in = (coords[None] + 1 > boxes[:, 1:2]) & (coords[None] < boxes[:, 3:4])
    inside = y_in[:, :, None] & x_in[:, None, :]
    return (~inside).float()[:, None]


def grow_boxes(boxes: torch.Tensor, fraction: float, resolution: int) -> torch.Tensor:
    """Boxes grown by ``fraction`` of their width (height) on the left and right (top and bottom),
    clipped to the crop: the region a model trained with ``mask_dilation=fraction`` fills."""
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    if fraction <= 0:
        return boxes
    dx = (boxes[:, 2] - boxes[:, 0]) * fraction
    dy = (boxes[:, 3] - boxes[:, 1]) * fraction
    grown = torch.stack([boxes[:, 0] - dx, boxes[:, 1] - dy, boxes[:, 2] + dx, boxes[:, 3] + dy], dim=1)
    return grown.clamp(0, resolution)


def keypoint_maps(keypoints: torch.Tensor, resolution: int) -> torch.Tensor:
    """N x 7 x R x R one-hot maps: a 1 at each visible keypoint's pixel, nothing for hidden ones."""
    keypoints = torch.as_tensor(keypoints, dtype=torch.float32).reshape(-1, NUM_KEYPOINTS, 3)
    n = keypoints.shape[0]
    maps = torch.zeros(n, NUM_KEYPOINTS, resolution * resolution, device=keypoints.device)
    x = keypoints[..., 0].floor().long()
    y = keypoints[..., 1].floor().long()
    visible = (keypoints[..., 2] > 0) & (x >= 0) & (x < resolution) & (y >= 0) & (y < resolution)
    flat = y.clamp(0, resolution - 1) * resolution + x.clamp(0, resolution - 1)
    maps.scatter_(2, flat[..., None], visible[..., None].float())
    return maps.view(n, NUM_KEYPOINTS, resolution, resolution)


def to_float_image(images_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float in [-1, 1]."""
    return images_uint8.float() / 127.5 - 1.0


def to_uint8_image(images: torch.Tensor) -> torch.Tensor:
    """float N x 3 x H x W in [-1, 1] -> uint8 N x H x W x 3 (clamped, rounded)."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def build_condition(
    images: torch.Tensor, boxes: torch.Tensor, keypoints: torch.Tensor, known: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Condition (N x 11 x R x R: masked RGB, mask, keypoint maps) and the mask (N x 1 x R x R).

    ``images`` are floats in [-1, 1], N x 3 x R x R; boxes and keypoints in pixels of R. The hole
    is the boxes, or ``known`` where given (N x 1 x R x R, 0 on the hole: an outline hole from
    :func:`anonymizer.generator.outline.outline_known`).
    """
    resolution = images.shape[-1]
    mask = (box_mask(boxes, resolution) if known is None else known.float()).to(images.device)
    maps = keypoint_maps(keypoints, resolution).to(images.device)
    return torch.cat([images * mask, mask, maps], dim=1), mask


def check_inputs(crops: np.ndarray, boxes: np.ndarray, keypoints: np.ndarray, resolution: int) -> None:
    """Raise ValueError saying what is wrong with a batch given to the generator."""
    crops, boxes, keypoints = np.asarray(crops), np.asarray(boxes), np.asarray(keypoints)
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (resolution, resolution, 3):
        raise ValueError(f"crops must be uint8 N x {resolution} x {resolution} x 3, got {crops.dtype} {crops.shape}")
    n = crops.shape[0]
    if boxes.shape != (n, 4):
        raise ValueError(f"boxes must be N x 4 (x0, y0, x1, y1) with N={n}, got {boxes.shape}")
    if keypoints.shape != (n, NUM_KEYPOINTS, 3):
        raise ValueError(f"keypoints must be N x 7 x 3 (x, y, visible) with N={n}, got {keypoints.shape}")
    if not (np.isfinite(boxes).all() and (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()):
        raise ValueError("every box needs finite coordinates with x1 > x0 and y1 > y0")
