"""Image bytes for each Flickr size: the original file as is, smaller sizes resized (cached)."""

from __future__ import annotations

import functools
import io

from PIL import Image

from .catalog import CatalogPhoto
from .sizes import Size, size_dims

CONTENT_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif"}


@functools.lru_cache(maxsize=256)
def _resized(source_key: str, data: bytes | None, path: str | None, width: int, height: int, square: bool) -> bytes:
    # source_key keeps the cache small: 10,000 synthetic photos share a few files.
    raw = data if data is not None else open(path, "rb").read()
    with Image.open(io.BytesIO(raw)) as im:
        im = im.convert("RGB")
        if square:
            side = min(im.size)
            left, top = (im.width - side) // 2, (im.height - side) // 2
            im = im.crop((left, top, left + side, top + side))
        im = im.resize((width, height), Image.LANCZOS)
        out = io.BytesIO()
        im.save(out, "JPEG", quality=88)
        return out.getvalue()


def image_bytes(photo: CatalogPhoto, size: Size) -> tuple[bytes, str] | None:
    """(bytes, content type) of ``photo`` at ``size``; None if Flickr would not have that size."""
    dims = size_dims(photo, size)
    if dims is None:
        return None
    if size.long_edge is None:
        return photo.read_image(), CONTENT_TYPES.get(photo.original_format.lower(), "image/jpeg")
    if photo.image_path:
        key, data = f"path:{photo.image_path}", None
    else:
        key, data = f"photo:{photo.id}", photo.read_image()
    return _resized(key, data, photo.image_path, dims[0], dims[1], size.square), "image/jpeg"
