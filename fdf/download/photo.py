"""Get one photo (from disk, from a killed run's leftovers, or over HTTP), validate, store it."""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

from .config import OK, DownloadConfig
from .fetch import fetch_url
from .store import find_photo_file, write_photo
from .validate import validate_image

log = logging.getLogger(__name__)


@dataclass
class PhotoResult:
    """What happened to one manifest row; becomes one row of a result shard."""

    photo_id: str
    status: str
    error: str = ""
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    byte_size: int | None = None
    path: str | None = None
    http_status: int | None = None
    attempts: int = 0
    reused: bool = False
    downloaded_at: datetime | None = None


def _blank(value) -> bool:
    return (
        value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip())
    )


def download_photo(
    row: dict, out_dir: Path, config: DownloadConfig, session: requests.Session, hosts=None
) -> PhotoResult:
    """Produce the result for one row; any unexpected exception becomes status "error".
    ``hosts``: the run's per-host request budget (see :mod:`.hosts`), or None."""
    photo_id = row["photo_id"]
    try:
        return _download_photo(row, out_dir, config, session, hosts)
    except Exception as exc:  # one bad row must never stop a shard
        log.exception("unexpected failure on photo %s", photo_id)
        return PhotoResult(photo_id, "error", f"{type(exc).__name__}: {exc}")


def _download_photo(
    row: dict, out_dir: Path, config: DownloadConfig, session: requests.Session, hosts=None
) -> PhotoResult:
    photo_id = row["photo_id"]
    now = datetime.now(timezone.utc)
    reused = _reuse_stored(photo_id, out_dir, config)
    if reused is not None:
        reused.downloaded_at = now
        return reused
    url, local = row.get("download_url"), row.get("local_path")
    http_status, attempts = None, 0
    if _blank(url) and not _blank(local):
        data, failure = _read_local(row, config)
        if failure is not None:
            failure.photo_id, failure.downloaded_at = photo_id, now
            return failure
    else:
        fetched = fetch_url(session, url if isinstance(url, str) else "", config, hosts)
        http_status, attempts = fetched.http_status, fetched.attempts
        if fetched.status != OK:
            return PhotoResult(
                photo_id, fetched.status, fetched.error, http_status=http_status, attempts=attempts, downloaded_at=now
            )
        data = fetched.body
    check = validate_image(data, config.max_pixels)
    result = PhotoResult(
        photo_id,
        check.status,
        check.error,
        sha256=check.sha256,
        width=check.width,
        height=check.height,
        format=check.format or None,
        byte_size=len(data),
        http_status=http_status,
        attempts=attempts,
        downloaded_at=now,
    )
    if check.status == OK:
        result.path = write_photo(out_dir, photo_id, check.extension, data)
    return result


def _read_local(row: dict, config: DownloadConfig) -> tuple[bytes, PhotoResult | None]:
    """The bytes of a folder source's ``local_path``, read with the byte cap.

    A manifest can come from anywhere, so a local path is honoured only on a ``folder`` row, and
    only when it resolves (symlinks followed) to a regular file inside the row's ``local_root``,
    the folder it was scanned from: no /etc/shadow, no /dev/zero, no FIFO to hang on.
    """
    path, root = str(row.get("local_path")), row.get("local_root")
    if row.get("source") != "folder" or _blank(root):
        return b"", PhotoResult(
            "",
            "bad_url",
            f"local_path {path} refused: local files are read only for rows of "
            "a folder source (fdf manifest folder), which name their folder",
        )
    try:
        real, real_root = os.path.realpath(path), os.path.realpath(str(root))
        if os.path.commonpath([real, real_root]) != real_root or real == real_root:
            return b"", PhotoResult("", "bad_url", f"local_path {path} is outside its source folder {root}")
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return b"", PhotoResult("", "missing_file", f"no such file: {path}")
    except (OSError, ValueError) as exc:
        return b"", PhotoResult("", "missing_file", f"cannot read {path}: {exc}")
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            return b"", PhotoResult("", "bad_url", f"local_path {path} is not a regular file")
        if info.st_size > config.max_bytes:
            return b"", PhotoResult(
                "", "too_large", f"{path} has {info.st_size} bytes, over max_bytes={config.max_bytes}"
            )
        data = fh.read(config.max_bytes + 1)  # the file may have grown since fstat
    if len(data) > config.max_bytes:
        return b"", PhotoResult("", "too_large", f"{path} is over max_bytes={config.max_bytes}")
    return data, None


def _reuse_stored(photo_id: str, out_dir: Path, config: DownloadConfig) -> PhotoResult | None:
    """A photo file completed by a killed run is re-validated from disk instead of re-fetched."""
    stored = find_photo_file(out_dir, photo_id)
    if stored is None:
        return None
    data = stored.read_bytes()
    check = validate_image(data, config.max_pixels)
    if check.status != OK:
        log.warning("stored file %s no longer validates (%s); fetching again", stored, check.error)
        stored.unlink(missing_ok=True)
        return None
    rel = stored.relative_to(out_dir).as_posix()
    return PhotoResult(
        photo_id,
        OK,
        sha256=check.sha256,
        width=check.width,
        height=check.height,
        format=check.format,
        byte_size=len(data),
        path=rel,
        reused=True,
    )
