"""Attribution files for a dataset: CREDITS.md and credits.csv, one entry per photo (TASL).

CC licences ask for title, author, source and licence, and for a note when the work was
changed: every face crop is cropped and resized, and an anonymized output is modified further.

Every field comes from photo owners or a manifest, so nothing is trusted: labels are escaped,
link destinations are percent-encoded and kept only when they are http(s) URLs with a host
(no ``javascript:``, no ``>`` or newline closing the link), and credits.csv cells that a
spreadsheet would run as a formula (starting with = + - @, tab or carriage return) get a
leading apostrophe.
"""

from __future__ import annotations

import csv
import functools
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pandas as pd

from ..atomic import atomic_path
from .checks import license_of
from .photos import load_photos
from .render import md_escape

log = logging.getLogger(__name__)

CROPPED_NOTE = "cropped and resized to the face"
ANONYMIZED_NOTE = "cropped and resized to the face; the face was replaced by a generated one (anonymized)"
CSV_COLUMNS = (
    "photo_id",
    "title",
    "author",
    "author_url",
    "source_url",
    "license_id",
    "license_name",
    "license_url",
    "faces",
    "changes",
)
_NSID = re.compile(r"\d+@N\d+")  # used with fullmatch: "$" would let a trailing newline through
# Kept as they are in a destination; everything else (<, >, spaces, newlines, quotes, backslashes,
# non-ASCII) is percent-encoded. '%' is kept so a URL that is already encoded stays the same.
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Inside a dataset folder, documents go under an underscore folder: pyarrow.dataset(DIR) tries
# to read every other file as Parquet and fails on a CREDITS.md beside the shards.
DOCS_DIR = "_docs"


def _text(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):  # NaN
        return ""
    return str(value).strip()


def default_docs_dir(path: str | Path) -> Path:
    """Where credits and the dataset card go by default: DIR/_docs, or beside a manifest file."""
    path = Path(path)
    return path.parent if path.is_file() else path / DOCS_DIR


def credit_rows(photos: pd.DataFrame, anonymized: bool = False) -> list[dict]:
    """One attribution record per photo (the columns of :data:`CSV_COLUMNS`)."""
    return credit_records(photos.sort_values("photo_id").to_dict("records"), anonymized)


def credit_records(photos: list[dict], anonymized: bool = False) -> list[dict]:
    """:func:`credit_rows` for photo rows given as dicts, in the order given."""
    rows = []
    for p in photos:
        lic = license_of(p.get("license_id"))
        nsid = _text(p.get("owner_nsid"))
        rows.append(
            {
                "photo_id": str(p["photo_id"]),
                "title": _text(p.get("title")),
                "author": _text(p.get("owner_name")) or nsid,
                "author_url": f"https://www.flickr.com/people/{nsid}/" if _NSID.fullmatch(nsid) else "",
                "source_url": _text(p.get("photo_url")),
                "license_id": None if lic is None else lic.id,
                "license_name": lic.name if lic else _text(p.get("license_name")) or "unknown licence",
                "license_url": _text(p.get("license_url")) or (lic.url if lic else ""),
                "faces": "" if p.get("faces") is None or pd.isna(p.get("faces")) else int(p["faces"]),
                "changes": ANONYMIZED_NOTE if anonymized else CROPPED_NOTE,
            }
        )
    return rows


@functools.lru_cache(maxsize=2**16)  # licence and author URLs repeat across photos
def safe_url(url: str) -> str:
    """``url`` percent-encoded for a Markdown link destination, or "" unless it is http(s) with a host."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return ""
    return quote(url, safe=_URL_SAFE)


@functools.lru_cache(maxsize=2**16)
def _link(label: str, url: str) -> str:
    label = md_escape(label)
    url = safe_url(url)
    return f"[{label}](<{url}>)" if url else label


def csv_cell(value):
    """``value`` as a spreadsheet shows it, never run as a formula (OWASP's CSV injection advice)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def credits_markdown_header(dataset_name: str, photos: int) -> str:
    return (
        f"# Credits: {md_escape(dataset_name)}\n\nThis dataset holds face crops of {photos} photos. Each photo "
        "is credited below with its title, author, source and licence, and what was changed.\n\n"
    )


def credits_markdown_lines(rows: list[dict]) -> Iterator[str]:
    """One CREDITS.md line (with its newline) per credit row."""
    for r in rows:
        title = f"\u201c{r['title']}\u201d" if r["title"] else "Untitled"
        author = _link(r["author"] or "unknown author", r["author_url"])
        yield (
            f"- {_link(title, r['source_url'])} by {author}, licensed under "
            f"{_link(r['license_name'], r['license_url'])}; {r['changes']}. (photo {md_escape(r['photo_id'])})\n"
        )


def credits_markdown(rows: list[dict], dataset_name: str) -> str:
    """CREDITS.md text: a sentence per photo, e.g. '"Title" by Author (source), CC BY 2.0; cropped'."""
    return credits_markdown_header(dataset_name, len(rows)) + "".join(credits_markdown_lines(rows))


def credits_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def write_credits(path: str | Path, out_dir: str | Path | None = None, anonymized: bool = False) -> dict:
    """Write CREDITS.md and credits.csv for a dataset (or download folder / manifest).

    ``out_dir`` defaults to ``DIR/_docs`` (beside a manifest file). Returns the
    paths written and the number of photos credited. Written a batch of photos at a time, so
    neither file is ever held whole (for FDF's ~1 M photos each is a few hundred MB).
    """
    photoset = load_photos(path)
    path = Path(path)
    out = Path(out_dir) if out_dir else default_docs_dir(path)
    md_path, csv_path = out / "CREDITS.md", out / "credits.csv"
    for stale in [*out.glob(".CREDITS.md.*.tmp"), *out.glob(".credits.csv.*.tmp")]:  # a killed run's
        stale.unlink(missing_ok=True)
    count = photoset.table.num_rows
    with atomic_path(md_path) as md_tmp, atomic_path(csv_path) as csv_tmp:
        with (
            open(md_tmp, "w", encoding="utf-8", newline="\n") as md,
            open(csv_tmp, "w", encoding="utf-8", newline="") as table,
        ):
            md.write(credits_markdown_header(path.name, count))
            writer = csv.writer(table, lineterminator="\n")  # rows as lists: DictWriter's mapping costs
            writer.writerow(CSV_COLUMNS)
            for batch in photoset.table.to_batches(max_chunksize=20_000):  # sorted by photo id
                rows = credit_records(batch.to_pylist(), anonymized=anonymized)
                md.writelines(credits_markdown_lines(rows))
                writer.writerows([csv_cell(row[k]) for k in CSV_COLUMNS] for row in rows)
    log.info("credited %d photos in %s and %s", count, md_path, csv_path)
    return {"photos": count, "markdown": str(md_path), "csv": str(csv_path)}
