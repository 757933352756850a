"""Reading photos for anonymization and writing them back without metadata, failing closed.

Reading applies the EXIF orientation first (so boxes refer to the pixels people see) and keeps
the photo's own pixel representation (grayscale, RGB, RGBA, 16-bit) so pixels away from faces
can be written back unchanged. CMYK and palette photos are converted to RGB (RGBA when they
carry transparency). Detection always runs on an RGB uint8 working copy.

Writing builds a fresh image from the pixels only: EXIF (GPS included), XMP, IPTC and comments
are never passed to the encoder; the encoded bytes are read back and checked before they are
renamed into place, so a file with metadata or a half-written file never appears.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from fdf.atomic import atomic_write_bytes
from fdf.errors import FdfError

log = logging.getLogger(__name__)

#: File name endings handled as photos, and the Pillow encoder each is written with.
IMAGE_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
#: Default cap on decoded pixels (Pillow's own bomb guard stops at ~179 MP; real panoramas exceed it).
DEFAULT_MAX_PIXELS = 400_000_000


class ImageReadError(FdfError):
    """A photo cannot be read: missing, not an image, truncated or corrupt, or too large."""


class ImageWriteError(FdfError):
    """An anonymized photo could not be encoded or failed the metadata check; nothing was written."""


@dataclass
class LoadedImage:
    """A decoded photo: ``pixels`` in its own representation, ``rgb`` the uint8 working copy.

    ``pixels`` is HxW (grayscale) or HxWx3 / HxWx4 (RGB / RGBA), uint8 or uint16, already
    rotated by its EXIF orientation. ``icc_profile`` is kept so colours look the same.
    """

    pixels: np.ndarray
    rgb: np.ndarray
    source_format: str
    icc_profile: bytes | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


def is_image_path(path: str | Path) -> bool:
    """True when ``path`` ends in one of :data:`IMAGE_FORMATS` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_FORMATS


def _native_pixels(img: Image.Image) -> np.ndarray:
    """Pixels in the photo's own representation (see :class:`LoadedImage`)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.uint16)
    if img.mode == "I":
        # 32-bit integer grayscale, what Pillow gives for most 16-bit grayscale PNGs.
        return np.clip(np.asarray(img), 0, 65535).astype(np.uint16)
    if img.mode in ("L", "RGB", "RGBA"):
        return np.asarray(img)
    if img.mode == "1":
        return np.asarray(img.convert("L"))
    if img.mode in ("LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return np.asarray(img.convert("RGBA"))
    # CMYK, YCbCr, LAB, P, F ...: RGB is what the writers below can all store.
    return np.asarray(img.convert("RGB"))


def to_working_rgb(pixels: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 copy of native ``pixels`` for detection and generation."""
    arr = pixels
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.uint32) * 255 + 32767) // 65535
        arr = arr.astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr)


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode ``path`` fully (a truncated file is an error, never a partial image)."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: not a file")
    # Truncated JPEGs must fail, not decode to grey: another library may have flipped this global.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            old_limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = max_pixels
            try:
                with Image.open(path) as img:
                    fmt = img.format or "?"
                    img.load()
                    icc = img.info.get("icc_profile")
                    img = ImageOps.exif_transpose(img)
                    pixels = _native_pixels(img)
            finally:
                Image.MAX_IMAGE_PIXELS = old_limit
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{path}: too large ({exc}); raise max_pixels to allow it") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: truncated or corrupt image ({exc})") from None
    if min(pixels.shape[:2]) < 1:
        raise ImageReadError(f"{path}: image has no pixels")
    return LoadedImage(pixels=np.ascontiguousarray(pixels), rgb=to_working_rgb(pixels), source_format=fmt,
                       icc_profile=icc)


def _pil_image(pixels: np.ndarray) -> Image.Image:
    if pixels.dtype == np.uint16:
        if pixels.ndim != 2:
            raise ImageWriteError("16-bit colour output is not supported")
    return Image.fromarray(pixels)  # uint16 HxW becomes mode "I;16"


def encode_image(pixels: np.ndarray, fmt: str, icc_profile: bytes | None = None, jpeg_quality: int = 95) -> bytes:
    """Encode native ``pixels`` as ``fmt`` with no EXIF, XMP, IPTC or comments."""
    img = _pil_image(pixels)
    if fmt in ("JPEG", "BMP") and img.mode == "RGBA":
        img = img.convert("RGB")  # these formats have no alpha
    if fmt == "JPEG" and img.mode == "I;16":
        img = Image.fromarray(to_working_rgb(pixels)[:, :, 0])
    params: dict = {}
    if icc_profile and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        params["icc_profile"] = icc_profile
    if fmt == "JPEG":
        params.update(quality=jpeg_quality, subsampling=0)
    elif fmt == "WEBP":
        params.update(lossless=True)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt, **params)
    except (OSError, ValueError, KeyError) as exc:
        raise ImageWriteError(f"cannot encode {fmt}: {exc}") from None
    return buf.getvalue()


def metadata_found(data: bytes) -> list[str]:
    """Names of metadata blocks present in encoded photo bytes ('exif', 'gps', 'xmp', 'iptc', 'comment')."""
    found = []
    with Image.open(io.BytesIO(data)) as img:
        exif = img.getexif()
        if len(exif):
            found.append("exif")
        if exif.get_ifd(0x8825) or 0x8825 in exif:
            found.append("gps")
        info_keys = set(img.info)
        if info_keys & {"xmp", "XML:com.adobe.xmp"}:
            found.append("xmp")
        if "photoshop" in info_keys or "iptc" in info_keys or getattr(img, "applist", None) and any(
            name == "APP13" for name, _ in img.applist
        ):
            found.append("iptc")
        if "comment" in info_keys or any(k.lower() in ("comment", "description", "author") for k in info_keys):
            found.append("comment")
    return found


def write_image(path: str | Path, pixels: np.ndarray, icc_profile: bytes | None = None, jpeg_quality: int = 95) -> None:
    """Encode ``pixels`` by ``path``'s ending, check no metadata is left, write atomically."""
    path = Path(path)
    fmt = IMAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageWriteError(f"{path}: unsupported output format; use one of {', '.join(sorted(IMAGE_FORMATS))}")
    data = encode_image(pixels, fmt, icc_profile, jpeg_quality)
    left = metadata_found(data)
    if left:  # fail closed: never expected, since only pixels go to the encoder
        raise ImageWriteError(f"{path}: encoder left metadata {left}; nothing written")
    atomic_write_bytes(path, data, fsync=False)
