"""Static licence and attribution checks on photo rows (no network).

Each photo gets a list of flags (keys of :data:`FLAGS`). A face crop is an adaptation of the
photo, so NoDerivatives licences are flagged even though the photo itself may be shared.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..flickr.search import is_opted_out, opted_out_rows
from ..licenses import License, license_id_from_url, license_table

FLAGS = {
    "nd": "NoDerivatives licence: face crops and anonymized faces are adaptations",
    "nc": "NonCommercial licence",
    "sa": "ShareAlike licence: adaptations must be shared under the same licence",
    "unknown": "All Rights Reserved or unknown licence",
    "attribution": "attribution incomplete (title, author, source URL or licence URL missing)",
    "nocv": "tagged no_cv: the owner opted out of computer-vision use",
    "mismatch": "licence id disagrees with the licence URL",
}
ATTRIBUTION_PARTS = {"title": "title", "author": "owner_name", "source": "photo_url", "license_url": "license_url"}


def _blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and pd.isna(value):
        return True
    return isinstance(value, str) and not value.strip()


def license_of(license_id) -> License | None:
    """The licence with this id, or None for a missing or unknown id."""
    if license_id is None or pd.isna(license_id):
        return None
    return license_table().get(int(license_id))


def missing_attribution(row: dict) -> list[str]:
    """Which parts of TASL (title, author, source, licence URL) ``row`` lacks."""
    return [part for part, col in ATTRIBUTION_PARTS.items() if _blank(row.get(col))]


def photo_flags(row: dict) -> list[str]:
    """The flags (keys of :data:`FLAGS`) that apply to one photo row, in :data:`FLAGS` order."""
    lic = license_of(row.get("license_id"))
    flags = set()
    if lic is None or lic.id == 0:
        flags.add("unknown")
    else:
        if not lic.derivatives:
            flags.add("nd")
        if not lic.commercial:
            flags.add("nc")
        if lic.share_alike:
            flags.add("sa")
    if missing_attribution(row):
        flags.add("attribution")
    tags = row.get("tags")
    if tags is not None and not isinstance(tags, float) and is_opted_out(list(tags)):
        flags.add("nocv")
    url = row.get("license_url")
    if not _blank(url) and lic is not None and license_id_from_url(url) != lic.id:
        flags.add("mismatch")
    return [f for f in FLAGS if f in flags]


def check_photos(photos: pd.DataFrame) -> pd.DataFrame:
    """``photos`` with two list columns added: ``flags`` and ``missing`` (attribution parts)."""
    out = photos.copy()
    records = out.to_dict("records")
    out["flags"] = [photo_flags(r) for r in records]
    out["missing"] = [missing_attribution(r) for r in records]
    return out


def is_commercial_safe(row: dict) -> bool:
    """True if the licence allows commercial use and adaptation, and its id and URL agree."""
    lic = license_of(row.get("license_id"))
    if lic is None or not (lic.commercial and lic.derivatives):
        return False
    url = row.get("license_url")
    return _blank(url) or license_id_from_url(url) == lic.id


def license_summary(checked: pd.DataFrame) -> list[dict]:
    """Photos and faces per licence id (missing ids as None), with what each licence allows."""
    photos: Counter = Counter()
    faces: Counter = Counter()
    for lid, n in zip(checked["license_id"], checked["faces"]):
        key = None if pd.isna(lid) else int(lid)
        photos[key] += 1
        if n is not None and not pd.isna(n):
            faces[key] += int(n)
    rows = []
    for key in sorted(photos, key=lambda k: (k is None, k if k is not None else 0)):
        lic = license_of(key)
        rows.append(
            {
                "license_id": key,
                "name": lic.name if lic else "unknown",
                "url": lic.url if lic else "",
                "photos": photos[key],
                "faces": faces[key] if key in faces else None,
                "commercial": bool(lic and lic.commercial),
                "derivatives": bool(lic and lic.derivatives),
                "share_alike": bool(lic and lic.share_alike),
            }
        )
    return rows


# ---------------------------------------------------------------- the same checks over a whole table
# One bit per flag (FLAGS order) and per attribution part (ATTRIBUTION_PARTS order): an audit of
# 1 M photos keeps two small integer arrays, not two Python lists per photo.
FLAG_BITS = {name: 1 << i for i, name in enumerate(FLAGS)}
PART_BITS = {name: 1 << i for i, name in enumerate(ATTRIBUTION_PARTS)}


def flag_names(bits: int) -> list[str]:
    return [name for name, bit in FLAG_BITS.items() if bits & bit]


def part_names(bits: int) -> list[str]:
    return [name for name, bit in PART_BITS.items() if bits & bit]


def _blank_mask(column) -> np.ndarray:
    """:func:`_blank` over an Arrow column: null, or only whitespace."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return pc.is_null(column).to_numpy(zero_copy_only=False)
    empty = pc.equal(pc.utf8_trim_whitespace(column), "")
    return pc.fill_null(empty, True).to_numpy(zero_copy_only=False)


def _per_licence(ids: np.ndarray, rule) -> np.ndarray:
    """``rule(licence or None)`` for each licence id (-1: missing), evaluated once per distinct id."""
    values, inverse = np.unique(ids, return_inverse=True)
    return (
        np.array([rule(license_of(None if v < 0 else int(v))) for v in values], dtype=np.int64)[inverse]
        if len(ids)
        else np.zeros(0, dtype=np.int64)
    )


def check_table(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(flag bits, missing attribution bits) per row of a photo table; :func:`photo_flags` and
    :func:`missing_attribution` for every row at once."""
    ids = pc.fill_null(pc.cast(table.column("license_id"), pa.int64()), -1).to_numpy(zero_copy_only=False)

    def licence_bits(lic) -> int:
        if lic is None or lic.id == 0:
            return FLAG_BITS["unknown"]
        return (
            (FLAG_BITS["nd"] if not lic.derivatives else 0)
            | (FLAG_BITS["nc"] if not lic.commercial else 0)
            | (FLAG_BITS["sa"] if lic.share_alike else 0)
        )

    flags = _per_licence(ids, licence_bits)
    missing = np.zeros(table.num_rows, dtype=np.int64)
    for part, col in ATTRIBUTION_PARTS.items():
        missing |= np.where(_blank_mask(table.column(col)), PART_BITS[part], 0)
    flags |= np.where(missing != 0, FLAG_BITS["attribution"], 0)
    if "tags" in table.column_names and table.num_rows:
        flags |= np.where(opted_out_rows(table.column("tags")), FLAG_BITS["nocv"], 0)
    url = table.column("license_url")
    url_blank = _blank_mask(url)
    has_lic = _per_licence(ids, lambda lic: 0 if lic is None else 1).astype(bool)
    url_ids = _url_licence_ids(url)
    flags |= np.where(~url_blank & has_lic & (url_ids != ids), FLAG_BITS["mismatch"], 0)
    return flags, missing


def _url_licence_ids(url) -> np.ndarray:
    """license_id_from_url per row (-2 where it gives None), each distinct URL looked up once."""
    values = pc.unique(url)
    ids = [
        (-2 if v is None else (license_id_from_url(v) if license_id_from_url(v) is not None else -2))
        for v in values.to_pylist()
    ]
    where = pc.index_in(url, value_set=values).to_numpy(zero_copy_only=False)
    return (
        np.array(ids, dtype=np.int64)[np.nan_to_num(where, nan=0).astype(np.int64)]
        if len(where)
        else np.zeros(0, dtype=np.int64)
    )


def commercial_safe_count(table: pa.Table) -> int:
    """How many rows :func:`is_commercial_safe` accepts."""
    ids = pc.fill_null(pc.cast(table.column("license_id"), pa.int64()), -1).to_numpy(zero_copy_only=False)
    allowed = _per_licence(ids, lambda lic: int(lic is not None and lic.commercial and lic.derivatives)).astype(bool)
    agree = _blank_mask(table.column("license_url")) | (_url_licence_ids(table.column("license_url")) == ids)
    return int((allowed & agree).sum())


def licence_summary_table(table: pa.Table) -> list[dict]:
    """:func:`license_summary` from a photo table (faces summed where known)."""
    grouped = (
        pa.table({"license_id": table.column("license_id"), "faces": table.column("faces")})
        .group_by("license_id", use_threads=False)
        .aggregate([([], "count_all"), ("faces", "sum"), ("faces", "count")])
    )
    rows = []
    for item in grouped.to_pylist():
        key = item["license_id"]
        lic = license_of(key)
        rows.append(
            {
                "license_id": key,
                "name": lic.name if lic else "unknown",
                "url": lic.url if lic else "",
                "photos": item["count_all"],
                "faces": int(item["faces_sum"]) if item["faces_count"] else None,
                "commercial": bool(lic and lic.commercial),
                "derivatives": bool(lic and lic.derivatives),
                "share_alike": bool(lic and lic.share_alike),
            }
        )
    return sorted(rows, key=lambda r: (r["license_id"] is None, r["license_id"] if r["license_id"] is not None else 0))
