"""Blend replacement patches into a photo in its own pixel representation.

Two passes make overlapping faces safe: first every patch is blended with its weights (the box
feather, or gan mode's soft face mask), then every pixel of weight 1 (a core box, or the face
mask's solid part) is overwritten outright, so no such pixel keeps original content however
faces overlap: a neighbour's feather blended over a face cannot bring the photo back there.
Pixels outside all paste boxes are never touched (the output is a copy of the input there, bit
for bit), whatever the photo's dtype or channels.
"""

from __future__ import annotations

import cv2
import numpy as np

from .regions import FaceRegion, blend_weights


def rgb_to_native(patch: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Convert an RGB uint8 patch to the representation of the photo window ``like``."""
    out = patch
    if like.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    elif like.shape[2] == 4:
        out = np.dstack([out, like[:, :, 3]])  # keep the photo's transparency
    if like.dtype == np.uint16:
        out = out.astype(np.uint16) * 257
    return out


def composite(pixels: np.ndarray, regions: list[FaceRegion], patches: list[np.ndarray]) -> np.ndarray:
    """A new array: ``pixels`` with each RGB ``patch`` blended over its region (see module doc)."""
    if len(regions) != len(patches):
        raise ValueError(f"{len(regions)} regions but {len(patches)} patches")
    out = pixels.copy()
    native, solids = [], []
    for region, patch in zip(regions, patches):
        x0, y0, x1, y1 = region.paste
        if patch.shape[:2] != (y1 - y0, x1 - x0):
            raise ValueError(f"patch {patch.shape[:2]} does not fit paste box {region.paste}")
        window = out[y0:y1, x0:x1]
        repl = rgb_to_native(patch, window)
        native.append(repl)
        w = blend_weights(region)
        if w.shape != patch.shape[:2]:
            raise ValueError(f"weights {w.shape} do not fit paste box {region.paste}")
        solids.append(w >= 1.0)
        if window.ndim == 3:
            w = w[:, :, None]
        blended = window.astype(np.float32) * (1.0 - w) + repl.astype(np.float32) * w
        blended = np.rint(blended).astype(out.dtype)
        # Where the weight is 0 keep the original values exactly (no float round trip).
        out[y0:y1, x0:x1] = np.where(w > 0, blended, window)
    for region, repl, solid in zip(regions, native, solids):
        x0, y0, x1, y1 = region.paste
        window = out[y0:y1, x0:x1]  # a view: writes go to ``out``
        window[solid] = repl[solid]
    return out
