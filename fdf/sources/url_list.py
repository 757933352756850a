"""A list of image URLs (CSV or Parquet) with licence columns -> manifest (source 'urls').

Columns, matched case-insensitively (aliases in brackets):

* the URL column (``url`` unless ``url_column`` says otherwise) — required;
* licence: ``license_id`` and/or ``license_url`` and/or ``license_name`` [``license``];
* optional: ``photo_id`` [``id``], ``owner_name`` [``owner``, ``author``], ``owner_nsid``,
  ``title``, ``page_url``.

A row without licence information takes the list-wide default (``license_id``/``license_url``
arguments) if given, else keeps ``license_id`` null with a warning: it is never assumed free.
Without a ``photo_id`` the id is the first 16 hex digits of the URL's SHA-1, so the same URL
always gets the same id. Rows are rejected, each with a reason and its line in the file, when
the URL is empty or not http(s), or a licence id/name is unknown.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import SourceError
from ..licenses import get_license, license_id_from_url, license_table

log = logging.getLogger(__name__)

COLUMN_ALIASES = {
    "photo_id": ("photo_id", "id"),
    "owner_name": ("owner_name", "owner", "author"),
    "owner_nsid": ("owner_nsid",),
    "title": ("title",),
    "page_url": ("page_url",),
    "license_id": ("license_id",),
    "license_url": ("license_url",),
    "license_name": ("license_name", "license"),
}


@dataclass
class UrlListResult:
    """Accepted rows as a manifest frame, and rejected rows with ``line`` and ``reason``."""

    manifest: pd.DataFrame
    rejected: pd.DataFrame


def read_table(path: str | Path) -> tuple[pd.DataFrame, int]:
    """Read a CSV or Parquet list as strings; return it and the file line of its first row."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"URL list not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        try:
            return pq.read_table(path).to_pandas().astype("string"), 0
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"{path}: not a readable Parquet file: {exc}") from None
    if suffix in (".csv", ".tsv"):
        try:
            df = pd.read_csv(path, dtype="string", keep_default_na=False, sep="\t" if suffix == ".tsv" else ",")
        except pd.errors.ParserError as exc:
            raise SourceError(f"{path}: malformed CSV: {exc}") from None
        except UnicodeDecodeError as exc:
            raise SourceError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except pd.errors.EmptyDataError:
            raise SourceError(f"{path}: file is empty (expected a header line)") from None
        return df, 2  # line 1 is the header
    raise SourceError(f"{path}: unknown list format {suffix!r}; use .csv, .tsv or .parquet")


def url_id(url: str) -> str:
    """Stable photo id for a URL: first 16 hex digits of its SHA-1."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16]


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be downloaded, or None if it is an http(s) URL with a host."""
    if not url:
        return "empty URL"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return f"not an http(s) URL (scheme {parts.scheme or 'missing'!r})"
    if not parts.netloc:
        return "URL has no host"
    return None


def _license_names() -> dict[str, int]:
    """Current and pre-2025 Flickr licence names, lower-cased, to ids."""
    names = {}
    for lic in license_table().values():
        names[lic.name.lower()] = lic.id
        old = re.search(r"before 2025 named (.+)$", lic.note)
        if old:
            names[old.group(1).strip().lower()] = lic.id
    return names


def _row_license(row: dict) -> tuple[int | None, str | None]:
    """(licence id or None, problem or None) from a row's id / URL / name columns."""
    text = (row.get("license_id") or "").strip()
    if text:
        try:
            return get_license(int(float(text))).id, None
        except (KeyError, ValueError):
            return None, f"unknown licence id {text!r}"
    url = (row.get("license_url") or "").strip()
    if url:
        lid = license_id_from_url(url)
        return (lid, None) if lid is not None else (None, f"unknown licence URL {url!r}")
    name = (row.get("license_name") or "").strip()
    if name:
        lid = _license_names().get(name.lower())
        return (lid, None) if lid is not None else (None, f"unknown licence name {name!r}")
    return None, None


def _rename_columns(df: pd.DataFrame, url_column: str, path) -> pd.DataFrame:
    lower = {c.lower().strip(): c for c in df.columns}
    if url_column.lower() not in lower:
        raise SourceError(
            f"{path}: no URL column {url_column!r}; columns are {', '.join(df.columns)} (choose one with --url-column)"
        )
    mapping = {lower[url_column.lower()]: "download_url"}
    for target, aliases in COLUMN_ALIASES.items():
        for alias in aliases:
            if alias in lower and lower[alias] not in mapping:
                mapping[lower[alias]] = target
                break
    return df[list(mapping)].rename(columns=mapping)


def url_list_to_manifest(
    path: str | Path, url_column: str = "url", license_id: int | None = None, license_url: str | None = None
) -> UrlListResult:
    """Read a URL list into a manifest frame; ``license_id``/``license_url`` default rows without one."""
    default_id = _default_license(license_id, license_url)
    raw, first_line = read_table(path)
    df = _rename_columns(raw, url_column, path)
    rows, rejected, unlicensed = [], [], 0
    for offset, row in enumerate(df.to_dict("records")):
        row = {k: (v.strip() if isinstance(v, str) else None) for k, v in row.items()}
        line = first_line + offset if first_line else offset
        problem = url_problem(row["download_url"] or "")
        lid, lic_problem = _row_license(row)
        problem = problem or lic_problem
        if problem:
            rejected.append({"line": line, "url": row["download_url"], "reason": problem})
            continue
        if lid is None:
            lid = default_id
        if lid is None:
            unlicensed += 1
        row["license_id"] = lid
        row["photo_id"] = row.get("photo_id") or url_id(row["download_url"])
        row["list_line"] = line
        rows.append(row)
    _log_outcome(path, len(rows), rejected, unlicensed)
    manifest = pd.DataFrame(rows, columns=sorted({k for r in rows for k in r} | {"photo_id", "download_url"}))
    manifest["source"] = "urls"
    manifest["license_id"] = manifest.get("license_id", pd.Series(dtype="Int16")).astype("Int16")
    return UrlListResult(manifest, pd.DataFrame(rejected, columns=["line", "url", "reason"]))


def _default_license(license_id: int | None, license_url: str | None) -> int | None:
    if license_id is not None and license_url:
        raise SourceError("give either a licence id or a licence URL for the list, not both")
    if license_id is not None:
        try:
            return get_license(license_id).id
        except KeyError as exc:
            raise SourceError(str(exc).strip("'\"")) from None
    if license_url:
        lid = license_id_from_url(license_url)
        if lid is None:
            raise SourceError(f"licence URL {license_url!r} is not one of Flickr's licences")
        return lid
    return None


def _log_outcome(path, accepted: int, rejected: list[dict], unlicensed: int) -> None:
    log.info("%s: %d URLs accepted, %d rejected", path, accepted, len(rejected))
    for item in rejected[:10]:
        log.warning("%s line %s rejected: %s", path, item["line"], item["reason"])
    if len(rejected) > 10:
        log.warning("%s: %d more rejected rows (see the rejected list)", path, len(rejected) - 10)
    if unlicensed:
        log.warning(
            "%s: %d rows have no licence information; license_id left empty (not assumed free)", path, unlicensed
        )
