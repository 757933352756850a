"""Static licence and attribution checks on photo rows (no network).

Each photo gets a list of flags (keys of :data:`FLAGS`). A face crop is an adaptation of the
photo, so NoDerivatives licences are flagged even though the photo itself may be shared.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from ..flickr.search import is_opted_out
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
        rows.append({
            "license_id": key,
            "name": lic.name if lic else "unknown",
            "url": lic.url if lic else "",
            "photos": photos[key],
            "faces": faces[key] if key in faces else None,
            "commercial": bool(lic and lic.commercial),
            "derivatives": bool(lic and lic.derivatives),
            "share_alike": bool(lic and lic.share_alike),
        })
    return rows
