"""Fill missing download URLs (an FDF rebuild without a YFCC dump) with flickr.photos.getSizes.

FDF's metainfo names each photo but not an image URL; Flickr tells the sizes of a photo that is
still public. A photo deleted or made private since (Flickr error 1) keeps no URL and is marked
``photo_gone``, so the download stage records it as a failure instead of the build stopping.
"""

from __future__ import annotations

import logging

import pandas as pd
from tqdm import tqdm

from fdf.flickr import FlickrApiError, FlickrClient

log = logging.getLogger(__name__)

PHOTO_GONE = "photo_gone"
FROM_GETSIZES = "from_getsizes"


def best_size(sizes: list[dict]) -> dict | None:
    """The original if offered, else the largest size (by pixels)."""
    if not sizes:
        return None
    original = [s for s in sizes if s.get("label") == "Original"]
    return original[0] if original else max(sizes, key=lambda s: int(s.get("width") or 0) * int(s.get("height") or 0))


def resolve_download_urls(df: pd.DataFrame, client: FlickrClient, progress: bool = True) -> pd.DataFrame:
    """Return ``df`` with ``download_url``/``width``/``height`` filled where the URL was missing."""
    df = df.copy()
    missing = df["download_url"].isna() | (df["download_url"].astype("string") == "")
    for col in ("url_status", "width", "height"):
        if col not in df:
            df[col] = None
    for col in ("download_url", "url_status", "width", "height"):
        df[col] = df[col].astype(object)  # pandas 3 refuses str/int into an all-null typed column
    gone = 0
    for idx in tqdm(df.index[missing], desc="getSizes", unit="photo", disable=not progress):
        try:
            answer = client.call("flickr.photos.getSizes", photo_id=str(df.at[idx, "photo_id"]))
        except FlickrApiError as exc:
            if exc.code != 1:
                raise
            df.at[idx, "url_status"] = PHOTO_GONE
            gone += 1
            continue
        size = best_size(answer.get("sizes", {}).get("size", []))
        if size is None:
            df.at[idx, "url_status"] = PHOTO_GONE
            gone += 1
            continue
        df.at[idx, "download_url"] = size["source"]
        df.at[idx, "width"], df.at[idx, "height"] = size.get("width"), size.get("height")
        df.at[idx, "url_status"] = FROM_GETSIZES
    log.info("getSizes: %d URLs resolved, %d photos gone", int(missing.sum()) - gone, gone)
    return df
