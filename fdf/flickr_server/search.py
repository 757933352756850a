"""flickr.photos.search over a catalog: filters, sort order, and Flickr's paging rules.

Paging follows Flickr: ``total`` is the true number of matches, but only the first
:data:`MAX_REACHABLE` can be paged to. A page past that window (or past the last page)
returns the content of the last reachable page again, so naive clients see repeats.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from dataclasses import dataclass

from .catalog import CatalogPhoto, clean_tag
from .dates import parse_mysql_datetime, to_unix

MAX_REACHABLE = 4000
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 100
SEARCH_PARAMS = (
    "text",
    "tags",
    "user_id",
    "license",
    "min_upload_date",
    "max_upload_date",
    "min_taken_date",
    "max_taken_date",
    "media",
    "machine_tags",
    "content_type",
    "group_id",
)
SORTS = (
    "date-posted-desc",
    "date-posted-asc",
    "date-taken-desc",
    "date-taken-asc",
    "interestingness-desc",
    "interestingness-asc",
    "relevance",
)


class SearchParamError(ValueError):
    """A search argument Flickr would reject; carries Flickr's error code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class SearchPage:
    photos: list[CatalogPhoto]
    page: int
    pages: int
    perpage: int
    total: int


def _int_param(params: dict, name: str, default: int) -> int:
    try:
        return int(str(params.get(name, default)).strip() or default)
    except ValueError:
        return default


def _text_terms(text: str) -> tuple[list[str], list[str]]:
    """Split free text into required and excluded ('-word') terms; "quoted phrases" stay whole."""
    include, exclude = [], []
    for phrase, word in re.findall(r'(-?"[^"]*")|(\S+)', text):
        term = (phrase or word).lower()
        negate = term.startswith("-")
        term = term.lstrip("-").strip('"').strip()
        if term:
            (exclude if negate else include).append(term)
    return include, exclude


def _matches_text(photo: CatalogPhoto, include: list[str], exclude: list[str]) -> bool:
    haystack = f"{photo.title}\n{photo.description}".lower()
    tags = set(photo.clean_tags)

    def hit(term: str) -> bool:
        return term in haystack or clean_tag(term) in tags

    return all(hit(t) for t in include) and not any(hit(t) for t in exclude)


def _matches_tags(photo: CatalogPhoto, spec: str, mode: str) -> bool:
    wanted = [t.strip() for t in spec.split(",") if t.strip()]
    include = [clean_tag(t) for t in wanted if not t.startswith("-")]
    exclude = [clean_tag(t[1:]) for t in wanted if t.startswith("-")]
    tags = set(photo.clean_tags)
    if any(t in tags for t in exclude):
        return False
    if not include:
        return True
    return all(t in tags for t in include) if mode == "all" else any(t in tags for t in include)


def _date_bound(params: dict, name: str, taken: bool):
    value = str(params.get(name, "")).strip()
    if not value:
        return None
    try:
        if taken:
            return _unix_to_taken(int(value)) if value.isdigit() else parse_mysql_datetime(value)
        return to_unix(value)
    except (ValueError, OverflowError, OSError):
        # Flickr ignores dates it cannot parse rather than failing the call.
        return None


def _unix_to_taken(seconds: int):
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def _taken(photo: CatalogPhoto):
    try:
        return parse_mysql_datetime(photo.date_taken) if photo.date_taken else None
    except ValueError:
        return None


def filter_photos(photos: list[CatalogPhoto], params: dict) -> list[CatalogPhoto]:
    """The visible photos matching every search argument in ``params`` (Flickr's names)."""
    include, exclude = _text_terms(str(params.get("text", "")))
    tags = str(params.get("tags", "")).strip()
    tag_mode = str(params.get("tag_mode", "any")).lower()
    user_id = str(params.get("user_id", "")).strip()
    licenses = {x.strip() for x in str(params.get("license", "")).split(",") if x.strip()}
    media = str(params.get("media", "all")).lower() or "all"
    # content_type 1, 4, 5, 7 include photos; 2, 3, 6 are screenshots/other only, and every
    # catalog entry is a photo.
    content_type = str(params.get("content_type", "")).strip()
    if content_type in ("2", "3", "6"):
        return []
    min_up, max_up = _date_bound(params, "min_upload_date", False), _date_bound(params, "max_upload_date", False)
    min_tk, max_tk = _date_bound(params, "min_taken_date", True), _date_bound(params, "max_taken_date", True)
    out = []
    for p in photos:
        if not p.visible:
            continue
        if user_id and p.owner != user_id:
            continue
        if licenses and str(p.license) not in licenses:
            continue
        if media in ("photos", "photo") and p.media != "photo":
            continue
        if media in ("videos", "video") and p.media != "video":
            continue
        # Flickr documents both upload bounds (and both taken bounds) as inclusive.
        if min_up is not None and p.date_upload < min_up:
            continue
        if max_up is not None and p.date_upload > max_up:
            continue
        if min_tk is not None or max_tk is not None:
            taken = _taken(p)
            if taken is None or (min_tk is not None and taken < min_tk) or (max_tk is not None and taken > max_tk):
                continue
        if tags and not _matches_tags(p, tags, tag_mode):
            continue
        if (include or exclude) and not _matches_text(p, include, exclude):
            continue
        out.append(p)
    return out


def _interestingness(photo: CatalogPhoto) -> int:
    # A stable pseudo-score: same order on every call, unrelated to dates.
    return int.from_bytes(hashlib.sha1(photo.id.encode()).digest()[:6], "big") + photo.views


def sort_photos(photos: list[CatalogPhoto], sort: str) -> list[CatalogPhoto]:
    """Order as Flickr's ``sort`` argument says; unknown values fall back to date-posted-desc."""
    sort = sort if sort in SORTS else "date-posted-desc"
    id_key = lambda p: int(p.id) if p.id.isdigit() else 0  # noqa: E731
    if sort.startswith("date-taken"):
        key = lambda p: (p.date_taken or "", id_key(p))  # noqa: E731
    elif sort.startswith("interestingness"):
        key = lambda p: (_interestingness(p), id_key(p))  # noqa: E731
    else:  # date-posted and relevance
        key = lambda p: (p.date_upload, id_key(p))  # noqa: E731
    return sorted(photos, key=key, reverse=not sort.endswith("-asc"))


def search(photos: list[CatalogPhoto], params: dict) -> SearchPage:
    """Run flickr.photos.search; raises SearchParamError for a parameterless search (code 3)."""
    if not any(str(params.get(name, "")).strip() for name in SEARCH_PARAMS if name != "media"):
        raise SearchParamError(
            3, "Parameterless searches have been disabled. Please use flickr.photos.getRecent instead."
        )
    per_page = _int_param(params, "per_page", DEFAULT_PER_PAGE)
    per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
    page = max(1, _int_param(params, "page", 1))
    matched = sort_photos(filter_photos(photos, params), str(params.get("sort", "date-posted-desc")))
    total = len(matched)
    pages = math.ceil(total / per_page) if total else 0
    reachable = min(total, MAX_REACHABLE)
    last_page = max(1, math.ceil(reachable / per_page))
    served = min(page, last_page)  # past the window: repeat the last reachable page
    start = (served - 1) * per_page
    chunk = matched[start : min(start + per_page, reachable)]
    return SearchPage(photos=chunk, page=page, pages=pages, perpage=per_page, total=total)
