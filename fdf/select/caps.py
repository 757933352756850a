"""Identity clusters from face descriptors, and caps per identity and per owner.

Leader clustering: faces are taken in a fixed (seeded) order; a face joins the nearest existing
leader closer than 0.6 in dlib's 128-d descriptor space (dlib's same-person threshold), or
becomes a leader itself. Unlike single linkage (union-find over all pairs), it cannot chain
many different people of a low-resolution set into one cluster through look-alike steps.

The faces are visited in blocks. One float32 matrix product gives every face of a block its
approximate squared distance to every earlier leader; only the leaders within a rounding margin
of a face's approximate minimum are measured again exactly, in float64 and with the same formula
as a face-by-face loop, so the decisions (including ties, which go to the older leader) are the
loop's. Faces of one block that are close to each other are then settled in order, since an
earlier face of the block may have become a leader. Cost: one product per block against the
leaders so far (leaders are at least 0.6 apart, so they stop growing once they cover the
descriptors), instead of a Python step per face and leader.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_BLOCK_MAX = 2048  # faces per block
_PRODUCT_BUDGET = 8_000_000  # entries of one block x leaders distance matrix (32 MB in float32)


class _Leaders:
    """The leaders so far: their rows, and [-2 x, |x|^2] of each centred descriptor x in float32,
    so that one product with [q, 1] gives |x|^2 - 2 q.x = |q - x|^2 - |q|^2 for every leader."""

    def __init__(self, dim: int, centre: np.ndarray):
        self.rows = np.zeros(1024, dtype=np.int64)
        self.aug = np.zeros((1024, dim + 1), dtype=np.float32)  # centred: smaller norms, smaller rounding
        self.sq = np.zeros(1024, dtype=np.float32)
        self.count = 0
        self.centre = centre

    def add(self, rows: np.ndarray, exact: np.ndarray) -> None:
        need = self.count + len(rows)
        if need > len(self.rows):
            size = max(need, 2 * len(self.rows))
            for name in ("rows", "aug", "sq"):
                old = getattr(self, name)
                new = np.zeros((size, *old.shape[1:]), dtype=old.dtype)
                new[: self.count] = old[: self.count]
                setattr(self, name, new)
        k = slice(self.count, need)
        self.rows[k] = rows
        centred = (exact - self.centre).astype(np.float32)
        self.sq[k] = np.einsum("ij,ij->i", centred, centred)
        self.aug[k, :-1] = -2.0 * centred
        self.aug[k, -1] = self.sq[k]
        self.count = need


def _exact_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Row by row exactly as the reference loop: sqrt of the pairwise sum over a contiguous row.
    return np.sqrt(((a - b) ** 2).sum(axis=1))


def identity_clusters(embeddings: np.ndarray, order: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """Cluster label per row (the row index of its leader), visiting rows in ``order``.

    Rows left out of ``order`` or with a NaN descriptor are labelled -1 (no identity).
    """
    embeddings = np.asarray(embeddings)
    if embeddings.ndim == 1:
        embeddings = embeddings.reshape(-1, 1)
    n, dim = embeddings.shape
    labels = np.full(n, -1, dtype=np.int64)
    order = np.asarray(order, dtype=np.int64)
    if not len(order):
        return labels
    sample = embeddings[order[:: max(1, len(order) // 4096)]].astype(np.float64)
    sample = sample[np.isfinite(sample).all(axis=1)]
    centre = sample.mean(axis=0) if len(sample) else np.zeros(dim)
    leaders = _Leaders(dim, centre)
    start = 0
    while start < len(order):
        size = int(np.clip(_PRODUCT_BUDGET // max(leaders.count, 1), 256, _BLOCK_MAX))
        block = order[start : start + size]
        start += size
        exact = embeddings[block].astype(np.float64)
        finite = np.isfinite(exact).all(axis=1)
        block, exact = block[finite], exact[finite]
        if len(block):
            _cluster_block(embeddings, block, exact, leaders, labels, threshold)
    return labels


def _nearest_old_leader(
    embeddings: np.ndarray,
    exact: np.ndarray,
    approx: np.ndarray,
    sq: np.ndarray,
    leaders: _Leaders,
    limit: float,
    margin: float,
) -> tuple[np.ndarray, np.ndarray]:
    """(exact distance, leader index) of each face's nearest leader; inf/-1 where none is near."""
    best_d = np.full(len(exact), np.inf)
    best_j = np.full(len(exact), -1, dtype=np.int64)
    k = leaders.count
    if not k:
        return best_d, best_j
    query = np.empty((len(approx), approx.shape[1] + 1), dtype=np.float32)
    query[:, :-1], query[:, -1] = approx, 1.0
    prod = query @ leaders.aug[:k].T  # b x k: |l|^2 - 2 q.l = d^2 - |q|^2
    low = prod.min(axis=1)
    # Exactly re-measured: leaders within the rounding margin of the minimum, and near enough.
    cut = np.minimum(low + 2 * margin, limit + margin - sq)
    flat = np.flatnonzero(prod <= cut[:, None])  # 1-d: far cheaper than a 2-d nonzero
    qi, lj = flat // k, flat % k
    if not len(qi):
        return best_d, best_j
    d = _exact_distance(embeddings[leaders.rows[lj]].astype(np.float64), exact[qi])
    first = np.lexsort((lj, d, qi))  # per face: smallest distance, then the oldest leader
    qi, lj, d = qi[first], lj[first], d[first]
    head = np.r_[True, qi[1:] != qi[:-1]]
    best_d[qi[head]], best_j[qi[head]] = d[head], lj[head]
    return best_d, best_j


def _cluster_block(
    embeddings: np.ndarray,
    block: np.ndarray,
    exact: np.ndarray,
    leaders: _Leaders,
    labels: np.ndarray,
    threshold: float,
) -> None:
    approx = (exact - leaders.centre).astype(np.float32)
    sq = np.einsum("ij,ij->i", approx, approx)
    limit = threshold * threshold
    # float32 products here are off by at most ~3e-5 * r^2 (r: the largest centred norm); the
    # margin is several times that.
    r2 = max(float(sq.max()), float(leaders.sq[: leaders.count].max(initial=0.0)), limit)
    margin = 2e-4 * r2
    best_d, best_j = _nearest_old_leader(embeddings, exact, approx, sq, leaders, limit, margin)
    # Only a face with no earlier leader near can become one; settle those few in order.
    maybe = np.flatnonzero(best_d >= threshold)
    near = _approx_close(approx[maybe], sq[maybe], approx[maybe], sq[maybe], limit + margin)
    new = np.zeros(len(block), dtype=bool)
    for k, p in enumerate(maybe.tolist()):
        earlier = maybe[:k][near[k, :k] & new[maybe[:k]]]
        new[p] = not len(earlier) or bool(_exact_distance(exact[earlier], exact[p]).min() >= threshold)
    # Every other face: its nearest leader among the older ones and the block's new ones before it.
    fresh = np.flatnonzero(new)
    target_d, target_p = best_d.copy(), np.full(len(block), -1, dtype=np.int64)
    if len(fresh):
        qi, fj = np.nonzero(_approx_close(approx, sq, approx[fresh], sq[fresh], limit + margin))
        keep = fresh[fj] < qi  # only leaders made before the face
        qi, p = qi[keep], fresh[fj[keep]]
        d = _exact_distance(exact[p], exact[qi])
        first = np.lexsort((p, d, qi))  # per face: smallest distance, then the oldest leader
        qi, p, d = qi[first], p[first], d[first]
        head = np.r_[True, qi[1:] != qi[:-1]] if len(qi) else np.zeros(0, dtype=bool)
        qi, p, d = qi[head], p[head], d[head]
        wins = (d < threshold) & (d < best_d[qi])  # equal distance: the older leader wins
        target_d[qi[wins]], target_p[qi[wins]] = d[wins], p[wins]
    leaders_before = leaders.count
    leaders.add(block[new], exact[new])
    labels[block[new]] = block[new]
    joins_block = ~new & (target_p >= 0)
    labels[block[joins_block]] = block[target_p[joins_block]]
    joins_old = ~new & (target_p < 0)
    assert (target_d[joins_old] < threshold).all() and leaders.count == leaders_before + len(fresh)
    labels[block[joins_old]] = leaders.rows[best_j[joins_old]]


def _approx_close(a: np.ndarray, a_sq: np.ndarray, b: np.ndarray, b_sq: np.ndarray, limit: float) -> np.ndarray:
    """Pairs (rows of a, rows of b) whose approximate squared distance is below ``limit``."""
    d2 = a @ b.T
    d2 *= -2.0
    d2 += a_sq[:, None]
    d2 += b_sq[None, :]
    return d2 < limit


def cap_per_group(groups: pd.Series, order: np.ndarray, cap: int) -> np.ndarray:
    """True for rows beyond the first ``cap`` of their group when taken in ``order`` (ranks).

    Rows whose group is missing are never capped. ``cap <= 0`` disables the cap.
    """
    n = len(groups)
    over = np.zeros(n, dtype=bool)
    if cap <= 0 or not n:
        return over
    values = pd.Series(groups).reset_index(drop=True)
    missing = values.isna().to_numpy() | (values.astype(object) == "").to_numpy()
    codes = pd.factorize(values.where(~missing, None), use_na_sentinel=True)[0]
    visit = np.argsort(np.asarray(order), kind="stable")  # the loop's order
    visit = visit[codes[visit] >= 0]
    by_group = visit[np.argsort(codes[visit], kind="stable")]  # grouped, each group in visit order
    g = codes[by_group]
    starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
    position = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    over[by_group[position >= cap]] = True
    return over
