"""Reading photos for anonymization and writing them back without metadata, failing closed.

Reading applies the EXIF orientation first (so boxes refer to the pixels people see) and keeps
the photo's own pixel representation (grayscale, RGB, RGBA, 16-bit grayscale and 16-bit colour)
so pixels away from faces can be written back unchanged. Pillow reads 48/64-bit colour PNG and
TIFF as 8-bit, so those are decoded with OpenCV instead and written back at 16 bits (PNG keeps
its ICC profile; a 16-bit colour TIFF with a profile is refused rather than written without it).
CMYK, Lab and palette photos are converted to RGB (RGBA when they carry transparency); CMYK and
Lab through their embedded ICC profile to sRGB, and a profile is only kept when it describes the
pixels written (an RGB profile for RGB, a gray one for grayscale). Detection always runs on an
RGB uint8 working copy.

Writing builds a fresh image from the pixels only: EXIF (GPS included), XMP, IPTC and comments
are never passed to the encoder; the encoded bytes are read back and checked before they are
renamed into place, so a file with metadata or a half-written file never appears.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

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


def _native_pixels(img: Image.Image, icc: bytes | None) -> np.ndarray:
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
    if img.mode in ("CMYK", "LAB") and icc:
        converted = _to_srgb(img, icc)
        if converted is not None:
            return np.asarray(converted)
    # CMYK, YCbCr, LAB, P, F ...: RGB is what the writers below can all store.
    return np.asarray(img.convert("RGB"))


def _to_srgb(img: Image.Image, icc: bytes) -> Image.Image | None:
    """``img`` converted to sRGB through its own ICC profile, or None if the profile is unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception as exc:  # noqa: BLE001 - a broken or mismatched profile: plain conversion instead
        log.debug("ICC conversion to sRGB failed (%s); converting without the profile", exc)
        return None


def _icc_colour_space(icc: bytes | None) -> bytes | None:
    """The colour space an ICC profile describes ('RGB ', 'GRAY', 'CMYK', ...), from its header."""
    return icc[16:20] if icc and len(icc) >= 20 else None


def _profile_for(pixels: np.ndarray, icc: bytes | None) -> bytes | None:
    """``icc`` if it describes ``pixels``' channels (an RGB profile on a CMYK photo's RGB output
    would be wrong colours, and a CMYK one is not a valid profile for RGB at all)."""
    wanted = b"GRAY" if pixels.ndim == 2 else b"RGB "
    return icc if _icc_colour_space(icc) == wanted else None


#: EXIF orientation -> the Pillow transpose that undoes it (as ImageOps.exif_transpose does).
_ORIENTATION_OPS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _deep_colour(img: Image.Image, head: bytes) -> bool:
    """True for colour photos with 16 bits per channel, which Pillow would decode as 8-bit."""
    if img.format == "PNG":
        # IHDR: bit depth at byte 24, colour type at 25 (2 RGB, 6 RGBA)
        return len(head) >= 26 and head[24] == 16 and head[25] in (2, 6)
    if img.format == "TIFF" and img.mode in ("RGB", "RGBA"):
        bits = getattr(img, "tag_v2", {}).get(258)
        return isinstance(bits, tuple) and any(b > 8 for b in bits)
    return False


def _read_deep_colour(path: Path, orientation: int) -> np.ndarray:
    """A 16-bit colour photo as RGB(A) uint16, rotated by its EXIF ``orientation``."""

    arr = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageReadError(f"{path}: cannot decode its 16-bit colour pixels")
    arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB if arr.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    op = _ORIENTATION_OPS.get(orientation)
    if op is not None:
        arr = np.dstack(
            [np.asarray(Image.fromarray(np.ascontiguousarray(arr[:, :, c])).transpose(op)) for c in range(arr.shape[2])]
        )
    return arr


_PILLOW_CAP_LOCK = threading.Lock()


@contextlib.contextmanager
def pillow_pixel_cap(max_pixels: int | None):
    """Pillow's process-wide bomb cap set to ``max_pixels`` inside the block (threads take turns).

    Its default (about 89 MP, an error past 179 MP) would refuse photos that our own cap allows.
    """
    with _PILLOW_CAP_LOCK:
        old = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS = old


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
            with pillow_pixel_cap(max_pixels):  # Pillow checks its cap when it opens the file
                img = Image.open(path)
            with img:
                fmt = img.format or "?"
                img.load()
                icc = img.info.get("icc_profile")
                if _deep_colour(img, _head(path)):
                    pixels = _read_deep_colour(path, img.getexif().get(0x0112, 1))
                else:
                    img = ImageOps.exif_transpose(img)
                    pixels = _native_pixels(img, icc)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageReadError(f"{path}: too large ({exc}); raise max_pixels to allow it") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(f"{path}: truncated or corrupt image ({exc})") from None
    if min(pixels.shape[:2]) < 1:
        raise ImageReadError(f"{path}: image has no pixels")
    return LoadedImage(
        pixels=np.ascontiguousarray(pixels),
        rgb=to_working_rgb(pixels),
        source_format=fmt,
        icc_profile=_profile_for(pixels, icc),
    )


def _head(path: Path) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(64)


def _pil_image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels)  # uint16 HxW becomes mode "I;16"


def _png_with_icc(data: bytes, icc_profile: bytes) -> bytes:
    """PNG ``data`` with an iCCP chunk (the profile, zlib-compressed) right after IHDR."""
    body = b"ICC profile\0\0" + zlib.compress(icc_profile)
    chunk = struct.pack(">I", len(body)) + b"iCCP" + body + struct.pack(">I", zlib.crc32(b"iCCP" + body))
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length and type, IHDR data, CRC
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def _encode_deep_colour(pixels: np.ndarray, fmt: str, icc_profile: bytes | None) -> bytes:
    """16-bit RGB(A) pixels as a 16-bit PNG or TIFF (OpenCV writes pixels only: no metadata)."""

    if fmt not in ("PNG", "TIFF"):
        raise ImageWriteError(f"16-bit colour pixels cannot be written as {fmt} without losing bits; use PNG or TIFF")
    if fmt == "TIFF" and icc_profile:
        raise ImageWriteError(
            "a 16-bit colour TIFF with an ICC profile cannot be written with its profile; convert it to PNG first"
        )
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(".png" if fmt == "PNG" else ".tiff", bgr)
    if not ok:
        raise ImageWriteError(f"cannot encode 16-bit colour {fmt}")
    data = buf.tobytes()
    return _png_with_icc(data, icc_profile) if fmt == "PNG" and icc_profile else data


def encode_image(pixels: np.ndarray, fmt: str, icc_profile: bytes | None = None, jpeg_quality: int = 95) -> bytes:
    """Encode native ``pixels`` as ``fmt`` with no EXIF, XMP, IPTC or comments."""
    icc_profile = _profile_for(pixels, icc_profile)
    if pixels.dtype == np.uint16 and pixels.ndim == 3:
        return _encode_deep_colour(pixels, fmt, icc_profile)
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


#: Tags every TIFF holds to describe its pixels (size, layout, compression, ICC): not metadata.
_TIFF_STRUCTURE_TAGS = frozenset(
    {
        254,
        255,
        256,
        257,
        258,
        259,
        262,
        266,
        273,
        277,
        278,
        279,
        282,
        283,
        284,
        296,
        317,
        320,
        322,
        323,
        324,
        325,
        338,
        339,
        340,
        341,
        34675,
    }
)


def metadata_found(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[str]:
    """Names of metadata blocks present in encoded photo bytes ('exif', 'gps', 'xmp', 'iptc', 'comment').

    Only headers are parsed; ``max_pixels`` is Pillow's cap while opening (its default would
    refuse a 180-400 MP photo that was just decoded and anonymized under our own cap).
    """
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pillow_pixel_cap(max_pixels):
            img = Image.open(io.BytesIO(data))
    with img:
        exif = img.getexif()
        tags = set(exif) - _TIFF_STRUCTURE_TAGS if img.format == "TIFF" else set(exif)
        if tags:
            found.append("exif")
        if exif.get_ifd(0x8825) or 0x8825 in exif:
            found.append("gps")
        info_keys = set(img.info)
        if info_keys & {"xmp", "XML:com.adobe.xmp"}:
            found.append("xmp")
        if (
            "photoshop" in info_keys
            or "iptc" in info_keys
            or getattr(img, "applist", None)
            and any(name == "APP13" for name, _ in img.applist)
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
    left = metadata_found(data, max(DEFAULT_MAX_PIXELS, pixels.shape[0] * pixels.shape[1]))
    if left:  # fail closed: never expected, since only pixels go to the encoder
        raise ImageWriteError(f"{path}: encoder left metadata {left}; nothing written")
    atomic_write_bytes(path, data, fsync=False)
