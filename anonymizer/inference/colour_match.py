"""Colour and light matching of a generated face to the photo around it.

A generated face differs from its surroundings in skin tone and light even where its shape is
right, and a soft mask only spreads that step over a band. The patch is corrected with a field
that holds colour and light only:

1. on a thin ring just inside the weight-1 edge of the mask (the rim of the face the photo had
   there) take the difference photo - patch. The feather band beyond it is left out: it is mostly
   hair, collar and background, and on afw-dev it pulled shirt reds and hair darks into the
   generated chin and forehead (border score -1.2 instead of 0.0 on 10 photos: the face melted
   into its surroundings, see benchmarks/results/compositing.md);
2. smooth it along the ring (a Gaussian over ring pixels only, normalised by the ring's own
   weight): what is left is colour and light, not texture or edges;
3. spread it inside as a membrane, the harmonic interpolation of the ring's values (Laplace's
   equation on a coarse grid, as in Poisson / mean-value cloning): a surface with no detail of
   its own, equal to the ring's colour at the edge and to its average in the middle;
4. add it to the patch (in the ring and the feather too, so the corrected face meets the photo).

Only that smooth field enters the face: no detail of the original face is copied into it, only
the low-frequency colour of its rim.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

#: Smoothing along the ring, as a fraction of the face size: wide enough to average out hair
#: strands and the generator's texture, narrow enough to follow light that changes round the head.
BAND_SIGMA = 0.08
#: Width of the ring inside the weight-1 edge the difference is taken on, fraction of the face size
#: (0.1 measured worse on 10 afw-dev photos: border +1.0 instead of 0.0).
INNER_RING = 0.05
#: The membrane is solved on a grid at most this many cells across (it is smooth by construction).
COARSE_SIDE = 64


def _laplace_fill(values: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """``values`` (h x w x c) with the ``unknown`` cells replaced by the harmonic interpolation of
    the known cells around them (Dirichlet at known neighbours, nothing across the grid's edge)."""
    h, w = unknown.shape
    idx = -np.ones((h, w), np.int64)
    ys, xs = np.nonzero(unknown)
    n = len(ys)
    if n == 0:
        return values
    idx[ys, xs] = np.arange(n)
    rows, cols, data = [], [], []
    rhs = np.zeros((n, values.shape[2]), np.float64)
    degree = np.zeros(n, np.float64)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        degree += inside
        k = np.nonzero(inside)[0]
        neighbour = idx[ny[k], nx[k]]
        free = neighbour >= 0
        rows.append(k[free])
        cols.append(neighbour[free])
        data.append(-np.ones(free.sum()))
        fixed = k[~free]
        np.add.at(rhs, fixed, values[ny[fixed], nx[fixed]])
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    data.append(degree)
    matrix = coo_matrix((np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)).tocsc()
    solved = spsolve(matrix, rhs)
    out = values.copy()
    out[ys, xs] = np.asarray(solved, np.float64).reshape(n, -1)
    return out


def colour_correction(original: np.ndarray, patch: np.ndarray, weights: np.ndarray, face_px: float) -> np.ndarray:
    """Float32 h x w x 3 field to add to ``patch`` (RGB uint8) so that its colour and light meet
    ``original`` (the photo's RGB uint8 pixels under it) along the edge of ``weights`` (see
    module doc); ``face_px``: the face size in pixels. Zero where the weights are 0, and all
    zero when they have no edge (nothing or everything at weight 1)."""
    solid = weights >= 1.0
    h, w = weights.shape
    if not solid.any() or solid.all():
        return np.zeros((h, w, 3), np.float32)
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3)
    ring = solid & (depth <= max(2.0, INNER_RING * face_px))
    diff = (original.astype(np.float32) - patch.astype(np.float32)) * ring[:, :, None]
    scale = min(1.0, COARSE_SIDE / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    ring_c = cv2.resize(ring.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    diff_c = cv2.resize(diff, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], 3)
    solid_c = cv2.resize(solid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    sigma = max(0.5, BAND_SIGMA * face_px * scale)
    weight_sum = cv2.GaussianBlur(ring_c, (0, 0), sigma)
    smooth = cv2.GaussianBlur(diff_c, (0, 0), sigma).reshape(size[1], size[0], 3)
    # Far from the ring the normalised smoothing has nothing to average: the ring's median stands in.
    median = np.median(diff[ring], axis=0)
    known = weight_sum > 1e-3
    values = np.where(known[:, :, None], smooth / np.maximum(weight_sum, 1e-3)[:, :, None], median)
    values = values.astype(np.float64)
    field = _laplace_fill(values, (solid_c > 0.5) & (ring_c < 0.25))
    field = cv2.resize(field.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 3)
    field[weights <= 0] = 0.0
    return field


def match_colour(original: np.ndarray, patch: np.ndarray, weights: np.ndarray, face_px: float) -> np.ndarray:
    """``patch`` (RGB uint8) with :func:`colour_correction` added, clipped to uint8."""
    field = colour_correction(original, patch, weights, face_px)
    return np.clip(np.rint(patch.astype(np.float32) + field), 0, 255).astype(np.uint8)
