"""Identity clusters from face descriptors, and caps per identity and per owner.

Leader clustering: faces are taken in a fixed (seeded) order; a face joins the nearest existing
leader closer than 0.6 in dlib's 128-d descriptor space (dlib's same-person threshold), or
becomes a leader itself. Unlike single linkage (union-find over all pairs), it cannot chain
many different people of a low-resolution set into one cluster through look-alike steps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def identity_clusters(embeddings: np.ndarray, order: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    """Cluster label per row (the row index of its leader), visiting rows in ``order``.

    Rows left out of ``order`` or with a NaN descriptor are labelled -1 (no identity).
    """
    n = len(embeddings)
    labels = np.full(n, -1, dtype=np.int64)
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 1
    # Leaders are far fewer than faces: grow their matrix by doubling instead of sizing it N x dim.
    leaders = np.zeros((min(max(n, 1), 1024), dim), dtype=np.float64)
    leader_rows: list[int] = []
    for i in order:
        e = embeddings[i].astype(np.float64)
        if not np.all(np.isfinite(e)):
            continue
        k = len(leader_rows)
        if k:
            d = np.sqrt(((leaders[:k] - e) ** 2).sum(axis=1))
            j = int(np.argmin(d))
            if d[j] < threshold:
                labels[i] = leader_rows[j]
                continue
        if k == len(leaders):
            leaders = np.concatenate([leaders, np.zeros_like(leaders)])
        leaders[k] = e
        leader_rows.append(int(i))
        labels[i] = i
    return labels


def cap_per_group(groups: pd.Series, order: np.ndarray, cap: int) -> np.ndarray:
    """True for rows beyond the first ``cap`` of their group when taken in ``order`` (ranks).

    Rows whose group is missing are never capped. ``cap <= 0`` disables the cap.
    """
    over = np.zeros(len(groups), dtype=bool)
    if cap <= 0:
        return over
    seen: dict = {}
    values = groups.to_numpy(dtype=object)
    for i in np.argsort(order, kind="stable"):
        g = values[i]
        if g is None or pd.isna(g) or g == "":
            continue
        seen[g] = seen.get(g, 0) + 1
        over[i] = seen[g] > cap
    return over
