"""What a manifest holds: counts per source and licence, and rows missing attribution fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd

from ..licenses import license_table


@dataclass
class ManifestSummary:
    """Counts for ``fdf manifest show``; ``missing`` maps a field to rows lacking it."""

    photos: int
    per_source: dict[str, int] = field(default_factory=dict)
    per_license: dict[str, int] = field(default_factory=dict)  # "4 CC BY 2.0" -> count; "unknown"
    missing: dict[str, int] = field(default_factory=dict)
    faces: int | None = None  # FDF manifests: faces across all photos

    def to_dict(self) -> dict:
        return asdict(self)


def _blank(series: pd.Series) -> pd.Series:
    return series.isna() | (series.astype("string").str.strip() == "")


def summarize_manifest(df: pd.DataFrame) -> ManifestSummary:
    """Summarize a normalized manifest frame (as returned by ``read_manifest``)."""
    table = license_table()
    sources = df["source"].fillna("unknown").value_counts()
    ids = df["license_id"]
    per_license = {}
    for lid, count in ids.value_counts(dropna=True).sort_index().items():
        lid = int(lid)
        name = table[lid].name if lid in table else "not a Flickr licence id"
        per_license[f"{lid} {name}"] = int(count)
    if ids.isna().any():
        per_license["unknown"] = int(ids.isna().sum())
    needs_credit = ids.map(lambda i: pd.notna(i) and int(i) in table and table[int(i)].attribution).astype(bool)
    # A photo is fetchable if it has a URL or is already on disk.
    no_source = _blank(df["download_url"])
    if "local_path" in df:
        no_source &= _blank(df["local_path"])
    missing = {
        "license_id": int(ids.isna().sum()),
        "download_url_or_local_path": int(no_source.sum()),
        "owner_name (attribution licences)": int((needs_credit & _blank(df["owner_name"])).sum()),
        "title (attribution licences)": int((needs_credit & _blank(df["title"])).sum()),
        "page_url (attribution licences)": int((needs_credit & _blank(df["page_url"])).sum()),
    }
    faces = int(df["fdf_face_count"].sum()) if "fdf_face_count" in df else None
    return ManifestSummary(len(df), {str(k): int(v) for k, v in sources.items()}, per_license, missing, faces)


def format_summary(summary: ManifestSummary) -> str:
    """Plain-text report of a summary, one count a line."""
    lines = [f"photos: {summary.photos}"]
    if summary.faces is not None:
        lines.append(f"FDF faces: {summary.faces}")
    for title, counts in (
        ("per source", summary.per_source),
        ("per licence", summary.per_license),
        ("missing", summary.missing),
    ):
        lines.append(f"{title}:")
        lines.extend(f"  {name}: {count}" for name, count in counts.items())
    return "\n".join(lines)
