"""Takedowns: remove photos (by id or by owner) from a face-shard dataset, and remember it.

The removal log ``DATASET/_removals.jsonl`` is the source of truth: one JSON object per
request, never edited, only appended to (by an atomic rewrite of the whole file, so a killed
process leaves either the old or the new log). :func:`apply_removal_log` then makes the shards
agree with the log, so a run killed half-way is finished by running it again.

Later builds honour the log through :func:`read_removal_log` / :func:`is_removed`: a removed
photo never comes back, and a removed owner's new photos are never added.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..atomic import atomic_write_text
from ..errors import FdfError
from ..shards.reader import (
    COUNT_COLUMNS,
    dataset_counts,
    list_shards,
    list_status_files,
    read_dataset_info,
    read_shard,
    shard_label,
    unreadable_shards,
)
from ..shards.writer import DATASET_JSON, DATASET_LOCK, write_dataset_json, write_face_shard, write_status

log = logging.getLogger(__name__)

REMOVALS_FILE = "_removals.jsonl"  # underscore: pyarrow.dataset ignores it
REMOVED_STATUS = "removed"
LOCK_FILE = DATASET_LOCK


class TakedownError(FdfError):
    """A removal request is empty or malformed, or the dataset cannot be rewritten."""


@dataclass(frozen=True)
class RemovalLog:
    """Everything ever removed from a dataset: photo ids (incl. those matched by owner) and owners."""

    photo_ids: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    entries: tuple[dict, ...] = ()

    def blocks(self, photo_id: str, owner_nsid: str | None = None) -> bool:
        """True if this photo, or any photo of this owner, was removed."""
        return str(photo_id) in self.photo_ids or (owner_nsid is not None and str(owner_nsid) in self.owners)


@dataclass
class RemovalResult:
    """What one removal did to the shards."""

    photo_ids_removed: list[str] = field(default_factory=list)
    rows_removed: int = 0
    shards_rewritten: list[str] = field(default_factory=list)
    shards_deleted: list[str] = field(default_factory=list)
    status_tables_rewritten: int = 0
    shards_untouched: int = 0
    requested_not_found: list[str] = field(default_factory=list)
    shards_unreadable: list[str] = field(default_factory=list)  # left as they were (--skip-unreadable)

    def summary(self) -> dict:
        return {
            "photos_removed": len(self.photo_ids_removed),
            "rows_removed": self.rows_removed,
            "shards_rewritten": len(self.shards_rewritten),
            "shards_deleted": len(self.shards_deleted),
            "shards_untouched": self.shards_untouched,
            "status_tables_rewritten": self.status_tables_rewritten,
            "photo_ids_removed": self.photo_ids_removed,
            "requested_not_found": self.requested_not_found,
            "shards_unreadable": self.shards_unreadable,
        }


def removal_log_path(dataset_dir: str | Path) -> Path:
    return Path(dataset_dir) / REMOVALS_FILE


def read_removal_log(dataset_dir: str | Path) -> RemovalLog:
    """Read ``_removals.jsonl`` of ``dataset_dir``; an absent log (or folder) means nothing removed."""
    path = removal_log_path(dataset_dir)
    if not path.exists():
        return RemovalLog()
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            # Refuse rather than skip: ignoring a takedown would bring removed faces back.
            raise TakedownError(f"{path} line {number} is not JSON ({exc}); fix or restore the log") from None
    photos = {str(p) for e in entries for p in (*e.get("photo_ids", ()), *e.get("matched_photo_ids", ()))}
    owners = {str(o) for e in entries for o in e.get("owners", ())}
    return RemovalLog(frozenset(photos), frozenset(owners), tuple(entries))


def removed_photo_ids(dataset_dir: str | Path) -> set[str]:
    """Photo ids removed from ``dataset_dir``: named ones and those matched through a removed owner."""
    return set(read_removal_log(dataset_dir).photo_ids)


def removed_owners(dataset_dir: str | Path) -> set[str]:
    """Owner NSIDs removed from ``dataset_dir``; their new photos are blocked too."""
    return set(read_removal_log(dataset_dir).owners)


def is_removed(dataset_dir: str | Path, photo_id: str, owner_nsid: str | None = None) -> bool:
    """True if ``photo_id`` (or its owner) is in the removal log of ``dataset_dir``.

    For many photos read the log once with :func:`read_removal_log` and use ``.blocks``.
    """
    return read_removal_log(dataset_dir).blocks(photo_id, owner_nsid)


_PHOTO_URL = re.compile(r"flickr\.com/photos/([^/]+)/(\d+)")
_NSID = re.compile(r"^\d+@N\d+$")


def parse_removal_list(text: str) -> tuple[list[str], list[str]]:
    """Parse a removal list: one item a line, '#' comments.

    An item is a photo id, ``photo:ID``, ``owner:NSID``, a bare NSID (``12345@N01``) or a Flickr
    photo page URL. Returns (photo_ids, owners); TakedownError names a line it cannot read.
    """
    photos: list[str] = []
    owners: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        item = raw.split("#", 1)[0].strip()
        if not item:
            continue
        kind, _, value = item.partition(":") if re.match(r"^(photo|owner):", item) else ("", "", item)
        url = _PHOTO_URL.search(value)
        if kind == "owner" or (not kind and _NSID.match(value)):
            owners.append(value.strip())
        elif url:
            photos.append(url.group(2))
        elif re.fullmatch(r"[\w-]+", value.strip()):
            photos.append(value.strip())
        else:
            raise TakedownError(
                f"removal list line {number}: cannot read {raw.strip()!r} "
                "(expected a photo id, owner:NSID or a Flickr photo URL)"
            )
    return photos, owners


def _scan(dataset_dir: Path, skip: set[Path] | frozenset) -> dict[Path, pa.Table]:
    """The few columns a removal decides on and counts with, of every readable shard: read once
    per removal (~70 bytes a row), not once to log the request and again to apply it."""
    return {
        shard: read_shard(shard, [*COUNT_COLUMNS, "owner_nsid"])
        for shard in list_shards(dataset_dir)
        if shard not in skip
    }


def unreadable_files(dataset_dir: str | Path) -> dict[Path, str]:
    """Face shards and status tables of ``dataset_dir`` that cannot be read, with the reason."""
    return unreadable_shards([*list_shards(dataset_dir), *list_status_files(dataset_dir)])


def check_readable(datasets: Iterable[str | Path], skip_unreadable: bool = False) -> dict[Path, dict[Path, str]]:
    """Unreadable files per dataset; TakedownError naming them unless ``skip_unreadable``.

    Called before a removal changes anything: by default a truncated or corrupt shard stops the
    removal with nothing changed (exit status 2).
    """
    bad = {Path(d): found for d in datasets if (found := unreadable_files(d))}
    if bad and not skip_unreadable:
        names = "; ".join(str(reason) for found in bad.values() for reason in found.values())
        raise TakedownError(
            f"nothing was removed: {names}. To apply the takedown to the other shards now, "
            "rerun with --skip-unreadable (the request is logged and reaches the unreadable "
            "shard when it is restored and fdf remove runs again)"
        )
    return bad


def _blocked_mask(table: pa.Table, removal: RemovalLog) -> pa.ChunkedArray:
    by_photo = pc.is_in(table["photo_id"], value_set=pa.array(sorted(removal.photo_ids), pa.string()))
    by_owner = pc.is_in(table["owner_nsid"], value_set=pa.array(sorted(removal.owners), pa.string()))
    return pc.fill_null(pc.or_(by_photo, by_owner), False)


@contextlib.contextmanager
def _removal_lock(dataset_dir: Path):
    """Serialize removals on one dataset: two at once would each rewrite the log and the shards.

    An OS-level lock (filelock: flock, or msvcrt on Windows) dies with its process, so a killed
    removal leaves no stale lock; a second removal waits.
    """
    # lazy: filelock loads in ~40 ms and only removals need it (annotate workers import this module)
    from filelock import FileLock

    with FileLock(str(dataset_dir / LOCK_FILE)):
        yield


def _append_entry(dataset_dir: Path, entry: dict) -> None:
    path = removal_log_path(dataset_dir)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    atomic_write_text(path, old + json.dumps(entry, sort_keys=True) + "\n")


def dataset_folders(path: str | Path) -> list[Path]:
    """The face-shard datasets a removal applies to: ``path`` itself, or, for a build folder
    (``fdf build`` output), every dataset directly inside it (e.g. faces/ and selected/).

    A build's later stages are rebuilt from its earlier ones, so a takedown must reach all of them.
    """
    path = Path(path)
    if (path / DATASET_JSON).exists():
        return [path]
    inner = sorted(p for p in path.iterdir() if (p / DATASET_JSON).exists()) if path.is_dir() else []
    if not inner:
        raise TakedownError(f"{path} is neither a face-shard dataset (_dataset.json) nor a build folder holding one")
    return inner


def remove_photos(
    dataset_dir: str | Path,
    photo_ids: Iterable[str] = (),
    owners: Iterable[str] = (),
    reason: str = "removal request",
    reasons: dict[str, str] | None = None,
    skip_unreadable: bool = False,
) -> RemovalResult:
    """Remove photos by id and/or every photo of some owners from a face-shard dataset.

    Logs the request first (so it holds even if the rewrite is interrupted), then rewrites
    only the shards holding matching rows. ``reasons`` optionally gives a reason per photo id.
    A truncated or corrupt shard stops the removal before anything changes (TakedownError);
    with ``skip_unreadable`` the other shards are done and the result names the ones skipped.
    """
    dataset_dir = Path(dataset_dir)
    photo_ids = sorted({str(p).strip() for p in photo_ids if str(p).strip()})
    owners = sorted({str(o).strip() for o in owners if str(o).strip()})
    if not photo_ids and not owners:
        raise TakedownError("nothing to remove: give photo ids, owners or a list file")
    read_dataset_info(dataset_dir)  # DatasetError if this is not a face-shard dataset
    with _removal_lock(dataset_dir):
        skip = set(check_readable([dataset_dir], skip_unreadable).get(dataset_dir, {}))
        result = _log_and_apply(dataset_dir, photo_ids, owners, reason, reasons, skip)
    return result


def _log_and_apply(
    dataset_dir: Path,
    photo_ids: list[str],
    owners: list[str],
    reason: str,
    reasons: dict[str, str] | None,
    skip: set[Path],
) -> RemovalResult:
    request = RemovalLog(frozenset(photo_ids), frozenset(owners))
    scanned = _scan(dataset_dir, skip)
    matched: set[str] = set()
    for table in scanned.values():
        matched.update(pc.unique(table.filter(_blocked_mask(table, request))["photo_id"]).to_pylist())
    entry = {
        "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "reason": reason,
        "photo_ids": photo_ids,
        "owners": owners,
        # Owners resolved to photo ids now, so status rows (which carry no owner) can be marked.
        "matched_photo_ids": sorted(matched),
    }
    if reasons:
        entry["reasons"] = {str(k): str(v) for k, v in sorted(reasons.items())}
    _append_entry(dataset_dir, entry)
    log.info(
        "logged removal of %d photo ids and %d owners (%d photos in the dataset)",
        len(photo_ids),
        len(owners),
        len(matched),
    )
    result = apply_removal_log(dataset_dir, skip, scanned)
    result.requested_not_found = sorted(set(photo_ids) - matched)
    return result


def apply_removal_log(
    dataset_dir: str | Path, skip: set[Path] | frozenset = frozenset(), scanned: dict[Path, pa.Table] | None = None
) -> RemovalResult:
    """Make the dataset agree with its removal log; idempotent, and resumes a killed removal.

    Shards without blocked rows are not opened for writing (their bytes stay the same). A shard
    left without rows is deleted; its status table stays, marking the photos as removed. Files in
    ``skip`` (unreadable ones) are left as they are and listed in ``shards_unreadable``.
    """
    dataset_dir = Path(dataset_dir)
    removal = read_removal_log(dataset_dir)
    result = RemovalResult(shards_unreadable=sorted(str(p) for p in skip))
    if not removal.photo_ids and not removal.owners:
        return result
    removed: set[str] = set()
    scanned = _scan(dataset_dir, skip) if scanned is None else scanned
    remaining = []  # each shard's counted columns after the removal
    for shard, small in scanned.items():
        mask = _blocked_mask(small, removal)
        hits = pc.sum(mask).as_py() or 0
        remaining.append(small.filter(pc.invert(mask)).select(COUNT_COLUMNS) if hits else small.select(COUNT_COLUMNS))
        if not hits:
            result.shards_untouched += 1
            continue
        table = read_shard(shard)
        removed.update(table.filter(mask)["photo_id"].to_pylist())
        kept = table.filter(pc.invert(mask))
        result.rows_removed += hits
        if kept.num_rows:
            write_face_shard(kept, shard)  # in place: its rows keep their resolution and split
            result.shards_rewritten.append(shard_label(dataset_dir, shard))
        else:
            shard.unlink()
            result.shards_deleted.append(shard_label(dataset_dir, shard))
    result.status_tables_rewritten = _mark_status_removed(dataset_dir, removal.photo_ids | removed, skip)
    result.photo_ids_removed = sorted(removed)
    info = read_dataset_info(dataset_dir)
    counts = dataset_counts(dataset_dir, skip=skip, tables=remaining)
    if skip:
        counts["unreadable_shards"] = sorted(shard_label(dataset_dir, p) for p in skip)
    write_dataset_json(dataset_dir, info.get("config", {}), counts)
    log.info(
        "removed %d rows of %d photos: %d shards rewritten, %d deleted, %d untouched",
        result.rows_removed,
        len(removed),
        len(result.shards_rewritten),
        len(result.shards_deleted),
        result.shards_untouched,
    )
    return result


def _mark_status_removed(dataset_dir: Path, photo_ids: set[str], skip: set[Path] | frozenset = frozenset()) -> int:
    """Set status 'removed' (faces 0) on status rows of ``photo_ids``; return tables rewritten.

    The status row stays: it keeps the photo counted as done, so a resumed annotate run that
    ignored the log still would not re-annotate it.
    """
    rewritten = 0
    wanted = pa.array(sorted(photo_ids), pa.string())
    for path in list_status_files(dataset_dir):
        if path in skip:
            continue
        table = read_shard(path)
        not_yet = pc.fill_null(pc.not_equal(table.column("status"), REMOVED_STATUS), True)
        hit = pc.and_(pc.fill_null(pc.is_in(table.column("photo_id"), value_set=wanted), False), not_yet)
        if not pc.any(hit).as_py():  # most status tables: no Python rows made
            continue
        rows = table.to_pylist()
        for row, marked in zip(rows, hit.to_pylist()):
            if marked:
                row.update(status=REMOVED_STATUS, faces=0, error="removed by takedown")
        write_status(rows, path)
        rewritten += 1
    return rewritten
