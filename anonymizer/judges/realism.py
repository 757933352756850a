"""Realism measures of replaced faces: plain numpy/OpenCV functions on arrays.

* :func:`frechet_distance`: how far a set of replaced faces lies from a set of real ones in a
  recogniser's descriptor space (SFace here: a space the generator was not trained in).
* :func:`detail_ratio`: how much fine detail the replaced face keeps, measured at one face scale
  (128 px) so that a large photo and a small one are judged alike.
* :func:`border_score`: how visible the edge of the pasted region is: the colour step across the
  blend boundary and the gradient along it, each against the original at the same place.

Images are RGB uint8 H x W x 3; boxes are (x0, y0, x1, y1) in pixels; masks are H x W floats in
0..1 (1: replaced), so soft, face-shaped blend masks are measured as they were drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Face scale at which detail is compared (DeepPrivacy v1's generator size).
DETAIL_SIDE = 128
#: Angular sectors around the region: the colour step is compared locally, side by side.
BORDER_SECTORS = 16


def frechet_distance(a: np.ndarray, b: np.ndarray, ridge: float = 1e-3) -> float:
    """Fréchet distance between Gaussians fitted to two sets of row vectors (N x D, M x D).

    With fewer samples than dimensions a covariance is singular and its square root unstable;
    ``ridge`` adds that fraction of the mean per-dimension variance to both diagonals (the same
    amount to both, so equal sets still score 0). ``ridge=0`` is the textbook formula.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two N x D sets of one width, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"need at least 2 vectors per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    if ridge > 0:
        eps = ridge * (np.trace(cov_a) + np.trace(cov_b)) / (2 * a.shape[1])
        cov_a = cov_a + eps * np.eye(a.shape[1])
        cov_b = cov_b + eps * np.eye(a.shape[1])
    # Tr sqrt(A B) = sum sqrt(eig(A^1/2 B A^1/2)), with symmetric square roots (no scipy needed).
    w, v = np.linalg.eigh(cov_a)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_sqrt = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def _int_box(box, shape) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x0, y0 = max(0, int(math.floor(box[0]))), max(0, int(math.floor(box[1])))
    x1, y1 = min(w, int(math.ceil(box[2]))), min(h, int(math.ceil(box[3])))
    return x0, y0, x1, y1


def detail_at_scale(rgb: np.ndarray, box, side: int = DETAIL_SIDE) -> float:
    """Variance of the Laplacian of the face box, resized so its longer side is ``side`` pixels.

    Shrinking uses area averaging (what a smaller camera image holds), enlarging bicubic; the
    outermost pixel ring is left out (its Laplacian sees the border padding).
    """
    x0, y0, x1, y1 = _int_box(box, rgb.shape)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return float("nan")
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    f = side / max(x1 - x0, y1 - y0)
    size = (max(3, round((x1 - x0) * f)), max(3, round((y1 - y0) * f)))
    gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    lap = cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F)
    return float(lap[1:-1, 1:-1].var())


def detail_ratio(original: np.ndarray, output: np.ndarray, box, side: int = DETAIL_SIDE) -> float:
    """Detail of ``output`` in ``box`` over the original's, both at ``side`` px (NaN: flat original).

    1 keeps the original's fine detail; issue 14 measured 0.57 for an original shrunk to 128 px
    and enlarged back, 0.02 for a mild blur and 0.05 for the first 64 px generator.
    """
    reference = detail_at_scale(original, box, side)
    if not reference > 0:
        return float("nan")
    return detail_at_scale(output, box, side) / reference


def box_mask(shape, boxes) -> np.ndarray:
    """H x W float32 mask, 1 inside any of ``boxes`` (a hard paste), 0 elsewhere."""
    mask = np.zeros(shape[:2], np.float32)
    for box in boxes:
        x0, y0, x1, y1 = _int_box(box, shape)
        mask[y0:y1, x0:x1] = 1.0
    return mask


@dataclass
class BorderScore:
    """The edge of one blended region, in the output and in the original at the same place.

    ``colour_step``: mean CIE Lab distance (ΔE76) between the band just inside the blend and the
    band just outside it, per angular sector; ``colour_step_original``: the same bands in the
    original; ``colour_excess``: mean over sectors of |output step - original step| (0: the
    edge changes colour exactly as the photo did there). ``gradient``: mean L* gradient (per
    pixel) across the blend's transition; ``gradient_excess``: output minus original (0: no
    more edge than the photo had; a hard square paste of other content scores high).
    """

    colour_step: float
    colour_step_original: float
    colour_excess: float
    gradient: float
    gradient_original: float
    gradient_excess: float
    sectors: int


def _lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _gradient_l(lab: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(lab[:, :, 0], cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(lab[:, :, 0], cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.sqrt(gx * gx + gy * gy)


def _sector_steps(lab: np.ndarray, inner: np.ndarray, outer: np.ndarray, sector: np.ndarray) -> dict[int, float]:
    steps = {}
    for s in range(BORDER_SECTORS):
        i, o = inner & (sector == s), outer & (sector == s)
        if i.sum() >= 5 and o.sum() >= 5:
            steps[s] = float(np.linalg.norm(lab[i].mean(0) - lab[o].mean(0)))
    return steps


def border_score(
    original: np.ndarray, output: np.ndarray, mask: np.ndarray, band: int | None = None
) -> BorderScore | None:
    """How visible the blend boundary of ``mask`` is in ``output``, against ``original``.

    The boundary is the mask's 0.5 level. Its transition (0.02 < mask < 0.98, a feather) is
    measured from the mask itself, and the colour bands (``band`` pixels wide; default 5% of
    the region's diameter, at least 3) lie just beyond it on either side, so a soft mask is
    judged by what its feather joins, and the gradient over the transition (at least 2 px each
    side of the boundary) by how sharp the join is. None when the mask has no boundary.
    """
    mask = np.asarray(mask, np.float32)
    if original.shape != output.shape or mask.shape != original.shape[:2]:
        raise ValueError(f"shapes differ: original {original.shape}, output {output.shape}, mask {mask.shape}")
    region = mask >= 0.5
    if not region.any() or region.all():
        return None
    # Work on a window around the region: the whole photo would cost for nothing.
    ys, xs = np.nonzero(mask > 0.02)
    diameter = math.sqrt(region.sum() * 4 / math.pi)
    width = band or max(3, round(0.05 * diameter))
    transition = (mask > 0.02) & (mask < 0.98)
    pad = width + 3  # the outer band lies at most this far beyond the mask's support
    y0, y1 = max(0, ys.min() - pad), min(mask.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(mask.shape[1], xs.max() + pad + 1)
    region, transition = region[y0:y1, x0:x1], transition[y0:y1, x0:x1]
    inside = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~region).astype(np.uint8), cv2.DIST_L2, 3)
    t_in = float(np.percentile(inside[transition & region], 95)) if (transition & region).any() else 0.0
    t_out = float(np.percentile(outside[transition & ~region], 95)) if (transition & ~region).any() else 0.0
    inner = region & (inside > t_in) & (inside <= t_in + width)
    outer = ~region & (outside > t_out) & (outside <= t_out + width)
    seam = (region & (inside <= max(t_in, 2.0))) | (~region & (outside <= max(t_out, 2.0)))
    cy, cx = np.argwhere(region).mean(0)
    gy, gx = np.mgrid[0 : region.shape[0], 0 : region.shape[1]]
    sector = ((np.arctan2(gy - cy, gx - cx) + np.pi) / (2 * np.pi) * BORDER_SECTORS).astype(int) % BORDER_SECTORS
    lab_out = _lab(output[y0:y1, x0:x1])
    lab_orig = _lab(original[y0:y1, x0:x1])
    steps_out = _sector_steps(lab_out, inner, outer, sector)
    steps_orig = _sector_steps(lab_orig, inner, outer, sector)
    common = sorted(set(steps_out) & set(steps_orig))
    if not common or not seam.any():
        return None
    grad_out = float(_gradient_l(lab_out)[seam].mean())
    grad_orig = float(_gradient_l(lab_orig)[seam].mean())
    return BorderScore(
        colour_step=float(np.mean([steps_out[s] for s in common])),
        colour_step_original=float(np.mean([steps_orig[s] for s in common])),
        colour_excess=float(np.mean([abs(steps_out[s] - steps_orig[s]) for s in common])),
        gradient=grad_out,
        gradient_original=grad_orig,
        gradient_excess=grad_out - grad_orig,
        sectors=len(common),
    )
