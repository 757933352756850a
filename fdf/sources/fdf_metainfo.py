"""The official FDF release's ``fdf_metainfo.json`` -> manifest, one row per photo.

The file maps each FDF face index (a string, ``"0"``, ``"1"``, ...) to that face's record::

    author, photo_title, photo_url, yfcc100m_line_idx, license, license_url, category,
    date_crawled, date_taken, date_uploaded,
    bounding_box, landmark, original_bounding_box, original_landmark

Coordinate conventions (FDF README, hukkelas/FDF):

* ``bounding_box`` is ``[xmin, ymin, xmax, ymax]`` of the face inside the FDF crop, in 0-1;
* ``landmark`` is 7 ``(x, y)`` points inside the FDF crop, in 0-1, ordered nose, right eye, left
  eye, right ear, left ear, right shoulder, left shoulder;
* ``original_bounding_box`` / ``original_landmark`` are the same in pixels of the original photo.

Landmarks are stored as 7 ``[x, y]`` pairs. A flat list of 14 is read as interleaved
``x0, y0, x1, y1, ...`` (how FDF's generator flattened them); a ``2 x 7`` array (one row of x,
one of y) is transposed.

Faces are grouped by the Flickr photo id parsed from ``photo_url`` (a page URL
``.../photos/<owner>/<id>/`` or a static image URL ``.../<id>_<secret>.jpg``). Each photo row keeps
its faces in the list column ``fdf_faces`` so a later stage can rebuild the FDF crops from the
original photo. ``yfcc100m_line_idx`` is the 0-based YFCC100M line (see :mod:`fdf.sources.yfcc`).

The metainfo has no download URL. With a YFCC100M dump, :func:`fill_from_yfcc` streams the dump
once, keeping only the needed line numbers in memory, and fills ``download_url``, ``owner_nsid``,
``secret``/``server``/``farm``. Rows still without a URL get ``url_status = "needs_getsizes"``: a
later stage resolves them through Flickr's ``flickr.photos.getSizes``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import ijson
import pandas as pd
from tqdm import tqdm

from ..errors import SourceError
from ..licenses import license_id_from_url
from .yfcc import YfccConfig, YfccStats, iter_dump_lines

log = logging.getLogger(__name__)

_PAGE_URL = re.compile(r"flickr\.com/photos/(?P<owner>[^/?#]+)/(?P<id>\d+)")
_STATIC_URL = re.compile(r"staticflickr\.com/(?:\d+/)?\d+/(?P<id>\d+)_[0-9a-f]+")
_NSID = re.compile(r"^\d+@N\d\d$")

URL_FROM_YFCC = "from_yfcc"
URL_NEEDS_GETSIZES = "needs_getsizes"


@dataclass
class MetainfoStats:
    """Counts from one metainfo conversion."""

    faces: int = 0
    photos: int = 0
    yfcc_matched: int = 0
    yfcc_id_mismatches: int = 0
    needs_url: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


_PINPOINT_LIMIT = 64 * 2**20  # files up to this size are parsed again slowly to name the line of an error


def iter_metainfo(path: str | Path) -> Iterator[tuple[str, object]]:
    """(face key, record) pairs of ``fdf_metainfo.json`` in file order, parsed as a stream (ijson):
    FDF's file is ~1 GB, several times that as Python objects when loaded whole.

    SourceError names the file and, for malformed JSON, the line and column (or the byte, in
    files too large to parse twice).
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"FDF metainfo not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
        if head[:3] == b"\xef\xbb\xbf":
            head = head[3:].lstrip()
        if not head.startswith(b"{"):
            kind = {b"[": "list"}.get(head[:1], "something else")
            raise SourceError(f"{path}: expected a JSON object keyed by FDF face index, got {kind}")
        fh.seek(0)
        counted = _CountingReader(fh)
        try:
            yield from ijson.kvitems(counted, "", use_float=True)
        except ijson.JSONError as exc:
            raise SourceError(_json_error(path, exc, counted.offset)) from None
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


class _CountingReader:
    """A binary file that counts the bytes read from it (where a parse error happened, roughly)."""

    def __init__(self, fh):
        self.fh, self.offset = fh, 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.offset += len(data)
        return data


def _json_error(path: Path, exc: Exception, offset: int) -> str:
    """'FILE: line L, column C: invalid JSON: ...', as json.load says it, via ijson's pure-Python
    parser (it knows the offending character); near a byte offset for files too large for that."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if path.stat().st_size > _PINPOINT_LIMIT:
        return f"{path}: invalid JSON within the 64 KiB before byte {offset}: {message}"
    try:
        with open(path, "rb") as fh:
            for _ in ijson.get_backend("python").kvitems(fh, "", use_float=True):
                pass
    except ijson.JSONError as slow:
        match = re.search(r" at (\d+)$", str(slow))
        if match:
            text = path.read_text(encoding="utf-8", errors="replace")[: int(match.group(1))]
            line = text.count("\n") + 1
            column = len(text) - (text.rfind("\n") + 1) + 1
            return f"{path}: line {line}, column {column}: invalid JSON: {str(slow).split(' at ')[0]}"
        message = str(slow).strip() or message
    return f"{path}: invalid JSON: {message}"


def load_metainfo(path: str | Path) -> dict:
    """Read ``fdf_metainfo.json`` into a dict (small files; large ones: :func:`iter_metainfo`)."""
    return dict(iter_metainfo(path))


def photo_id_from_url(url: str) -> str | None:
    """The Flickr photo id in a page URL or a static image URL; None if there is none."""
    match = _PAGE_URL.search(url or "") or _STATIC_URL.search(url or "")
    return match.group("id") if match else None


def _owner_nsid_from_url(url: str) -> str | None:
    match = _PAGE_URL.search(url or "")
    owner = match.group("owner") if match else None
    return owner if owner and _NSID.match(owner) else None  # path aliases are not NSIDs


def as_points(value, where: str) -> list[list[float]] | None:
    """Landmarks as ``[[x, y], ...]`` from pairs, a flat interleaved list, or a 2 x N array."""
    if value is None:
        return None
    try:
        if value and isinstance(value[0], (list, tuple)):
            if len(value) == 2 and len(value[0]) != 2:  # one row of x, one of y
                return [[float(x), float(y)] for x, y in zip(value[0], value[1])]
            if all(len(p) == 2 for p in value):
                return [[float(p[0]), float(p[1])] for p in value]
        elif len(value) % 2 == 0:
            return [[float(value[i]), float(value[i + 1])] for i in range(0, len(value), 2)]
    except (TypeError, ValueError):
        pass
    raise SourceError(f"{where}: landmarks must be (x, y) pairs, got {str(value)[:80]}")


def as_box(value, where: str) -> list[float] | None:
    if value is None:
        return None
    try:
        box = [float(v) for v in value]
    except (TypeError, ValueError):
        box = []
    if len(box) != 4:
        raise SourceError(f"{where}: a bounding box is [xmin, ymin, xmax, ymax], got {str(value)[:80]}")
    return box


def _face_struct(key: str, face: dict, where: str) -> dict:
    try:
        index = int(key)
    except ValueError:
        raise SourceError(f"{where}: face key {key!r} is not an integer FDF index") from None
    return {
        "fdf_index": index,
        "category": face.get("category", face.get("cateogry")),  # FDH's README spells it 'cateogry'
        "bounding_box": as_box(face.get("bounding_box"), where),
        "landmark": as_points(face.get("landmark"), where),
        "original_bounding_box": as_box(face.get("original_bounding_box"), where),
        "original_landmark": as_points(face.get("original_landmark"), where),
    }


def metainfo_to_frame(
    metainfo: dict | Iterable[tuple[str, object]],
    path: str | Path = "fdf_metainfo.json",
    stats: MetainfoStats | None = None,
) -> pd.DataFrame:
    """Group the faces of a metainfo (a dict, or (key, record) pairs as :func:`iter_metainfo`
    streams them) by photo; return a normalized-ready manifest frame. Counts faces in ``stats``."""
    photos: dict[str, dict] = {}
    conflicts = faces = 0
    items = metainfo.items() if isinstance(metainfo, dict) else metainfo
    for key, face in tqdm(items, desc="grouping FDF faces", unit=" faces", mininterval=2.0, disable=None):
        faces += 1
        where = f"{path}: face {key}"
        if not isinstance(face, dict):
            raise SourceError(f"{where}: expected an object, got {type(face).__name__}")
        url = face.get("photo_url")
        if not url:
            raise SourceError(f"{where}: has no photo_url")
        photo_id = photo_id_from_url(url)
        if photo_id is None:
            raise SourceError(f"{where}: cannot find a Flickr photo id in photo_url {url!r}")
        line = _line_index(face.get("yfcc100m_line_idx"), where)
        row = photos.get(photo_id)
        if row is None:
            row = photos[photo_id] = _photo_row(photo_id, url, face, line)
        elif line is not None and row["yfcc_line"] is not None and row["yfcc_line"] != line:
            conflicts += 1
        row["fdf_faces"].append(_face_struct(key, face, where))
    if conflicts:
        log.warning(
            "%s: %d faces name another YFCC line than earlier faces of the same photo; kept the first", path, conflicts
        )
    if stats is not None:
        stats.faces = faces
    df = pd.DataFrame(list(photos.values()))
    if df.empty:
        raise SourceError(f"{path}: contains no faces")
    df["fdf_face_count"] = df["fdf_faces"].map(len).astype("int32")
    df["license_id"] = df["license_id"].astype("Int16")
    df["yfcc_line"] = df["yfcc_line"].astype("Int64")
    return df


def _line_index(value, where: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: yfcc100m_line_idx {value!r} is not an integer") from None


def _photo_row(photo_id: str, url: str, face: dict, line: int | None) -> dict:
    is_page = _PAGE_URL.search(url) is not None
    return {
        "photo_id": photo_id,
        "source": "fdf",
        "download_url": None,
        "page_url": url if is_page else None,
        "owner_nsid": face.get("user_nsid") or _owner_nsid_from_url(url),
        "owner_name": face.get("author"),
        "title": face.get("photo_title"),
        "license_id": license_id_from_url(face.get("license_url")),
        "license_name": face.get("license"),
        "license_url": face.get("license_url"),
        "date_taken": face.get("date_taken"),
        "date_uploaded": face.get("date_uploaded"),
        "yfcc_line": line,
        "fdf_photo_url": url,
        "date_crawled": face.get("date_crawled"),
        "secret": None,
        "server": None,
        "farm": None,
        "fdf_faces": [],
    }


def fill_from_yfcc(
    df: pd.DataFrame, dump: str | Path, stats: MetainfoStats, config: YfccConfig | None = None
) -> pd.DataFrame:
    """Fill download URL, owner NSID and secret/server/farm from a YFCC100M dump, joined on line.

    Streams the dump once and holds only the wanted line numbers; a line whose photo id differs
    from the metainfo's is not used (counted in ``stats.yfcc_id_mismatches`` and logged).
    """
    df = df.copy()
    wanted = {int(v): i for i, v in zip(df.index, df["yfcc_line"]) if pd.notna(v)}
    if not wanted:
        log.warning("no photo has a yfcc100m_line_idx; nothing to join")
        return df
    last = max(wanted)
    dump_stats = YfccStats()
    for item in iter_dump_lines(dump, config, dump_stats):
        row = wanted.pop(item.line, None)
        if row is not None:
            f = item.fields
            if f["photo_id"] != df.at[row, "photo_id"]:
                stats.yfcc_id_mismatches += 1
                log.warning(
                    "%s line %d has photo %s, FDF metainfo says %s; not joined",
                    dump,
                    item.line,
                    f["photo_id"],
                    df.at[row, "photo_id"],
                )
            else:
                stats.yfcc_matched += 1
                df.at[row, "download_url"] = f["download_url"]
                df.at[row, "page_url"] = df.at[row, "page_url"] or f["page_url"]
                df.at[row, "owner_nsid"] = f["user_nsid"]
                for col in ("secret", "server", "farm"):
                    df.at[row, col] = f[col]
        # Line numbers only grow within a dump, so stop once past the last one we need.
        if not wanted or item.line > last:
            break
    if wanted:
        log.warning("%d FDF photos' YFCC lines were not found in %s", len(wanted), dump)
    return df


def fdf_metainfo_to_manifest(
    path: str | Path, yfcc_dump: str | Path | None = None, yfcc_config: YfccConfig | None = None
) -> tuple[pd.DataFrame, MetainfoStats]:
    """Build a manifest frame (source 'fdf') from ``fdf_metainfo.json``, one row per photo."""
    stats = MetainfoStats()
    df = metainfo_to_frame(iter_metainfo(path), path, stats)
    stats.photos = len(df)
    if yfcc_dump is not None:
        df = fill_from_yfcc(df, yfcc_dump, stats, yfcc_config)
    has_url = df["download_url"].notna() & (df["download_url"].astype("string") != "")
    df["url_status"] = has_url.map({True: URL_FROM_YFCC, False: URL_NEEDS_GETSIZES})
    stats.needs_url = int((~has_url).sum())
    if stats.needs_url:
        log.warning(
            "%d of %d photos have no download URL (%s); resolve them with flickr.photos.getSizes",
            stats.needs_url,
            len(df),
            "no YFCC dump given" if yfcc_dump is None else "not in the dump",
        )
    return df, stats
