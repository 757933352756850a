"""Deterministic train/validation split by photo.

The split depends only on the photo id, so all faces of one photo land in the same split,
and a rerun, a resumed run or another machine all agree without sharing state.
"""

from __future__ import annotations

import hashlib

DEFAULT_VAL_FRACTION = 0.05


def photo_fraction(photo_id: str) -> float:
    """Map ``photo_id`` to a number in [0, 1): the first 8 hex digits of its SHA-1."""
    digest = hashlib.sha1(str(photo_id).encode("utf-8")).hexdigest()
    return int(digest[:8], 16) / 16**8


def split_for_photo(photo_id: str, val_fraction: float = DEFAULT_VAL_FRACTION) -> str:
    """Return ``"validation"`` for about ``val_fraction`` of photo ids, else ``"train"``."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    return "validation" if photo_fraction(photo_id) < val_fraction else "train"
