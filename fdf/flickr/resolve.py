"""Fill missing download URLs of Flickr rows through ``flickr.photos.getSizes``.

FDF's metainfo names each photo's page but not its image file; without the YFCC100M dump,
the URL has to come from Flickr. Rows that already have a URL are left as they are.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from tqdm import tqdm

from .client import FlickrApiError, FlickrClient

log = logging.getLogger(__name__)

# Largest first; "Original" may be missing when the owner hides originals.
SIZE_PREFERENCE = (
    "Original",
    "X-Large 6K",
    "X-Large 5K",
    "X-Large 4K",
    "X-Large 3K",
    "Large 2048",
    "Large 1600",
    "Large",
    "Medium 800",
    "Medium 640",
    "Medium",
)


@dataclass
class ResolveSummary:
    """How many rows needed a URL, got one, or are gone from Flickr."""

    needed: int
    resolved: int
    not_found: int
    failed: int


def pick_size(sizes: list[dict]) -> dict | None:
    """The preferred photo size from a getSizes answer (videos' sizes are skipped)."""
    by_label = {s.get("label"): s for s in sizes if s.get("media", "photo") == "photo"}
    for label in SIZE_PREFERENCE:
        if label in by_label:
            return by_label[label]
    photos = [s for s in by_label.values() if s.get("width")]
    return max(photos, key=lambda s: int(s["width"]), default=None)


def _needs_url(df: pd.DataFrame) -> pd.Series:
    url = df["download_url"].astype("string")
    numeric = df["photo_id"].astype("string").str.fullmatch(r"\d+").fillna(False)
    return (url.isna() | (url.str.len() == 0)).fillna(True) & numeric


def resolve_download_urls(
    client: FlickrClient, manifest: pd.DataFrame, threads: int = 4, progress: bool = True
) -> tuple[pd.DataFrame, ResolveSummary]:
    """Return ``manifest`` with download_url/width/height filled from getSizes where missing.

    Photos Flickr no longer serves (error 1) get ``url_status = "not_found"``; every other
    Flickr error is ``url_status = "error"`` with the message kept in ``url_error``.
    """
    df = manifest.copy()
    for col in ("url_status", "url_error"):
        if col not in df:
            df[col] = None
    todo = df.index[_needs_url(df)]

    def one(photo_id: str):
        try:
            answer = client.call("flickr.photos.getSizes", photo_id=photo_id)
        except FlickrApiError as exc:
            return ("not_found" if exc.code == 1 else "error", None, str(exc))
        size = pick_size(answer.get("sizes", {}).get("size", []))
        return ("from_getsizes", size, "") if size else ("error", None, "getSizes listed no photo size")

    ids = df.loc[todo, "photo_id"].astype(str).tolist()
    # The client's rate limiter is shared, so threads only overlap waiting on the network.
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(tqdm(pool.map(one, ids), total=len(ids), desc="getSizes", disable=not progress))
    counts = {"from_getsizes": 0, "not_found": 0, "error": 0}
    for idx, (status, size, error) in zip(todo, results):
        counts[status] += 1
        df.at[idx, "url_status"] = status
        df.at[idx, "url_error"] = error or None
        if size:
            df.at[idx, "download_url"] = size["source"]
            df.at[idx, "width"] = int(size["width"]) if str(size.get("width", "")).isdigit() else pd.NA
            df.at[idx, "height"] = int(size["height"]) if str(size.get("height", "")).isdigit() else pd.NA
    summary = ResolveSummary(len(ids), counts["from_getsizes"], counts["not_found"], counts["error"])
    log.info("download URLs: %d needed, %d resolved, %d gone from Flickr, %d failed", *vars(summary).values())
    return df, summary
