"""Flickr photo search as a manifest source.

Flickr serves at most 4,000 results per query (later pages repeat earlier ones), so a query is
cut into upload-date windows, halved recursively until each window's ``total`` fits, down to a
minimum span (a minute); a window that still overflows is split by licence. Windows share one
boundary second and results are deduplicated on photo id, so a photo on a boundary is found
whether the server treats ``max_upload_date`` as inclusive (as Flickr documents) or not.

Finished windows are saved under ``<out>.parts/`` so an interrupted search resumes.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import math
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from ..atomic import atomic_write_text
from ..licenses import parse_license_ids
from ..manifest import manifest_table, normalize_manifest, write_manifest_table
from ..memory import release_memory
from .client import FlickrApiError, FlickrClient

log = logging.getLogger(__name__)

FLICKR_RESULT_CAP = 4000
MAX_PER_PAGE = 500
OPT_OUT_TAGS = frozenset({"nocv"})  # 'no_cv' as Flickr cleans it; FDF and FFHQ honour it
SIZE_SUFFIXES = ("o", "k", "h", "l", "c", "z", "m")
EXTRAS = "license,owner_name,date_upload,date_taken,tags,original_format,media,o_dims," + ",".join(
    f"url_{s}" for s in SIZE_SUFFIXES
)


def parse_date(value: str | int | float | dt.datetime | None) -> int | None:
    """Unix seconds (UTC) from a timestamp, 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM[:SS]' (UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return calendar.timegm(value.utctimetuple())
    if isinstance(value, (int, float)) or re.fullmatch(r"\d{9,}", str(value).strip()):
        return int(float(value))
    text = str(value).strip().replace("T", " ").rstrip("Z")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(dt.datetime.strptime(text, fmt).timetuple())
        except ValueError:
            continue
    raise ValueError(f"not a date: {value!r} (use YYYY-MM-DD, 'YYYY-MM-DD HH:MM:SS' or unix seconds)")


def clean_tag(tag: str) -> str:
    """Flickr's 'clean' tag form: lower case, letters and digits only."""
    return re.sub(r"[\W_]+", "", tag.lower())


@dataclass
class SearchQuery:
    """One flickr.photos.search query; dates are UTC, both bounds inclusive."""

    text: str | None = None
    tags: str | None = None
    tag_mode: str = "any"
    license_ids: list[int] = field(default_factory=list)
    min_upload_date: int | None = None
    max_upload_date: int | None = None
    user_id: str | None = None
    content_type: int | None = None  # Flickr: 1 photos, 2 screenshots, 3 other; None: all
    media: str = "photos"
    per_page: int = MAX_PER_PAGE
    min_window_seconds: int = 60
    skip_opt_out: bool = True
    sizes: tuple[str, ...] = SIZE_SUFFIXES

    def __post_init__(self):
        self.license_ids = parse_license_ids(self.license_ids)
        self.min_upload_date = parse_date(self.min_upload_date)
        self.max_upload_date = parse_date(self.max_upload_date)
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be 1..{MAX_PER_PAGE}")
        if self.tag_mode not in ("any", "all"):
            raise ValueError("tag_mode must be 'any' or 'all'")
        if not (self.text or self.tags or self.license_ids or self.min_upload_date or self.user_id):
            # Flickr rejects "parameterless searches"; say so before spending a call.
            raise ValueError("a search needs at least text, tags, licences, a date or a user")
        lo, hi = self.min_upload_date, self.max_upload_date
        if lo is not None and hi is not None and lo > hi:
            raise ValueError("min upload date is after max upload date")

    def params(self, window: tuple[int, int] | None, licenses: list[int] | None) -> dict:
        lic = licenses if licenses is not None else self.license_ids
        p = {
            "text": self.text,
            "tags": self.tags,
            "tag_mode": self.tag_mode if self.tags else None,
            "license": ",".join(map(str, lic)) if lic else None,
            "user_id": self.user_id,
            "content_type": self.content_type,
            "media": self.media,
            "extras": EXTRAS,
            "sort": "date-posted-asc",
            "per_page": self.per_page,
        }
        if window is not None:
            p["min_upload_date"], p["max_upload_date"] = window
        return p


@dataclass
class SearchResult:
    """What a search found and skipped, and what it cost; ``table`` is the manifest as written."""

    table: pa.Table
    found: int
    skipped_opt_out: int
    overflowing_windows: int
    calls: int
    retries: int

    @property
    def manifest(self) -> pd.DataFrame:
        """The manifest as a DataFrame (made on each call; the search itself keeps only ``table``)."""
        return self.table.to_pandas()

    def summary(self) -> dict:
        return {
            "photos": self.table.num_rows,
            "found": self.found,
            "skipped_opt_out": self.skipped_opt_out,
            "overflowing_windows": self.overflowing_windows,
            "calls": self.calls,
            "retries": self.retries,
        }


class _WindowSearch:
    """Holds the state of one search run: the client, the parts folder, the progress bar."""

    def __init__(self, client: FlickrClient, query: SearchQuery, parts_dir: Path | None, progress: bool):
        self.client, self.query, self.parts_dir = client, query, parts_dir
        self.overflowing = 0
        self.bar = tqdm(desc="search", unit="photo", disable=not progress)

    def run(self) -> list[pa.Table]:
        """Manifest rows of each window, in window order (photos on a boundary appear twice)."""
        lo = self.query.min_upload_date
        hi = self.query.max_upload_date
        if lo is None and (hi is not None or self.query.license_ids):
            lo = 0
        if hi is None and lo is not None:
            hi = int(dt.datetime.now(dt.timezone.utc).timestamp())
        window = (lo, hi) if lo is not None else None
        frames: list[pa.Table] = []
        self._collect(window, None, frames)
        self.bar.close()
        return frames

    def _part_path(self, window, licenses) -> Path | None:
        if self.parts_dir is None:
            return None
        w = f"{window[0]}-{window[1]}" if window else "all"
        lic = "-".join(map(str, licenses)) if licenses is not None else "q"
        return self.parts_dir / f"window-{w}-lic-{lic}.parquet"

    def _search(self, window, licenses, page: int) -> dict:
        answer = self.client.call("flickr.photos.search", page=page, **self.query.params(window, licenses))
        return photos_page(answer, self.client.config.api_url)

    def _keep(self, frame: pd.DataFrame, frames: list[pa.Table]) -> None:
        # Only the manifest columns, in Arrow (~0.5 KB a photo): the raw records carry ~35
        # strings each (URLs and sizes of every size) and a 10,000-photo search held them all.
        if len(frame):
            frames.append(manifest_table(photos_to_manifest(frame, self.query.sizes)))
        self.bar.update(len(frame))
        del frame
        release_memory("search: window kept")  # the window's string columns were Arrow buffers (pandas 3)

    def _collect(self, window, licenses, frames: list[pa.Table]) -> None:
        part = self._part_path(window, licenses)
        if part is not None and part.exists():
            self._keep(pd.read_parquet(part), frames)
            return
        first = self._search(window, licenses, 1)
        total = first["total"]
        if total > FLICKR_RESULT_CAP:
            if window is not None and window[1] - window[0] > self.query.min_window_seconds:
                mid = window[0] + (window[1] - window[0]) // 2
                log.debug("window %s holds %d > %d photos: halving", window, total, FLICKR_RESULT_CAP)
                self._collect((window[0], mid), licenses, frames)
                self._collect((mid, window[1]), licenses, frames)
                return
            lic = licenses if licenses is not None else self.query.license_ids
            if len(lic) > 1:
                for one in lic:
                    self._collect(window, [one], frames)
                return
            self.overflowing += 1
            log.warning(
                "window %s still holds %d photos (> %d); only the first %d can be listed",
                window,
                total,
                FLICKR_RESULT_CAP,
                FLICKR_RESULT_CAP,
            )
        # Trust the server's page size over ours: a mirror may cap per_page lower than 500.
        per_page = first["perpage"] or self.query.per_page
        pages = min(math.ceil(min(total, FLICKR_RESULT_CAP) / per_page), first["pages"] or 10**9)
        photos = list(first["photo"])
        for page in range(2, pages + 1):
            batch = self._search(window, licenses, page)["photo"]
            if not batch:
                break
            photos.extend(batch)
        frame = pd.DataFrame.from_records(photos) if photos else pd.DataFrame({"id": pd.Series([], dtype=str)})
        del photos  # up to 4,000 records of ~35 fields: free them before the frame is converted
        frame = frame.astype({c: "string" for c in frame.columns})  # one schema for every part file
        if part is not None:
            tmp = part.with_name("." + part.name + ".tmp")
            frame.to_parquet(tmp, index=False)
            tmp.replace(part)
        self._keep(frame, frames)


def photos_page(answer: dict, api_url: str = "the server") -> dict:
    """The ``photos`` object of a flickr.photos.search answer, checked against Flickr's shape:
    ``total``, ``perpage`` and ``pages`` as counts (Flickr sends numbers or digit strings), ``photo``
    a list of objects each with an ``id``. Anything else is a FlickrApiError naming what is wrong.
    """

    def bad(what: str) -> FlickrApiError:
        return FlickrApiError(
            f"flickr.photos.search: {api_url} answered in a shape that is not Flickr's: {what}",
            method="flickr.photos.search",
        )

    photos = answer.get("photos") if isinstance(answer, dict) else None
    if not isinstance(photos, dict):
        raise bad("no 'photos' object" if photos is None else f"'photos' is a {type(photos).__name__}, not an object")
    out = dict(photos)
    for key in ("total", "perpage", "pages"):
        value = photos.get(key, 0)
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\d{1,12}", value.strip()))
        ):
            raise bad(f"'{key}' is {str(value)[:40]!r}, not a count")
        out[key] = int(value)
        if out[key] < 0:
            raise bad(f"'{key}' is negative")
    photo = photos.get("photo", [])
    if not isinstance(photo, list) or not all(isinstance(p, dict) and p.get("id") not in (None, "") for p in photo):
        raise bad("'photo' is not a list of photo objects with ids")
    out["photo"] = photo
    return out


def _pick_size(raw: pd.DataFrame, sizes: tuple[str, ...]) -> tuple[pd.Series, pd.Series, pd.Series]:
    """URL, width and height of each photo's first size in ``sizes`` that has a non-empty URL.

    Column by column rather than row by row: ``apply(axis=1)`` built a Series per photo.
    """
    url, width, height = (pd.Series([None] * len(raw), index=raw.index, dtype=object) for _ in range(3))
    todo = pd.Series(True, index=raw.index)
    for s in sizes:
        col = raw.get(f"url_{s}")
        if col is None:
            continue
        has = todo & col.map(lambda u: isinstance(u, str) and u != "").astype(bool)
        url[has] = col[has]
        for out, name in ((width, f"width_{s}"), (height, f"height_{s}")):
            if name in raw:
                out[has] = raw[name][has].astype(object)
        todo &= ~has
    return url, width, height


def photos_to_manifest(raw: pd.DataFrame, sizes: tuple[str, ...] = SIZE_SUFFIXES) -> pd.DataFrame:
    """Map flickr.photos.search records (with our extras) to manifest columns."""
    if raw.empty:
        return normalize_manifest(pd.DataFrame({"photo_id": pd.Series([], dtype=str)}), source="flickr")
    picked = _pick_size(raw, sizes)
    get = lambda col: raw[col] if col in raw else None  # noqa: E731
    df = pd.DataFrame(
        {
            "photo_id": raw["id"],
            "download_url": picked[0],
            "page_url": "https://www.flickr.com/photos/" + raw["owner"].astype(str) + "/" + raw["id"].astype(str) + "/",
            "owner_nsid": get("owner"),
            "owner_name": get("ownername"),
            "title": get("title"),
            "license_id": get("license"),
            "date_taken": get("datetaken"),
            "date_uploaded": get("dateupload"),
            "tags": get("tags"),
            "width": picked[1],
            "height": picked[2],
            "flickr_secret": get("secret"),
            "flickr_server": get("server"),
            "flickr_farm": get("farm").astype("string") if "farm" in raw else None,
            "original_format": get("originalformat"),
        }
    )
    return normalize_manifest(df, source="flickr")


def is_opted_out(tags: list[str]) -> bool:
    """True if any tag is an opt-out tag such as 'no_cv' (any case or punctuation)."""
    return any(clean_tag(t) in OPT_OUT_TAGS for t in tags)


def search_photos(
    client: FlickrClient, query: SearchQuery, out: str | Path | None = None, progress: bool = True
) -> SearchResult:
    """Run ``query`` over every date window it needs; return (and write to ``out``) the manifest.

    With ``out``, finished windows are kept in ``<out>.parts/`` until the manifest is written,
    so a killed search resumes where it stopped.
    """
    parts_dir = None
    if out is not None:
        out = Path(out)
        parts_dir = out.with_name(out.name + ".parts")
        parts_dir.mkdir(parents=True, exist_ok=True)
        query_file = parts_dir / "query.json"
        query_json = json.dumps(asdict(query), sort_keys=True, default=str)
        if query_file.exists() and query_file.read_text() != query_json:
            log.info("a different query left parts in %s: starting over", parts_dir)
            shutil.rmtree(parts_dir)
            parts_dir.mkdir(parents=True)
        atomic_write_text(query_file, query_json)
    calls0, retries0 = client.calls, client.retries
    searcher = _WindowSearch(client, query, parts_dir, progress)
    frames = searcher.run()
    if frames:
        manifest = pa.concat_tables(frames, promote_options="permissive").combine_chunks()
    else:
        manifest = manifest_table(photos_to_manifest(pd.DataFrame()))
    del frames
    manifest = manifest.filter(first_of_each(manifest.column("photo_id")))  # windows share a boundary second
    found = manifest.num_rows
    skipped = 0
    if query.skip_opt_out and manifest.num_rows:
        opted = opted_out_rows(manifest.column("tags"))
        skipped = int(opted.sum())
        manifest = manifest.filter(pa.array(~opted))
    result = SearchResult(
        manifest, found, skipped, searcher.overflowing, client.calls - calls0, client.retries - retries0
    )
    if out is not None:
        write_manifest_table(manifest, out)
        shutil.rmtree(parts_dir, ignore_errors=True)
    return result


def first_of_each(ids: pa.ChunkedArray | pa.Array) -> pa.Array:
    """True for the first row of each value (index_in answers a value's first position)."""
    return pc.equal(pc.index_in(ids, value_set=ids), pa.array(np.arange(len(ids)), pa.int32()))


def opted_out_rows(tags: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """:func:`is_opted_out` for each row of a list<string> column, checking each distinct tag once."""
    tags = tags.combine_chunks() if isinstance(tags, pa.ChunkedArray) else tags
    flat, parents = pc.list_flatten(tags), pc.list_parent_indices(tags)
    opted_tags = [t for t in pc.unique(flat).to_pylist() if t is not None and clean_tag(t) in OPT_OUT_TAGS]
    rows = np.zeros(len(tags), dtype=bool)
    if opted_tags:
        hit = pc.is_in(flat, value_set=pa.array(opted_tags, pa.string()))
        rows[parents.filter(hit).to_numpy()] = True
    return rows
