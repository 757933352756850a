"""Pose and expression balance: thin over-full yaw bins towards a target histogram.

Each yaw bin may hold at most ``max_over_target`` times its share of the target histogram
(uniform over yaw from -90 to 90 degrees by default). Within a bin, faces are taken round-robin
over (pitch bin, expression bin) strata, so thinning keeps the variety of the bin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class BalanceConfig:
    """Bin edges in degrees; ``target`` weights per yaw bin (None: uniform)."""

    enabled: bool = True
    yaw_edges: list[float] = field(default_factory=lambda: [-90, -60, -30, -10, 10, 30, 60, 90])
    pitch_edges: list[float] = field(default_factory=lambda: [-90, -15, 15, 90])
    target: list[float] | None = None
    max_over_target: float = 2.0
    expression_column: str = "mouth_open"
    expression_edges: list[float] = field(default_factory=lambda: [0.0, 0.05, 0.15, 10.0])  # closed, ajar, open


def bin_labels(values: np.ndarray, edges: list[float]) -> list[str]:
    """'[lo,hi)' labels per value; out-of-range values land in the end bins; NaN → 'unknown'."""
    values = np.asarray(values, dtype=float)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    names = [f"[{edges[i]:g},{edges[i + 1]:g})" for i in range(len(edges) - 1)]
    return ["unknown" if np.isnan(v) else names[i] for v, i in zip(values, idx)]


def histogram(labels: pd.Series, edges: list[float]) -> dict[str, int]:
    """Counts per bin in edge order (every bin listed), plus 'unknown' when present."""
    names = [f"[{edges[i]:g},{edges[i + 1]:g})" for i in range(len(edges) - 1)]
    counts = labels.value_counts()
    out = {n: int(counts.get(n, 0)) for n in names}
    if counts.get("unknown", 0):
        out["unknown"] = int(counts["unknown"])
    return out


def balance_drop(faces: pd.DataFrame, rank: np.ndarray, config: BalanceConfig) -> np.ndarray:
    """True for faces thinned out of over-full yaw bins (faces with unknown yaw are kept)."""
    drop = np.zeros(len(faces), dtype=bool)
    if not config.enabled or len(faces) == 0:
        return drop
    yaw = pd.Series(bin_labels(faces["yaw"].to_numpy(float), config.yaw_edges), index=faces.index)
    pitch = bin_labels(faces["pitch"].to_numpy(float), config.pitch_edges)
    expr = bin_labels(faces[config.expression_column].to_numpy(float), config.expression_edges)
    strata = np.array([f"{p}|{e}" for p, e in zip(pitch, expr)], dtype=object)
    nbins = len(config.yaw_edges) - 1
    target = np.asarray(config.target if config.target else [1.0] * nbins, dtype=float)
    target = target / target.sum()
    known = (yaw != "unknown").to_numpy()
    total = int(known.sum())
    names = [f"[{config.yaw_edges[i]:g},{config.yaw_edges[i + 1]:g})" for i in range(nbins)]
    for name, share in zip(names, target):
        members = np.flatnonzero((yaw == name).to_numpy())
        cap = math.ceil(config.max_over_target * share * total)
        if len(members) <= cap:
            continue
        drop[members[_round_robin(members, strata, rank)[cap:]]] = True
    return drop


def _round_robin(members: np.ndarray, strata: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Positions into ``members``: best-ranked face of each stratum, then the second of each, ..."""
    by_stratum: dict = {}
    for pos in sorted(range(len(members)), key=lambda p: rank[members[p]]):
        by_stratum.setdefault(strata[members[pos]], []).append(pos)
    queues = [by_stratum[k] for k in sorted(by_stratum)]
    order = []
    depth = 0
    while len(order) < len(members):
        for q in queues:
            if depth < len(q):
                order.append(q[depth])
        depth += 1
    return np.array(order, dtype=np.int64)
