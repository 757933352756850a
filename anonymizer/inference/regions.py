"""Face regions: the dilated box that is fully replaced, and a feathered margin around it.

Every pixel inside a face's region is replaced outright (weight 1); in the feather margin the
replacement is blended in linearly; beyond the margin the photo is untouched, bit for bit.
Regions are integer pixel boxes clipped to the photo.

A region may instead carry its own blend weights over the paste box (gan mode's face mask,
:mod:`.face_mask`): then the pixels of weight 1 are replaced outright and the rest of the core
may keep the photo (hair, background). Pixels outside the paste box are never touched either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class FaceRegion:
    """``core``: box the replacement is made for (the generator's hole); ``paste``: core plus
    feather margin; (x0, y0, x1, y1), half-open. ``weights``: float32 blend weights over the paste
    box (None: 1 on the core, a linear feather around it, see :func:`feather_weights`)."""

    core: tuple[int, int, int, int]
    paste: tuple[int, int, int, int]
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def core_size(self) -> int:
        return max(self.core[2] - self.core[0], self.core[3] - self.core[1])

    def boxed(self) -> FaceRegion:
        """The same boxes with the box feather (what blur and mask fallbacks are drawn with)."""
        return self if self.weights is None else replace(self, weights=None)


def dilate_box(bbox, dilation: float) -> tuple[float, float, float, float]:
    """Grow a box by ``dilation`` times its width (height) on the left and right (top and bottom)."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    dx, dy = (x1 - x0) * dilation, (y1 - y0) * dilation
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


def clip_box(x0, y0, x1, y1, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer box covering the float box (outward rounding), clipped to ``width`` x ``height``."""
    return (
        min(max(int(math.floor(x0)), 0), width),
        min(max(int(math.floor(y0)), 0), height),
        min(max(int(math.ceil(x1)), 0), width),
        min(max(int(math.ceil(y1)), 0), height),
    )


#: A box side within this many pixels of the image border is cut by it (see :func:`past_edge`).
EDGE_PX = 1.0


def past_edge(bbox, width: int, height: int) -> tuple[float, float, float, float]:
    """The whole face of a box the image border cuts: a detector boxes only the visible part, so
    a face half out of the frame gets a narrow box, and a dilation in proportion to it left the
    visible half's far side uncovered (an independent recogniser re-identified such faces). The
    cut side is extended past the border until the box is as long as it is high (or high as it
    is long); what lies outside the image is clipped later."""
    x0, y0, x1, y1 = (float(v) for v in bbox)
    w, h = x1 - x0, y1 - y0
    if w < h:
        if x0 <= EDGE_PX and x1 < width - EDGE_PX:
            x0 = x1 - h
        elif x1 >= width - EDGE_PX and x0 > EDGE_PX:
            x1 = x0 + h
    elif h < w:
        if y0 <= EDGE_PX and y1 < height - EDGE_PX:
            y0 = y1 - w
        elif y1 >= height - EDGE_PX and y0 > EDGE_PX:
            y1 = y0 + w
    return x0, y0, x1, y1


def face_region(bbox, image_shape, dilation: float = 0.15, feather: float = 0.1) -> FaceRegion:
    """Region for a face box: dilated core, and a margin of ``feather`` x the core's longer side.
    A box cut by the image border is first extended past it (:func:`past_edge`)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    core_f = dilate_box(past_edge(bbox, width, height), dilation)
    core = clip_box(*core_f, width, height)
    margin = feather * max(core_f[2] - core_f[0], core_f[3] - core_f[1])
    margin = math.ceil(margin) if feather > 0 else 0
    paste = clip_box(core[0] - margin, core[1] - margin, core[2] + margin, core[3] + margin, width, height)
    return FaceRegion(core, paste)


def feather_weights(region: FaceRegion) -> np.ndarray:
    """Float32 weights over ``region.paste``: 1 on the core, falling linearly to 0 at the paste edge."""
    px0, py0, px1, py1 = region.paste
    cx0, cy0, cx1, cy1 = region.core

    def axis(p0, p1, c0, c1):
        pos = np.arange(p0, p1, dtype=np.float32) + 0.5
        # Distance outside the core, in pixels; the ramp length is the wider of the two margins.
        before, after = c0 - p0, p1 - c1
        dist = np.maximum(np.maximum(c0 - pos, pos - c1), 0.0)
        # The outermost pixel's centre lies ramp - 0.5 from the core: its weight is exactly 0.
        ramp = float(max(before, after, 1)) - 0.5
        return np.clip(1.0 - dist / ramp, 0.0, 1.0)

    wy = axis(py0, py1, cy0, cy1)
    wx = axis(px0, px1, cx0, cx1)
    weights = np.minimum(wy[:, None], wx[None, :])
    # Pixels on the outer border of the margin must stay exactly original.
    weights[weights < 1e-3] = 0.0
    return weights


def blend_weights(region: FaceRegion) -> np.ndarray:
    """Float32 weights over ``region.paste``: the region's own, else :func:`feather_weights`."""
    return feather_weights(region) if region.weights is None else region.weights


def boxes_mask(boxes, image_shape) -> np.ndarray:
    """Boolean HxW mask of the pixels inside any of ``boxes`` (integer x0, y0, x1, y1)."""
    mask = np.zeros(image_shape[:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def union_mask(regions: list[FaceRegion], image_shape) -> np.ndarray:
    """Boolean HxW mask of all pixels any region may change (their paste boxes)."""
    return boxes_mask([r.paste for r in regions], image_shape)


def core_mask(regions: list[FaceRegion], image_shape) -> np.ndarray:
    """Boolean HxW mask of the pixels replaced outright."""
    return boxes_mask([r.core for r in regions], image_shape)


def replaced_mask(regions: list[FaceRegion], image_shape) -> np.ndarray:
    """Boolean HxW mask of the pixels replaced outright (blend weight 1): the core of a boxed
    region, the face mask's solid part of a masked one."""
    mask = np.zeros(image_shape[:2], dtype=bool)
    for region in regions:
        x0, y0, x1, y1 = region.paste
        mask[y0:y1, x0:x1] |= blend_weights(region) >= 1.0
    return mask
