"""Ask Flickr what each photo's state is now: deleted or private, licence changed, opted out.

One ``flickr.photos.getInfo`` call per photo, from a few threads. Each thread has its own
FlickrClient (a client remembers its last HTTP response, so it is not shared across threads)
but all share one RateLimiter, so the key's hourly budget holds across threads and processes.
Findings are saved under ``_audit/`` so ``fdf remove --from-audit`` can act on them later.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from ..atomic import atomic_write_text
from ..errors import FdfError
from ..flickr.client import FlickrApiError, FlickrClient, FlickrUnavailableError
from ..flickr.search import is_opted_out
from ..licenses import license_table
from .checks import license_of

log = logging.getLogger(__name__)

DELETED = "deleted_or_private"
LICENSE_CHANGED = "license_changed"
OPTED_OUT = "opted_out"
CHECK_FAILED = "check_failed"
REASONS = (DELETED, LICENSE_CHANGED, OPTED_OUT, CHECK_FAILED)
NOT_FOUND_CODE = 1  # Flickr: photo not found, deleted, or not visible to this caller
# Sources whose photo ids are Flickr ids; other rows count as Flickr photos only by their page URL.
FLICKR_SOURCES = {"flickr", "yfcc100m", "fdf"}
_FLICKR_PAGE = re.compile(r"^https?://(www\.)?flickr\.com/photos/[^/]+/\d+")


@dataclass
class Finding:
    """One thing revalidation found about one photo."""

    photo_id: str
    owner_nsid: str | None
    reason: str  # one of REASONS
    old_license_id: int | None = None
    new_license_id: int | None = None
    new_license_name: str | None = None
    revoked: bool = False  # the photo may no longer be used as before: remove it
    detail: str = ""


@dataclass
class Revalidation:
    """The result of one revalidation run."""

    checked_at: str
    api_url: str
    photos_checked: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    photos_skipped: int = 0  # rows that are not Flickr photos (local folders, other sites)

    def revoked_photo_ids(self) -> dict[str, str]:
        """Photo id -> reason, for every finding that calls for removal."""
        return {f.photo_id: f.reason for f in self.findings if f.revoked}

    def by_owner(self) -> dict[str, list[Finding]]:
        owners: dict[str, list[Finding]] = {}
        for f in self.findings:
            owners.setdefault(f.owner_nsid or "(unknown owner)", []).append(f)
        return dict(sorted(owners.items()))

    def counts(self) -> dict[str, int]:
        return {r: sum(f.reason == r for f in self.findings) for r in REASONS}

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "counts": self.counts()}

    @classmethod
    def from_dict(cls, data: dict) -> Revalidation:
        findings = [Finding(**f) for f in data.get("findings", [])]
        return cls(
            data["checked_at"],
            data["api_url"],
            int(data["photos_checked"]),
            float(data["seconds"]),
            findings,
            int(data.get("photos_skipped", 0)),
        )


def is_flickr_photo(row: dict) -> bool:
    """True if ``row`` names a Flickr photo: asking Flickr about anything else would read as 'deleted'."""
    source = row.get("source")
    if isinstance(source, str) and source in FLICKR_SOURCES:
        return True
    url = row.get("photo_url")
    return isinstance(url, str) and _FLICKR_PAGE.match(url) is not None


def is_revoked_change(old_id: int | None, new_id: int | None) -> bool:
    """True if the new licence grants less than the old: no longer commercial, no adaptations,
    newly ShareAlike, or no longer a known open licence (e.g. All Rights Reserved)."""
    old, new = license_of(old_id), license_of(new_id)
    if new is None or new.id == 0:
        return True
    if old is None:
        return False
    return (
        (old.commercial and not new.commercial)
        or (old.derivatives and not new.derivatives)
        or (new.share_alike and not old.share_alike)
    )


def findings_from_info(photo: dict, info: dict) -> list[Finding]:
    """Compare a photo row with its ``flickr.photos.getInfo`` answer."""
    pid, owner = str(photo["photo_id"]), photo.get("owner_nsid")
    old_id = None if photo.get("license_id") is None or pd.isna(photo.get("license_id")) else int(photo["license_id"])
    found = []
    p = info.get("photo", {})
    try:
        new_id = int(p.get("license"))
    except (TypeError, ValueError):
        new_id = None
    if new_id != old_id:
        lic = license_table().get(new_id) if new_id is not None else None
        found.append(
            Finding(
                pid,
                owner,
                LICENSE_CHANGED,
                old_id,
                new_id,
                lic.name if lic else "unknown",
                revoked=is_revoked_change(old_id, new_id),
                detail=f"licence {old_id} -> {new_id}",
            )
        )
    tags = [t.get("raw") or t.get("_content") or "" for t in p.get("tags", {}).get("tag", [])]
    if is_opted_out(tags):
        found.append(Finding(pid, owner, OPTED_OUT, revoked=True, detail="tagged no_cv"))
    return found


def check_photo(client: FlickrClient, photo: dict) -> list[Finding]:
    """Revalidate one photo; a failed call becomes a ``check_failed`` finding, never an exception."""
    pid, owner = str(photo["photo_id"]), photo.get("owner_nsid")
    try:
        info = client.call("flickr.photos.getInfo", photo_id=pid)
    except FlickrApiError as exc:
        if exc.code == NOT_FOUND_CODE:
            return [Finding(pid, owner, DELETED, revoked=True, detail=str(exc))]
        return [Finding(pid, owner, CHECK_FAILED, detail=str(exc))]
    except FlickrUnavailableError as exc:
        return [Finding(pid, owner, CHECK_FAILED, detail=str(exc))]
    return findings_from_info(photo, info)


PROGRESS_MAX_AGE_S = 24 * 3600  # older partial runs are stale: Flickr may have changed since


def _load_progress(path: Path | None, max_age_s: float) -> tuple[str | None, dict[str, list[Finding]]]:
    """(start time, findings by photo id) of an interrupted run's progress file, if fresh enough.

    A torn last line (the process was killed mid-write) is skipped: that photo is checked again.
    """
    if path is None or not path.exists():
        return None, {}
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        header = json.loads(lines[0])
        started = dt.datetime.fromisoformat(header["started"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None, {}
    if (dt.datetime.now(dt.timezone.utc) - started).total_seconds() > max_age_s:
        log.info("ignoring stale revalidation progress from %s", header["started"])
        return None, {}
    done: dict[str, list[Finding]] = {}
    for line in lines[1:]:
        try:
            item = json.loads(line)
            done[str(item["photo_id"])] = [Finding(**f) for f in item["findings"]]
        except (ValueError, KeyError, TypeError):
            continue
    return header["started"], done


def revalidate(
    photos: pd.DataFrame,
    client: FlickrClient,
    threads: int = 4,
    progress: bool = False,
    progress_file: str | Path | None = None,
    max_age_s: float = PROGRESS_MAX_AGE_S,
) -> Revalidation:
    """Revalidate every Flickr photo among ``photos`` (photo_id, owner_nsid, license_id, and
    source or photo_url to tell Flickr photos from others, see :func:`is_flickr_photo`).

    With ``progress_file``, each checked photo is appended to it as it is done, and a run
    interrupted less than ``max_age_s`` ago resumes from it (the caller deletes it when the
    findings are saved). FlickrAuthError (a rejected key) is raised: no photo can be checked.
    """
    if threads < 1:
        raise FdfError(f"threads must be at least 1, got {threads}")
    local = threading.local()

    def thread_client() -> FlickrClient:
        if not hasattr(local, "client"):
            local.client = FlickrClient(client.config, rate_limiter=client.rate_limiter)
        return local.client

    progress_file = Path(progress_file) if progress_file else None
    resumed_at, done = _load_progress(progress_file, max_age_s)
    checked_at = resumed_at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    columns = [c for c in ("photo_id", "owner_nsid", "license_id", "source", "photo_url") if c in photos]
    every = photos[columns].to_dict("records")
    rows = [r for r in every if is_flickr_photo(r)]
    if len(rows) < len(every):
        log.info("not revalidating %d rows that are not Flickr photos", len(every) - len(rows))
    todo = [r for r in rows if str(r["photo_id"]) not in done]
    if done:
        log.info(
            "resuming revalidation started %s: %d of %d photos already checked",
            checked_at,
            len(rows) - len(todo),
            len(rows),
        )
    started = time.monotonic()
    out = None
    if progress_file is not None:
        progress_file.parent.mkdir(parents=True, exist_ok=True)
        if not done:
            progress_file.write_text(json.dumps({"started": checked_at}) + "\n", encoding="utf-8")
        out = progress_file.open("a", encoding="utf-8")
    # Small chunks: an interrupted run waits only for the calls in flight, and progress is kept.
    chunk = threads * 8
    try:
        with (
            ThreadPoolExecutor(max_workers=threads) as pool,
            tqdm(
                total=len(rows), initial=len(rows) - len(todo), desc="revalidate", unit="photo", disable=not progress
            ) as bar,
        ):
            for i in range(0, len(todo), chunk):
                batch = todo[i : i + chunk]
                for row, found in zip(batch, pool.map(lambda r: check_photo(thread_client(), r), batch)):
                    done[str(row["photo_id"])] = found
                    if out is not None:
                        out.write(
                            json.dumps(
                                {"photo_id": str(row["photo_id"]), "findings": [dataclasses.asdict(f) for f in found]}
                            )
                            + "\n"
                        )
                        out.flush()  # a killed run then loses at most the calls in flight
                bar.update(len(batch))
    finally:
        if out is not None:
            out.close()
    findings = [f for r in rows for f in done.get(str(r["photo_id"]), [])]
    rev = Revalidation(
        checked_at,
        client.config.api_url,
        len(rows),
        round(time.monotonic() - started, 3),
        findings,
        len(every) - len(rows),
    )
    log.info("revalidated %d photos in %.1fs: %s", len(rows), rev.seconds, rev.counts())
    return rev


def save_revalidation(rev: Revalidation, audit_dir: str | Path) -> Path:
    """Write ``revalidation-<UTC time>.json`` under ``audit_dir`` atomically; return its path."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = Path(audit_dir) / f"revalidation-{stamp}.json"
    atomic_write_text(path, json.dumps(rev.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def latest_revalidation(audit_dir: str | Path) -> tuple[Path, Revalidation] | None:
    """The newest saved revalidation under ``audit_dir`` (names sort by time), or None."""
    files = sorted(Path(audit_dir).glob("revalidation-*.json"))
    if not files:
        return None
    try:
        return files[-1], Revalidation.from_dict(json.loads(files[-1].read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise FdfError(f"{files[-1]} is not a readable revalidation: {exc}") from None
