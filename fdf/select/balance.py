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


def bin_names(edges: list[float]) -> list[str]:
    """'[lo,hi)' name of each bin between consecutive ``edges``."""
    return [f"[{edges[i]:g},{edges[i + 1]:g})" for i in range(len(edges) - 1)]


def bin_codes(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Bin index per value (out-of-range values land in the end bins); -1 for NaN."""
    values = np.asarray(values, dtype=float)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return np.where(np.isnan(values), -1, idx)


def bin_labels(values: np.ndarray, edges: list[float]) -> list[str]:
    """'[lo,hi)' labels per value; out-of-range values land in the end bins; NaN → 'unknown'."""
    names = np.array([*bin_names(edges), "unknown"], dtype=object)
    return names[bin_codes(values, edges)].tolist()


def histogram(labels: pd.Series, edges: list[float]) -> dict[str, int]:
    """Counts per bin in edge order (every bin listed), plus 'unknown' when present."""
    names = bin_names(edges)
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
    yaw = bin_codes(faces["yaw"].to_numpy(float), config.yaw_edges)
    strata = _strata(faces, config)
    nbins = len(config.yaw_edges) - 1
    target = np.asarray(config.target if config.target else [1.0] * nbins, dtype=float)
    target = target / target.sum()
    total = int((yaw >= 0).sum())
    for b, share in enumerate(target):
        members = np.flatnonzero(yaw == b)
        cap = math.ceil(config.max_over_target * share * total)
        if len(members) <= cap:
            continue
        drop[members[_round_robin(members, strata, rank)[cap:]]] = True
    return drop


def _strata(faces: pd.DataFrame, config: BalanceConfig) -> np.ndarray:
    """Per face, the place of its '{pitch bin}|{expression bin}' label among all such labels sorted
    as strings (the order the round robin visits strata in)."""
    pitch_names = [*bin_names(config.pitch_edges), "unknown"]
    expr_names = [*bin_names(config.expression_edges), "unknown"]
    labels = [f"{p}|{e}" for p in pitch_names for e in expr_names]
    place = np.empty(len(labels), dtype=np.int64)
    place[np.argsort(np.array(labels, dtype=object), kind="stable")] = np.arange(len(labels))
    pitch = bin_codes(faces["pitch"].to_numpy(float), config.pitch_edges)  # -1 (unknown): the last name
    expr = bin_codes(faces[config.expression_column].to_numpy(float), config.expression_edges)
    return place[(pitch % len(pitch_names)) * len(expr_names) + expr % len(expr_names)]


def _round_robin(members: np.ndarray, strata: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Positions into ``members``: best-ranked face of each stratum, then the second of each, ..."""
    by_rank = np.argsort(rank[members], kind="stable")
    stratum = strata[members[by_rank]]
    grouped = np.argsort(stratum, kind="stable")  # each stratum's faces in rank order
    s = stratum[grouped]
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    depth = np.empty(len(s), dtype=np.int64)
    depth[grouped] = np.arange(len(s)) - np.repeat(starts, np.diff(np.r_[starts, len(s)]))
    # Depth first, then strata in label order: the loop's "one from each queue, then again".
    return by_rank[np.lexsort((stratum, depth))]
