"""Flickr's image sizes: suffix letters, labels, extras keys and the pixel sizes each one has.

See https://www.flickr.com/services/api/misc.urls.html. Medium (500) has no suffix in its URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import CatalogPhoto


@dataclass(frozen=True)
class Size:
    label: str  # getSizes label, e.g. "Large"
    suffix: str  # URL suffix letter; "" for Medium 500
    extra: str  # search extras key without "url_" (url_l -> "l"); also the sizes page key
    long_edge: int | None  # None for the original
    square: bool = False


SIZES = (
    Size("Square", "s", "sq", 75, True),
    Size("Large Square", "q", "q", 150, True),
    Size("Thumbnail", "t", "t", 100),
    Size("Small", "m", "s", 240),
    Size("Small 320", "n", "n", 320),
    Size("Small 400", "w", "w", 400),
    Size("Medium", "", "m", 500),
    Size("Medium 640", "z", "z", 640),
    Size("Medium 800", "c", "c", 800),
    Size("Large", "b", "l", 1024),
    Size("Large 1600", "h", "h", 1600),
    Size("Large 2048", "k", "k", 2048),
    Size("Original", "o", "o", None),
)
SIZE_BY_SUFFIX = {s.suffix: s for s in SIZES}
SIZE_BY_EXTRA = {s.extra: s for s in SIZES}


def size_dims(photo: CatalogPhoto, size: Size) -> tuple[int, int] | None:
    """(width, height) of ``photo`` at ``size``, or None when Flickr would not offer that size."""
    w, h = photo.width, photo.height
    if size.long_edge is None:
        return (w, h)
    longest = max(w, h)
    if size.square:
        side = min(size.long_edge, w, h)
        return (side, side)
    if longest <= 0 or size.long_edge > longest:
        return None
    scale = size.long_edge / longest
    return (max(1, round(w * scale)), max(1, round(h * scale)))


def available_sizes(photo: CatalogPhoto) -> list[tuple[Size, int, int]]:
    """Every size Flickr would list for ``photo``, smallest first, the original last."""
    out = []
    for size in SIZES:
        dims = size_dims(photo, size)
        if dims:
            out.append((size, dims[0], dims[1]))
    return out


def image_path(photo: CatalogPhoto, size: Size) -> str:
    """The static path of ``photo`` at ``size``, like live.staticflickr.com's."""
    if size.long_edge is None:
        return f"/{photo.server}/{photo.id}_{photo.original_secret}_o.{photo.original_format}"
    if not size.suffix:
        return f"/{photo.server}/{photo.id}_{photo.secret}.jpg"
    return f"/{photo.server}/{photo.id}_{photo.secret}_{size.suffix}.jpg"


def page_url(photo: CatalogPhoto) -> str:
    """The photo's page on flickr.com (never fetched by the toolkit)."""
    return f"https://www.flickr.com/photos/{photo.owner}/{photo.id}/"
