"""YFCC100M metadata dump -> manifest, streamed in constant memory.

The dump is tab-separated text without a header, plain, ``.bz2`` or ``.gz``. Two layouts exist:

* the 2014 Webscope layout, 23 columns (:data:`YFCC_COLUMNS_23`), starting with the photo id;
* the later single-file layout, 25 columns (:data:`YFCC_COLUMNS_25`): a line number, the photo id
  and the photo's MD5 hash, followed by the 22 columns that follow the photo id in the 2014 layout.

The layout is detected per file from the column count of the first line; every other line must
have the same count (or, with ``skip_bad_lines``, it is counted and logged).

Line numbers (``yfcc_line``) are 0-based: the first line of the dataset is line 0. This is the
number FDF's ``fdf_metainfo.json`` calls ``yfcc100m_line_idx``, and the number the 25-column file
carries in its first column (its first row is ``0``). For a 25-column file ``yfcc_line`` is that
column, because it stays right when the file was split or filtered; rows where it differs from
the physical position (plus ``line_offset``) are counted in :attr:`YfccStats.line_number_mismatches`.
For a 23-column file ``yfcc_line`` is the 0-based physical line index plus ``line_offset`` (use the
offset when reading one part of a dump split into several files).
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import unquote_plus

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..atomic import atomic_path
from ..errors import SourceError
from ..licenses import license_id_from_url, parse_license_ids
from ..manifest import MANIFEST_SCHEMA, manifest_table

log = logging.getLogger(__name__)

YFCC_COLUMNS_23 = (
    "photo_id",
    "user_nsid",
    "user_nickname",
    "date_taken",
    "date_uploaded",
    "capture_device",
    "title",
    "description",
    "user_tags",
    "machine_tags",
    "longitude",
    "latitude",
    "accuracy",
    "page_url",
    "download_url",
    "license_name",
    "license_url",
    "server",
    "farm",
    "secret",
    "secret_original",
    "extension_original",
    "marker",
)
YFCC_COLUMNS_25 = ("line_number", "photo_id", "photo_hash") + YFCC_COLUMNS_23[1:]

# Columns this source adds after the manifest's own; fixed so every row group has one schema.
YFCC_EXTRA_SCHEMA = pa.schema(
    [
        pa.field("yfcc_line", pa.int64()),
        pa.field("yfcc_hash", pa.string()),
        pa.field("secret", pa.string()),
        pa.field("server", pa.string()),
        pa.field("farm", pa.string()),
        pa.field("secret_original", pa.string()),
        pa.field("extension_original", pa.string()),
        pa.field("description", pa.string()),
        pa.field("capture_device", pa.string()),
        pa.field("longitude", pa.float64()),
        pa.field("latitude", pa.float64()),
    ]
)
YFCC_SCHEMA = pa.schema(list(MANIFEST_SCHEMA) + list(YFCC_EXTRA_SCHEMA))


@dataclass
class YfccConfig:
    """Options for reading a YFCC100M dump."""

    license_ids: list[int] = field(default_factory=list)  # empty: keep every licence
    limit: int | None = None  # stop after this many photos written
    skip_bad_lines: bool = False  # count and log lines with a wrong column count instead of failing
    row_group_size: int = 100_000
    line_offset: int = 0  # added to physical line indices (for one part of a split dump)


@dataclass
class YfccStats:
    """What a pass over a dump saw; every line read lands in exactly one count."""

    path: str = ""
    layout: int | None = None  # 23 or 25 columns
    lines_read: int = 0
    photos_written: int = 0
    videos_skipped: int = 0
    license_filtered: int = 0
    bad_lines: int = 0
    line_number_mismatches: int = 0
    row_groups: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a plain, ``.bz2`` or ``.gz`` text file for streaming reads (UTF-8, bad bytes replaced)."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"YFCC100M dump not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".bz2":
        return bz2.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    if suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace", newline="\n")
    return open(path, encoding="utf-8", errors="replace", newline="\n")


@dataclass(frozen=True)
class DumpLine:
    """One parsed dump line: its 0-based dataset line number and its fields by column name."""

    line: int
    fields: dict[str, str]


def iter_dump_lines(
    path: str | Path,
    config: YfccConfig | None = None,
    stats: YfccStats | None = None,
) -> Iterator[DumpLine]:
    """Yield every well-formed line of a dump; SourceError names the file and line of a bad one.

    ``stats`` (if given) receives the layout, line and bad-line counts as the file is read.
    """
    config = config or YfccConfig()
    stats = stats if stats is not None else YfccStats()
    stats.path = str(path)
    names: tuple[str, ...] | None = None
    with open_text(path) as fh:
        try:
            for index, raw in enumerate(fh):
                stats.lines_read += 1
                values = raw.rstrip("\n").rstrip("\r").split("\t")
                if names is None:
                    names = _layout_for(len(values), path, index)
                    stats.layout = len(names)
                    log.info("%s: %d-column YFCC100M layout", path, len(names))
                if len(values) != len(names):
                    message = (
                        f"{path}: line {index + 1} has {len(values)} tab-separated columns, "
                        f"expected {len(names)} like the first line"
                    )
                    if not config.skip_bad_lines:
                        raise SourceError(message + " (use --skip-bad-lines to skip such lines)")
                    stats.bad_lines += 1
                    log.warning("skipping: %s", message)
                    continue
                fields = dict(zip(names, values))
                position = index + config.line_offset
                if len(names) == 25:
                    line = _row_id(fields["line_number"], path, index)
                    if line != position:
                        stats.line_number_mismatches += 1
                else:
                    line = position
                yield DumpLine(line, fields)
        except (OSError, EOFError) as exc:
            raise SourceError(f"{path}: cannot read compressed data after line {stats.lines_read}: {exc}") from None


def _layout_for(count: int, path, index: int) -> tuple[str, ...]:
    if count == 23:
        return YFCC_COLUMNS_23
    if count == 25:
        return YFCC_COLUMNS_25
    raise SourceError(
        f"{path}: line {index + 1} has {count} tab-separated columns; a YFCC100M dump has 23 "
        "(2014 layout) or 25 (line number, id, hash first)"
    )


def _row_id(text: str, path, index: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise SourceError(f"{path}: line {index + 1}: line-number column is {text!r}, not an integer") from None


def decode_text(text: str) -> str:
    """URL-decode a dump field ('+' for spaces); skips the slow decoder when there is no escape."""
    return unquote_plus(text) if "%" in text else text.replace("+", " ")


def decode_tags(text: str) -> list[str]:
    """Split the dump's comma-separated, URL-encoded tag field ('+' for spaces) into tags."""
    return [decode_text(t) for t in text.split(",") if t]


@functools.lru_cache(maxsize=256)
def _license_id(url: str) -> int | None:
    # A dump has a dozen distinct licence URLs over 100M lines: map each once.
    return license_id_from_url(url)


def _float_or_none(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def dump_line_to_row(item: DumpLine) -> dict:
    """Map one dump line to a manifest row (source 'yfcc100m'), URL-decoding text fields."""
    f = item.fields
    return {
        "photo_id": f["photo_id"],
        "source": "yfcc100m",
        "download_url": f["download_url"],
        "page_url": f["page_url"],
        "owner_nsid": f["user_nsid"],
        "owner_name": decode_text(f["user_nickname"]),
        "title": decode_text(f["title"]),
        "license_id": _license_id(f["license_url"]),
        "license_name": f["license_name"] or None,
        "license_url": f["license_url"] or None,
        "date_taken": f["date_taken"] or None,
        "date_uploaded": int(f["date_uploaded"]) if f["date_uploaded"].isdigit() else None,
        "tags": decode_tags(f["user_tags"]),
        "yfcc_line": item.line,
        "yfcc_hash": f.get("photo_hash"),
        "secret": f["secret"],
        "server": f["server"],
        "farm": f["farm"],
        "secret_original": f["secret_original"] or None,
        "extension_original": f["extension_original"] or None,
        "description": decode_text(f["description"]) or None,
        "capture_device": decode_text(f["capture_device"]) or None,
        "longitude": _float_or_none(f["longitude"]),
        "latitude": _float_or_none(f["latitude"]),
    }


def rows_to_table(rows: list[dict]) -> pa.Table:
    """Normalize a batch of rows into an Arrow table with :data:`YFCC_SCHEMA`."""
    df = pd.DataFrame(rows)
    # The dump's date taken is 'YYYY-MM-DD hh:mm:ss.0'; parsing it here with one format is much
    # faster than the manifest's per-value fallback, and gives the same local (zone-less) time.
    df["date_taken"] = pd.to_datetime(df["date_taken"], format="%Y-%m-%d %H:%M:%S.%f", errors="coerce")
    df["date_uploaded"] = pd.to_numeric(df["date_uploaded"], errors="coerce")
    # Nullable ints: the manifest's licence filling cannot assign into a plain int64 column.
    df["license_id"] = df["license_id"].astype("Int16")
    table = manifest_table(df)
    return table.select(YFCC_SCHEMA.names).cast(YFCC_SCHEMA)


def yfcc_to_manifest(
    path: str | Path, out: str | Path, config: YfccConfig | None = None, progress: bool = True
) -> YfccStats:
    """Stream a YFCC100M dump into a manifest Parquet file at ``out``; return what was seen.

    Keeps photos only (marker 0) under the licences in ``config.license_ids`` (Flickr ids, mapped
    from each line's licence URL). Rows are written in Parquet row groups of
    ``config.row_group_size`` to a temporary file that is renamed onto ``out`` only when the whole
    dump has been read, so memory stays flat and a killed run leaves no partial manifest.
    """
    config = config or YfccConfig()
    wanted = set(parse_license_ids(config.license_ids))
    if config.row_group_size < 1:
        raise SourceError(f"row group size must be positive, got {config.row_group_size}")
    stats = YfccStats()
    batch: list[dict] = []
    with atomic_path(out) as tmp, pq.ParquetWriter(tmp, YFCC_SCHEMA, compression="zstd") as writer:

        def flush() -> None:
            if batch:
                writer.write_table(rows_to_table(batch), row_group_size=config.row_group_size)
                stats.row_groups += 1
                batch.clear()

        # disable=None: no bar when stderr is not a terminal (logs, subprocess pipes).
        bar = tqdm(
            desc=f"reading {Path(path).name}", unit=" lines", disable=None if progress else True, mininterval=2.0
        )
        for item in iter_dump_lines(path, config, stats):
            if stats.lines_read % 10_000 == 0:  # per-line bar updates cost more than parsing a field
                bar.update(stats.lines_read - bar.n)
            if not _keep(item, wanted, stats, config, path):
                continue
            batch.append(dump_line_to_row(item))
            stats.photos_written += 1
            if len(batch) >= config.row_group_size:
                flush()
            if config.limit is not None and stats.photos_written >= config.limit:
                break
        flush()
        bar.update(stats.lines_read - bar.n)
        bar.close()
    if stats.line_number_mismatches:
        log.warning(
            "%s: %d rows have a line-number column that differs from their 0-based position "
            "(plus offset %d); yfcc_line follows the column",
            path,
            stats.line_number_mismatches,
            config.line_offset,
        )
    log.info(
        "%s: %d lines, %d photos written, %d videos, %d outside licences, %d bad lines",
        path,
        stats.lines_read,
        stats.photos_written,
        stats.videos_skipped,
        stats.license_filtered,
        stats.bad_lines,
    )
    return stats


def _keep(item: DumpLine, wanted: set[int], stats: YfccStats, config: YfccConfig, path) -> bool:
    marker = item.fields["marker"]
    if marker == "1":
        stats.videos_skipped += 1
        return False
    if marker != "0":
        if config.skip_bad_lines:
            stats.bad_lines += 1
            log.warning("skipping %s dataset line %d: marker %r is neither 0 nor 1", path, item.line, marker)
            return False
        raise SourceError(
            f"{path}: dataset line {item.line}: marker column is {marker!r}, expected 0 (photo) or 1 (video)"
        )
    if wanted and _license_id(item.fields["license_url"]) not in wanted:
        stats.license_filtered += 1
        return False
    return True
