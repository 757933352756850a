"""The photo manifest: a Parquet table, one row per candidate photo.

Every source (Flickr search, YFCC100M, FDF metainfo, URL lists, local folders) produces the
columns in :data:`MANIFEST_SCHEMA`; a source may add its own columns after them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .atomic import atomic_path
from .errors import ManifestError
from .licenses import license_id_from_url, license_table

log = logging.getLogger(__name__)

MANIFEST_SCHEMA = pa.schema(
    [
        pa.field("photo_id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("download_url", pa.string()),
        pa.field("page_url", pa.string()),
        pa.field("owner_nsid", pa.string()),
        pa.field("owner_name", pa.string()),
        pa.field("title", pa.string()),
        pa.field("license_id", pa.int16()),
        pa.field("license_name", pa.string()),
        pa.field("license_url", pa.string()),
        # Flickr's date taken is the camera's local time, without a zone.
        pa.field("date_taken", pa.timestamp("s")),
        pa.field("date_uploaded", pa.timestamp("s", tz="UTC")),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
    ]
)
MANIFEST_COLUMNS = MANIFEST_SCHEMA.names
REQUIRED_COLUMNS = ("photo_id", "download_url", "license_id")


def fill_license_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Fill license_id from license_url where missing, then name and URL from the id.

    The id is authoritative; a URL that disagrees with the id is kept as given, so the audit
    can flag the disagreement instead of it being silently overwritten.
    """
    df = df.copy()
    table = license_table()
    if "license_id" not in df:
        df["license_id"] = pd.NA
    if "license_url" in df:
        missing = df["license_id"].isna()
        if missing.any():
            # Through object dtype: pandas 3 refuses None/str values set into an int or float column.
            from_url = df["license_url"].map(license_id_from_url)
            df["license_id"] = df["license_id"].astype("object").where(~missing, from_url)
    ids = pd.to_numeric(df["license_id"], errors="coerce").astype("Int16")
    df["license_id"] = ids
    known = ids.notna() & ids.isin(list(table))
    names = ids.map(lambda i: table[int(i)].name if pd.notna(i) and int(i) in table else None)
    urls = ids.map(lambda i: table[int(i)].url if pd.notna(i) and int(i) in table else None)
    for col, values in (("license_name", names), ("license_url", urls)):
        if col not in df:
            df[col] = None
        empty = df[col].isna() | (df[col].astype("string").str.len() == 0)
        df.loc[known & empty, col] = values[known & empty]
    return df


def _to_timestamp(series: pd.Series, utc: bool) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series):
        out = pd.to_datetime(series, unit="s", errors="coerce", utc=True)
    else:
        text = series.astype("string").str.strip()
        numeric = text.str.fullmatch(r"\d+").fillna(False)
        out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[s, UTC]")
        if numeric.any():
            out[numeric] = pd.to_datetime(text[numeric].astype("int64"), unit="s", utc=True)
        rest = ~numeric & text.notna()
        if rest.any():
            out[rest] = pd.to_datetime(text[rest], errors="coerce", utc=True, format="mixed")
    out = out.astype("datetime64[s, UTC]")
    return out if utc else out.dt.tz_localize(None)


def normalize_manifest(df: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Return ``df`` with every manifest column present, typed, in order; extra columns after.

    Drops rows without a photo id and repeated photo ids (keeping the first), logging counts.
    """
    df = df.copy()
    if "photo_id" not in df:
        raise ManifestError("manifest has no 'photo_id' column")
    if source is not None:
        df["source"] = source
    for col in MANIFEST_COLUMNS:
        if col not in df:
            df[col] = None
    df["photo_id"] = df["photo_id"].astype("string").str.strip()
    no_id = df["photo_id"].isna() | (df["photo_id"] == "")
    if no_id.any():
        log.warning("dropping %d rows without a photo_id", int(no_id.sum()))
        df = df[~no_id]
    dup = df["photo_id"].duplicated()
    if dup.any():
        log.info("dropping %d repeated photo ids", int(dup.sum()))
        df = df[~dup]
    df = fill_license_columns(df)
    df["date_taken"] = _to_timestamp(df["date_taken"], utc=False)
    df["date_uploaded"] = _to_timestamp(df["date_uploaded"], utc=True)
    df["tags"] = df["tags"].map(_as_tag_list)
    for col in ("width", "height"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype("Int32")
    extras = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    return df[MANIFEST_COLUMNS + extras].reset_index(drop=True)


def _as_tag_list(value) -> list[str]:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return []
    if isinstance(value, str):
        return [t for t in value.split() if t]
    return [str(t) for t in value]


def manifest_table(df: pd.DataFrame) -> pa.Table:
    """Convert a normalized manifest frame to an Arrow table with :data:`MANIFEST_SCHEMA` first."""
    df = normalize_manifest(df)
    extras = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    base = pa.Table.from_pandas(df[MANIFEST_COLUMNS], schema=MANIFEST_SCHEMA, preserve_index=False)
    if extras:
        extra = pa.Table.from_pandas(df[extras], preserve_index=False)
        for name in extra.column_names:
            base = base.append_column(extra.schema.field(name), extra.column(name))
    # No pandas metadata: the file is a plain Arrow table, read the same by every tool.
    return base.replace_schema_metadata(None)


def write_manifest(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a manifest Parquet file atomically (zstd); return its path."""
    return write_manifest_table(manifest_table(df), path)


def write_manifest_table(table: pa.Table, path: str | Path) -> Path:
    """Write a manifest already in Arrow (as :func:`manifest_table` makes it) atomically (zstd)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    log.info("wrote manifest %s (%d photos)", path, table.num_rows)
    return path


def read_manifest(path: str | Path, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Read and validate a manifest; ManifestError says what is wrong with a bad file."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"manifest not found: {path}")
    try:
        table = pq.read_table(path, columns=list(columns) if columns else None)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ManifestError(f"{path} is not a readable Parquet manifest: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing and columns is None:
        raise ManifestError(f"{path} lacks required manifest columns: {', '.join(missing)}")
    df = table.to_pandas()
    if columns is None:
        df = normalize_manifest(df)
    return df
