"""The photos a fake Flickr server knows: a thread-safe catalog of :class:`CatalogPhoto`.

The server reads the catalog on every request, so mutations made while it runs (delete,
make private, change licence, add a tag) show up in the next API answer, like on Flickr.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import atomic_path, atomic_write_text
from ..errors import FdfError
from ..licenses import get_license

log = logging.getLogger(__name__)


class CatalogError(FdfError):
    """A catalog file is unreadable, or a photo id or field value is invalid."""


def clean_tag(raw: str) -> str:
    """Flickr's normalized tag: lower-case, only letters and digits ("No_CV" -> "nocv")."""
    return re.sub(r"[\W_]", "", raw.lower())


def is_machine_tag(raw: str) -> bool:
    """True for Flickr machine tags such as ``geo:lat=12.3`` (namespace:predicate=value)."""
    return re.fullmatch(r"[A-Za-z_][\w]*:[A-Za-z_][\w]*=.*", raw) is not None


@dataclass
class CatalogPhoto:
    """One photo as the fake Flickr stores it. Dates are UTC unix seconds except ``date_taken``,
    which is Flickr's camera-local 'YYYY-MM-DD HH:MM:SS' string."""

    id: str
    owner: str  # nsid, e.g. "12345678@N00"
    owner_name: str = ""  # Flickr username (screen name)
    real_name: str = ""
    title: str = ""
    description: str = ""
    license: int = 0
    date_upload: int = 0
    date_taken: str = ""
    tags: list[str] = field(default_factory=list)  # raw tags, as the owner typed them
    media: str = "photo"  # "photo" or "video"
    public: bool = True
    deleted: bool = False
    image_path: str | None = None
    image_bytes: bytes | None = None
    width: int = 0
    height: int = 0
    secret: str = ""
    original_secret: str = ""
    original_format: str = "jpg"
    server: str = "65535"
    farm: int = 66
    last_update: int = 0
    views: int = 0

    def __post_init__(self) -> None:
        self.id = str(self.id)
        self.license = int(self.license)
        self.date_upload = int(self.date_upload)
        self.tags = list(self.tags)
        if not self.last_update:
            self.last_update = self.date_upload
        if self.media not in ("photo", "video"):
            raise CatalogError(f"photo {self.id}: media must be 'photo' or 'video', got {self.media!r}")

    @property
    def clean_tags(self) -> list[str]:
        """Flickr's normalized tags, without machine tags, no repeats (the ``tags`` extra)."""
        out: list[str] = []
        for raw in self.tags:
            tag = clean_tag(raw)
            if tag and not is_machine_tag(raw) and tag not in out:
                out.append(tag)
        return out

    @property
    def machine_tags(self) -> list[str]:
        return [raw.lower() for raw in self.tags if is_machine_tag(raw)]

    @property
    def visible(self) -> bool:
        """Whether anonymous API callers can see the photo at all."""
        return self.public and not self.deleted

    def read_image(self) -> bytes:
        """The original image file's bytes."""
        if self.image_bytes is not None:
            return self.image_bytes
        if self.image_path is None:
            raise CatalogError(f"photo {self.id} has no image file or bytes")
        return Path(self.image_path).read_bytes()

    def to_record(self) -> dict:
        """A JSON-friendly dict (image bytes base64-encoded under ``image_base64``)."""
        rec = dataclasses.asdict(self)
        data = rec.pop("image_bytes")
        rec["image_base64"] = base64.b64encode(data).decode("ascii") if data is not None else None
        return rec

    @classmethod
    def from_record(cls, rec: dict, base_dir: Path | None = None) -> CatalogPhoto:
        """Inverse of :meth:`to_record`; relative image paths resolve against ``base_dir``."""
        rec = dict(rec)
        data = rec.pop("image_base64", None)
        if data:
            rec["image_bytes"] = base64.b64decode(data)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(rec) - names)
        if unknown:
            raise CatalogError(f"unknown catalog fields: {', '.join(unknown)}")
        if rec.get("image_path") and base_dir is not None and not Path(rec["image_path"]).is_absolute():
            rec["image_path"] = str(base_dir / rec["image_path"])
        if rec.get("tags") is None:
            rec["tags"] = []
        return cls(**rec)


class Catalog:
    """Photos by id, safe to read and mutate from the server's threads.

    Builders: :meth:`from_files`, :meth:`synthetic`, :meth:`demo`, :meth:`load`.
    """

    def __init__(self, photos: Iterable[CatalogPhoto] = ()) -> None:
        self._lock = threading.RLock()
        self._photos: dict[str, CatalogPhoto] = {}
        for photo in photos:
            self.add(photo)

    # -- reading ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._photos)

    def __iter__(self) -> Iterator[CatalogPhoto]:
        return iter(self.photos())

    def __contains__(self, photo_id: object) -> bool:
        return str(photo_id) in self._photos

    def photos(self) -> list[CatalogPhoto]:
        """A snapshot list of every photo, deleted and private ones included."""
        with self._lock:
            return list(self._photos.values())

    def get(self, photo_id: str) -> CatalogPhoto | None:
        return self._photos.get(str(photo_id))

    def __getitem__(self, photo_id: str) -> CatalogPhoto:
        photo = self.get(photo_id)
        if photo is None:
            raise CatalogError(f"no photo {photo_id!r} in the catalog")
        return photo

    # -- mutations (what a photo owner can do on Flickr) -----------------------------------
    def add(self, photo: CatalogPhoto) -> None:
        with self._lock:
            if photo.id in self._photos:
                raise CatalogError(f"photo id {photo.id} is already in the catalog")
            self._photos[photo.id] = photo

    def _touch(self, photo: CatalogPhoto) -> None:
        photo.last_update = max(int(time.time()), photo.last_update + 1)

    def delete(self, photo_id: str) -> None:
        """The owner deleted the photo: the API answers 'not found', images give 404."""
        with self._lock:
            photo = self[photo_id]
            photo.deleted = True
            self._touch(photo)

    def make_private(self, photo_id: str, private: bool = True) -> None:
        """Hide the photo from anonymous callers (or make it public again)."""
        with self._lock:
            photo = self[photo_id]
            photo.public = not private
            self._touch(photo)

    def set_license(self, photo_id: str, license_id: int) -> None:
        """The owner changed the licence (validated against Flickr's table)."""
        try:
            lid = get_license(int(license_id)).id
        except (KeyError, ValueError) as exc:
            raise CatalogError(str(exc).strip("'\"")) from None
        with self._lock:
            photo = self[photo_id]
            photo.license = lid
            self._touch(photo)

    def add_tag(self, photo_id: str, tag: str) -> None:
        """Add a raw tag (e.g. "no_cv"); a tag already present, after cleaning, is not repeated."""
        if not str(tag).strip():
            raise CatalogError("tag must not be empty")
        with self._lock:
            photo = self[photo_id]
            if clean_tag(tag) not in {clean_tag(t) for t in photo.tags}:
                photo.tags.append(str(tag).strip())
                self._touch(photo)

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the catalog as JSON (``.json``) or Parquet (``.parquet``), atomically."""
        path = Path(path)
        records = [p.to_record() for p in self.photos()]
        if path.suffix == ".json":
            atomic_write_text(path, json.dumps({"photos": records}, indent=1))
        elif path.suffix == ".parquet":
            # lazy: pyarrow loads in ~0.3 s and only .parquet catalogs need it (fdf.flickr_server loads without it)
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pylist(records) if records else pa.table({"id": pa.array([], pa.string())})
            with atomic_path(path) as tmp:
                pq.write_table(table, tmp, compression="zstd")
        else:
            raise CatalogError(f"catalog file must end in .json or .parquet: {path}")
        log.info("saved catalog of %d photos to %s", len(records), path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """Read a catalog written by :meth:`save` (or by hand: a JSON list of photo records)."""
        path = Path(path)
        if not path.exists():
            raise CatalogError(f"catalog file not found: {path}")
        try:
            if path.suffix == ".parquet":
                # lazy: pyarrow loads in ~0.3 s and only .parquet catalogs need it (fdf.flickr_server loads without it)
                import pyarrow.parquet as pq

                records = pq.read_table(path).to_pylist()
            else:
                data = json.loads(path.read_text(encoding="utf-8"))
                records = data["photos"] if isinstance(data, dict) else data
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CatalogError(f"{path} is not a readable catalog: {exc}") from None
        try:
            return cls(CatalogPhoto.from_record(r, base_dir=path.parent) for r in records)
        except TypeError as exc:
            raise CatalogError(f"{path}: bad photo record: {exc}") from None
