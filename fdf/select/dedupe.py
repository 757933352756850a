"""Duplicates: identical photo bytes (sha256) and near-duplicate faces (perceptual hash).

The same picture re-uploaded, re-encoded or resized gets a new photo id and new sha256; its face
crops still look the same, so a 64-bit difference hash (dHash) of each crop catches it.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def dhash(rgb: np.ndarray) -> int:
    """64-bit difference hash: is each pixel of a 9x8 grey thumbnail brighter than its right neighbour."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).reshape(-1)
    return int(np.packbits(bits).view(">u8")[0])


def dhash_png(data: bytes) -> int:
    """dHash of an encoded image (a face crop's PNG bytes)."""
    with Image.open(io.BytesIO(data)) as img:
        return dhash(np.asarray(img.convert("RGB")))


def near_duplicates(hashes: np.ndarray, groups: np.ndarray, max_distance: int) -> np.ndarray:
    """For faces in priority order, True where a face is within ``max_distance`` bits of an
    earlier kept face from a *different* group (photo); the first of each set is kept."""
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
    """Photo ids whose bytes equal an earlier photo's (in the given order); the first stays."""
    first: dict[str, str] = {}  # digest -> the photo id that keeps it
    dups = set()
    for pid, digest in zip(photo_ids, sha256):
        if not digest:
            continue
        owner = first.setdefault(digest, pid)
        if owner != pid:  # a photo with several faces appears several times: not its own duplicate
            dups.add(pid)
    return dups
