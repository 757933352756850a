"""Check that bytes are a whole, decodable image of acceptable size; measure it."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

# We enforce our own pixel cap before decoding; Pillow's global one would turn big-but-allowed
# images into exceptions (and it is process-wide state other code may rely on), so we leave it
# alone and only silence its warning inside validate_image.

_EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}


@dataclass
class ImageCheck:
    """Outcome of validating one photo's bytes."""

    status: str  # "ok", "not_image", "truncated" or "too_large"
    error: str = ""
    sha256: str = ""
    width: int | None = None
    height: int | None = None
    format: str = ""

    @property
    def extension(self) -> str:
        return _EXTENSIONS.get(self.format, self.format.lower() or "bin")


def _looks_like_text(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<", b"{", b"[")) or b"<html" in head or b"<!doctype" in head


def _jpeg_has_end(img: Image.Image, data: bytes) -> bool:
    """True if an end-of-image marker (FF D9) follows the start of the main image's scan data.

    Entropy-coded data never contains FF D9 (FF is stuffed as FF 00), so a missing marker
    means the body was cut, even when libjpeg would quietly decode what is there. Searching
    from the scan's offset skips an EXIF thumbnail's own marker; data appended after the
    marker (motion photos, MPO) is allowed.
    """
    scan_start = img.tile[0][2] if img.tile else 0
    return data.find(b"\xff\xd9", scan_start) != -1


def validate_image(data: bytes, max_pixels: int) -> ImageCheck:
    """Hash ``data``, read its header, refuse more than ``max_pixels``, then fully decode it.

    The pixel check happens before decoding, so a decompression bomb costs only its header.
    A JPEG is decoded in draft mode (DCT scaling): every entropy-coded block is still read,
    so truncation is still caught, at a fraction of the cost of a full-size decode.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    if not data:
        return ImageCheck("truncated", "empty body", sha256)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        return ImageCheck("too_large", str(exc), sha256)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        kind = "an HTML/text page" if _looks_like_text(data) else "unrecognised bytes"
        detail = str(exc).split(" <_io.")[0]  # Pillow names the BytesIO object; it helps nobody
        return ImageCheck("not_image", f"not an image ({kind}, {len(data)} bytes): {detail}", sha256)
    width, height = img.size
    fmt = img.format or ""
    if width * height > max_pixels:
        return ImageCheck(
            "too_large",
            f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}",
            sha256,
            width,
            height,
            fmt,
        )
    if fmt in ("JPEG", "MPO") and not _jpeg_has_end(img, data):
        return ImageCheck("truncated", "JPEG ends before its end-of-image marker", sha256, width, height, fmt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if fmt in ("JPEG", "MPO"):
                img.draft(img.mode, (max(1, width // 8), max(1, height // 8)))
            img.load()
    except Image.DecompressionBombError as exc:
        return ImageCheck("too_large", str(exc), sha256, width, height, fmt)
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        return ImageCheck("truncated", f"cannot decode {fmt or 'image'} data: {exc}", sha256, width, height, fmt)
    return ImageCheck("ok", "", sha256, width, height, fmt)
