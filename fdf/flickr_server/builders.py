"""Build catalogs: from real image files, or N synthetic photos that reuse a few real files."""

from __future__ import annotations

import io
import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ..licenses import parse_license_ids
from .catalog import Catalog, CatalogError, CatalogPhoto
from .dates import to_mysql, to_unix
from .demo_files import demo_photo_paths

log = logging.getLogger(__name__)

FIRST_PHOTO_ID = 46_000_000_000  # Flickr ids of early 2019 are in this range
_WORDS = (
    "portrait family friends wedding street festival party beach concert city park kids "
    "smile people crowd market graduation birthday travel summer winter holiday"
).split()
_OWNER_NAMES = ("anna", "bjorn", "chen", "dara", "emeka", "fatima", "giulia", "hiro", "ines", "jonas")


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file; CatalogError if it is not a readable image."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, UnidentifiedImageError) as exc:
        raise CatalogError(f"cannot read image {path}: {exc}") from None


def _secret(rng: random.Random) -> str:
    return f"{rng.getrandbits(40):010x}"


def catalog_from_files(
    items: Iterable[str | Path | dict],
    *,
    owner: str = "12345678@N00",
    owner_name: str = "fdf-test",
    license: int = 4,
    date_upload: str | int = "2019-01-15 12:00:00",
    seed: int = 0,
) -> Catalog:
    """A catalog of real photos. Each item is an image path, or a dict of :class:`CatalogPhoto`
    fields with ``image_path`` (or ``image_bytes``); missing fields get plausible values
    (ids counting up from 46000000000, one minute apart, sizes read from the file)."""
    rng = random.Random(seed)
    known = {f.name for f in fields(CatalogPhoto)}
    base_time = to_unix(date_upload)
    photos = []
    for i, item in enumerate(items):
        rec = dict(item) if isinstance(item, dict) else {"image_path": str(item)}
        unknown = sorted(set(rec) - known)
        if unknown:
            raise CatalogError(f"item {i}: unknown photo fields {', '.join(unknown)}")
        if rec.get("image_path") is None and rec.get("image_bytes") is None:
            raise CatalogError(f"item {i}: needs image_path or image_bytes")
        if rec.get("image_path") is not None:
            rec["image_path"] = str(Path(rec["image_path"]).resolve())
            if not Path(rec["image_path"]).is_file():
                raise CatalogError(f"item {i}: image file not found: {rec['image_path']}")
        if not rec.get("width") or not rec.get("height"):
            src = rec["image_path"] if rec.get("image_path") else io.BytesIO(rec["image_bytes"])
            rec["width"], rec["height"] = image_size(src)
        upload = to_unix(rec.get("date_upload", base_time + 60 * i))
        rec.setdefault("id", str(FIRST_PHOTO_ID + i))
        rec.setdefault("owner", owner)
        rec.setdefault("owner_name", owner_name)
        rec.setdefault("license", license)
        rec["date_upload"] = upload
        rec["date_taken"] = to_mysql(rec.get("date_taken") or upload - 3600)
        name = Path(rec["image_path"]).stem if rec.get("image_path") else f"photo {i}"
        rec.setdefault("title", name.replace("_", " "))
        rec.setdefault("secret", _secret(rng))
        rec.setdefault("original_secret", _secret(rng))
        if rec.get("image_path"):
            rec.setdefault("original_format", "png" if rec["image_path"].lower().endswith(".png") else "jpg")
        photos.append(CatalogPhoto(**rec))
    return Catalog(photos)


def synthetic_catalog(
    n: int,
    *,
    seed: int = 0,
    min_upload: str | int = "2019-01-01",
    max_upload: str | int = "2019-03-01",
    licenses: Sequence[int] | str = (1, 2, 4, 5),
    no_cv_fraction: float = 0.02,
    images: Sequence[str | Path] | None = None,
    owners: int = 50,
    private_fraction: float = 0.0,
    video_fraction: float = 0.0,
) -> Catalog:
    """``n`` made-up photos, deterministic from ``seed``.

    Upload times are uniform over [min_upload, max_upload] (UTC, both inclusive); ids increase
    with upload time as on Flickr; licences are drawn evenly from ``licenses``; a
    ``no_cv_fraction`` share carries the raw tag "no_cv". Each photo points at one of
    ``images`` (default: the bundled demo photos), so 10,000 photos cost no extra disk.
    """
    if n < 0:
        raise CatalogError(f"n must be >= 0, got {n}")
    lo, hi = to_unix(min_upload), to_unix(max_upload)
    if hi < lo:
        raise CatalogError(f"max_upload {max_upload!r} is before min_upload {min_upload!r}")
    try:
        license_ids = parse_license_ids(licenses)
    except (KeyError, ValueError) as exc:
        raise CatalogError(str(exc).strip("'\"")) from None
    if not license_ids:
        raise CatalogError("licenses must name at least one licence id")
    for name, frac in (
        ("no_cv_fraction", no_cv_fraction),
        ("private_fraction", private_fraction),
        ("video_fraction", video_fraction),
    ):
        if not 0.0 <= frac <= 1.0:
            raise CatalogError(f"{name} must be between 0 and 1, got {frac}")
    if images is None:
        images = demo_photo_paths()
    if not images:
        raise CatalogError("synthetic catalog needs at least one image file")
    sizes = {str(Path(p).resolve()): image_size(p) for p in images}
    paths = list(sizes)
    rng = random.Random(seed)
    owner_ids = [f"{rng.randrange(10**7, 10**11)}@N0{rng.randrange(0, 9)}" for _ in range(max(1, owners))]
    uploads = sorted(rng.randint(lo, hi) for _ in range(n))
    photos = []
    for i, upload in enumerate(uploads):
        k = rng.randrange(len(owner_ids))
        path = rng.choice(paths)
        words = rng.sample(_WORDS, 3)
        tags = rng.sample(_WORDS, rng.randint(0, 4))
        if rng.random() < no_cv_fraction:
            tags.append("no_cv")
        photos.append(
            CatalogPhoto(
                id=str(FIRST_PHOTO_ID + 3 * i + rng.randrange(3)),
                owner=owner_ids[k],
                owner_name=f"{_OWNER_NAMES[k % len(_OWNER_NAMES)]}{k}",
                real_name=f"{_OWNER_NAMES[k % len(_OWNER_NAMES)].title()} Example",
                title=" ".join(words[:2]),
                description=f"A {words[2]} photo." if rng.random() < 0.5 else "",
                license=rng.choice(license_ids),
                date_upload=upload,
                date_taken=to_mysql(upload - rng.randint(0, 30 * 86400)),
                tags=tags,
                media="video" if rng.random() < video_fraction else "photo",
                public=rng.random() >= private_fraction,
                image_path=path,
                width=sizes[path][0],
                height=sizes[path][1],
                secret=_secret(rng),
                original_secret=_secret(rng),
                server=str(rng.randint(4800, 7999)),
                farm=rng.choice((5, 8, 66)),
                views=rng.randint(0, 5000),
            )
        )
    log.info("built synthetic catalog of %d photos", n)
    return Catalog(photos)
