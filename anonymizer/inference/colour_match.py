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
4. add it to the patch (in the ring and the feather too, so the corrected face meets the photo);
5. (``tone_box``) move the face's tone to the photo's: the median CIELAB of the corrected patch
   over the middle of the face box (beyond the ring) is shifted to the photo's median there,
   ramped in from the ring over :data:`TONE_RAMP` of the face. The box's middle, not the whole
   mask: the mask's weight-1 region also covers the box's corners (background) and the collar,
   which pulled the median towards a white backdrop on one dark-skinned face. The generator
   draws faces lit its own way: on afw-dev and dlib-faces the centre of the replaced face
   followed the original's lightness with a slope of 0.15 (0.29 with steps 1-4): dimly lit or
   dark-skinned faces came out up to 20 L* lighter, bright ones darker. Matching the rim alone
   cannot fix it, because the generator meets the rim and drifts inside.

Only smooth fields enter the face: no detail of the original face is copied into it, only the
low-frequency colour of its rim and three numbers of its tone (a median is not moved by eyes,
brows or a beard covering less than half of the face).
"""

from __future__ import annotations

from dataclasses import dataclass

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
#: The tone shift ramps in from the rim ring over this fraction of the face size.
TONE_RAMP = 0.1
#: Fewer pixels than this to measure on: too small a face to take a tone from.
TONE_MIN_PIXELS = 25
#: The tone is measured over the middle of the face box, this fraction of it across and down.
TONE_CORE = 0.5


@dataclass(frozen=True)
class Rim:
    """Where a blend mask's weight-1 region is (``solid``), how deep each pixel lies in it
    (``depth``, pixels) and how wide the rim ring just inside its edge is (``ring_px``): the
    geometry both correction steps share (:func:`rim_of`)."""

    solid: np.ndarray
    depth: np.ndarray
    ring_px: float

    @property
    def ring(self) -> np.ndarray:
        return self.solid & (self.depth <= self.ring_px)


def rim_of(weights: np.ndarray, face_px: float) -> Rim:
    """The :class:`Rim` of blend ``weights`` for a face ``face_px`` pixels across."""
    solid = weights >= 1.0
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3)
    return Rim(solid, depth, max(2.0, INNER_RING * face_px))


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


def colour_correction(
    original: np.ndarray, patch: np.ndarray, weights: np.ndarray, face_px: float, rim: Rim | None = None
) -> np.ndarray:
    """Float32 h x w x 3 field to add to ``patch`` (RGB uint8) so that its colour and light meet
    ``original`` (the photo's RGB uint8 pixels under it) along the edge of ``weights`` (see
    module doc); ``face_px``: the face size in pixels. Zero where the weights are 0, and all
    zero when they have no edge (nothing or everything at weight 1). ``rim``: :func:`rim_of` the
    weights, when the caller has it already."""
    rim = rim or rim_of(weights, face_px)
    solid = rim.solid
    h, w = weights.shape
    if not solid.any() or solid.all():
        return np.zeros((h, w, 3), np.float32)
    ring = rim.ring
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


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (L 0-100) of RGB values 0-255, float32."""
    return cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def tone_correction(
    original: np.ndarray,
    patch: np.ndarray,
    weights: np.ndarray,
    face_px: float,
    core: np.ndarray,
    rim: Rim | None = None,
) -> np.ndarray:
    """Float32 h x w x 3 field to add to ``patch`` (RGB, float or uint8) so that its median CIELAB
    over ``core`` (a boolean h x w mask of the face's middle: skin, eyes, nose and mouth, without
    the box corners' background or the collar) is the photo's median there (module doc, step 5).
    The shift is zero on the rim ring of :func:`colour_correction` and outside it, ramping in
    over :data:`TONE_RAMP` of the face; all zero when the core has too few pixels inside.
    ``rim``: :func:`rim_of` the weights, when the caller has it already."""
    rim = rim or rim_of(weights, face_px)
    zero = np.zeros((*weights.shape, 3), np.float32)
    measured = core & rim.solid & (rim.depth > rim.ring_px)
    if measured.sum() < TONE_MIN_PIXELS:
        return zero
    lab_patch = _lab(patch)
    # Only the measured pixels of the photo are needed: converted as one row, not the whole window.
    shift = np.median(_lab(original[measured][None])[0], axis=0) - np.median(lab_patch[measured], axis=0)
    ramp = np.clip((rim.depth - rim.ring_px) / max(1.0, TONE_RAMP * face_px), 0.0, 1.0)
    shifted = cv2.cvtColor(lab_patch + ramp[:, :, None] * shift[None, None, :], cv2.COLOR_LAB2RGB) * 255.0
    field = (shifted - patch.astype(np.float32)).astype(np.float32)
    field[ramp <= 0] = 0.0
    return field


def box_core(shape, box, fraction: float = TONE_CORE) -> np.ndarray:
    """Boolean mask (``shape`` h x w) of the middle ``fraction`` of ``box`` (x0, y0, x1, y1 in the
    mask's pixels) across and down: where :func:`tone_correction` measures a face's tone."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    cx, cy = int(np.floor(x0 + (1 - fraction) / 2 * (x1 - x0))), int(np.floor(y0 + (1 - fraction) / 2 * (y1 - y0)))
    cw, ch = int(round(fraction * (x1 - x0))), int(round(fraction * (y1 - y0)))
    core = np.zeros((h, w), bool)
    core[max(0, cy) : max(0, cy + ch), max(0, cx) : max(0, cx + cw)] = True
    return core


def match_colour(
    original: np.ndarray, patch: np.ndarray, weights: np.ndarray, face_px: float, tone_box=None
) -> np.ndarray:
    """``patch`` (RGB uint8) with :func:`colour_correction` added and, given ``tone_box`` (the face
    box in the patch's pixels), its tone moved to the photo's over the box's middle
    (:func:`tone_correction`, :func:`box_core`), clipped to uint8."""
    rim = rim_of(weights, face_px)
    matched = patch.astype(np.float32) + colour_correction(original, patch, weights, face_px, rim)
    if tone_box is not None:
        matched += tone_correction(original, matched, weights, face_px, box_core(weights.shape, tone_box), rim)
    return np.clip(np.rint(matched), 0, 255).astype(np.uint8)
