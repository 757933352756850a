"""The selection steps as they were before they were vectorised (commit 8a197ce), kept verbatim
as the reference that tests/test_select_scale.py checks the fast versions against."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def identity_clusters(embeddings: np.ndarray, order: np.ndarray, threshold: float = 0.6) -> np.ndarray:
    n = len(embeddings)
    labels = np.full(n, -1, dtype=np.int64)
    dim = embeddings.shape[1] if embeddings.ndim == 2 else 1
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


def near_duplicates(hashes: np.ndarray, groups: np.ndarray, max_distance: int) -> np.ndarray:
    n = len(hashes)
    dup = np.zeros(n, dtype=bool)
    kept_h = np.zeros(n, dtype=np.uint64)
    kept_g = np.zeros(n, dtype=np.int64)
    codes = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)[1] if n else groups
    k = 0
    for i in range(n):
        h = np.uint64(int(hashes[i]))
        close = np.bitwise_count(np.bitwise_xor(kept_h[:k], h)) <= max_distance
        if np.any(close & (kept_g[:k] != codes[i])):
            dup[i] = True
            continue
        kept_h[k], kept_g[k] = h, codes[i]
        k += 1
    return dup


def duplicate_photos(photo_ids: list[str], sha256: list[str | None]) -> set[str]:
    first: dict[str, str] = {}
    dups = set()
    for pid, digest in zip(photo_ids, sha256):
        if not digest:
            continue
        owner = first.setdefault(digest, pid)
        if owner != pid:
            dups.add(pid)
    return dups


def bin_labels(values: np.ndarray, edges: list[float]) -> list[str]:
    values = np.asarray(values, dtype=float)
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    names = [f"[{edges[i]:g},{edges[i + 1]:g})" for i in range(len(edges) - 1)]
    return ["unknown" if np.isnan(v) else names[i] for v, i in zip(values, idx)]


def balance_drop(faces: pd.DataFrame, rank: np.ndarray, config) -> np.ndarray:
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


def decide(faces: pd.DataFrame, hashes: np.ndarray, sha256: list, embeddings: np.ndarray, config) -> pd.DataFrame:
    """fdf.select.select.decide as it was, on the reference steps above."""
    from fdf.select.gates import gate_reasons
    from fdf.select.select import seeded_rank

    rank = seeded_rank(faces["face_id"], config.seed)
    reason = gate_reasons(faces, config.gates).to_numpy(dtype=object).copy()

    def alive() -> np.ndarray:
        return np.array([r is None for r in reason], dtype=bool)

    order = np.argsort(rank, kind="stable")
    photo_ids = faces["photo_id"].to_numpy(dtype=object)
    dup_photos = duplicate_photos([photo_ids[i] for i in order], [sha256[i] for i in order])
    reason[alive() & faces["photo_id"].isin(dup_photos).to_numpy()] = "duplicate_photo"
    dh = np.asarray(hashes, dtype=np.uint64)
    live = np.flatnonzero(alive())
    live_ordered = live[np.argsort(rank[live], kind="stable")]
    near = near_duplicates(dh[live_ordered], photo_ids[live_ordered], config.near_duplicate_bits)
    reason[live_ordered[near]] = "near_duplicate"
    live = alive()
    live_order = np.flatnonzero(live)[np.argsort(rank[live], kind="stable")]
    identity = identity_clusters(embeddings, live_order, config.identity_threshold)
    over = cap_per_group(pd.Series(np.where(identity >= 0, identity, None), dtype=object), rank, config.identity_cap)
    reason[live & over] = "identity_cap"
    live = alive()
    over = cap_per_group(faces["owner_nsid"].where(live, None), rank, config.owner_cap)
    reason[live & over] = "owner_cap"
    live = np.flatnonzero(alive())
    thin = balance_drop(faces.iloc[live].reset_index(drop=True), rank[live], config.balance)
    reason[live[thin]] = "pose_balance"
    b = config.balance
    return pd.DataFrame(
        {
            "face_id": faces["face_id"],
            "photo_id": faces["photo_id"],
            "kept": np.array([r is None for r in reason]),
            "reason": reason,
            "identity": identity,
            "dhash": [f"{int(h):016x}" for h in dh],
            "yaw_bin": bin_labels(faces["yaw"].to_numpy(float), b.yaw_edges),
            "pitch_bin": bin_labels(faces["pitch"].to_numpy(float), b.pitch_edges),
            "expression_bin": bin_labels(faces[b.expression_column].to_numpy(float), b.expression_edges),
            "rank": rank,
        }
    )
