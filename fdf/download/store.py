"""Where a download run keeps things under its output folder, and how it writes them.

Layout of ``DIR``:

- ``part-00000.parquet`` ...: result shards, one row per photo; each is written atomically, so
  its presence under the final name is the "shard done" marker.
- ``_photos/<2 hex of sha1(photo_id)>/<photo_id>.<ext>``: the photo bytes, written atomically.
- ``_state/``: ``config.json`` of the last run and ``lock``, which stops two runs sharing DIR.

Arrow's dataset discovery skips names starting with ``_`` or ``.``, so
``pyarrow.dataset.dataset(DIR, format="parquet")`` sees exactly the shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..atomic import atomic_path, atomic_write_bytes
from ..errors import FdfError
from ..parquet_read import read_shard

log = logging.getLogger(__name__)

PHOTOS_DIR = "_photos"
STATE_DIR = "_state"
_SHARD_RE = re.compile(r"^part-(\d{5,})\.parquet$")
# Ids kept as file names: lower case (no two differ only by case, which case-insensitive disks
# would merge), no dots (a stem is never the prefix of another "stem.ext"), never "id-" (the
# prefix of hashed names). Every other id is stored as "id-" + sha1, so no two ids share a name.
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_@-]{0,150}$")


class OutputLockedError(FdfError):
    """Another run is writing the same output folder."""


def _file_stem(photo_id: str) -> str:
    # Photo ids from URL lists or folders may hold '/', spaces or be very long: fall back to a hash.
    if _SAFE_NAME.match(photo_id) and not photo_id.startswith("id-"):
        return photo_id
    return "id-" + hashlib.sha1(photo_id.encode("utf-8")).hexdigest()


def photo_folder(photo_id: str) -> str:
    """Relative folder of a photo: ``_photos/<first 2 hex of sha1(photo_id)>``."""
    return f"{PHOTOS_DIR}/{hashlib.sha1(photo_id.encode('utf-8')).hexdigest()[:2]}"


def photo_relpath(photo_id: str, extension: str) -> str:
    """Path of a photo file relative to the output folder."""
    return f"{photo_folder(photo_id)}/{_file_stem(photo_id)}.{extension}"


def find_photo_file(out_dir: Path, photo_id: str) -> Path | None:
    """The complete photo file already stored for ``photo_id`` (any extension), if one exists."""
    folder = out_dir / photo_folder(photo_id)
    stem = _file_stem(photo_id)
    if not folder.is_dir():
        return None
    for path in folder.glob(f"{glob_escape(stem)}.*"):
        if not path.name.startswith("."):
            return path
    return None


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def write_photo(out_dir: Path, photo_id: str, extension: str, data: bytes) -> str:
    """Write the photo atomically; return its path relative to ``out_dir``.

    No fsync per photo (it cost ~4 ms each, more than fetching and validating one): the shard
    writer calls :func:`sync_photos` once before its shard, the marker that its photos are durable.
    """
    rel = photo_relpath(photo_id, extension)
    atomic_write_bytes(out_dir / rel, data, fsync=False)
    return rel


def sync_photos() -> None:
    """Flush written photos to disk, once per shard (one journal commit instead of one per file)."""
    if hasattr(os, "sync"):
        os.sync()


def shard_path(out_dir: Path, index: int) -> Path:
    return out_dir / f"part-{index:05d}.parquet"


def list_shards(out_dir: Path) -> list[tuple[int, Path]]:
    """Finished shards, oldest (lowest index) first."""
    if not out_dir.is_dir():
        return []
    found = []
    for path in out_dir.iterdir():
        match = _SHARD_RE.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def write_shard(out_dir: Path, index: int, table: pa.Table) -> Path:
    """Write a result shard atomically; the rename marks it done."""
    path = shard_path(out_dir, index)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def _shard_rows(out_dir: Path, columns: list[str]) -> pa.Table:
    """``columns`` of every finished shard, oldest first, with a ``shard`` index column.

    Read shard by shard and kept in Arrow: planning a 10,000-photo run holds a few hundred KB
    of photo ids, not a Python dict entry per photo.
    """
    parts = []
    for index, path in list_shards(out_dir):
        t = read_shard(path, columns)  # a truncated shard: one line naming it, before any rewrite
        t = t.set_column(0, "photo_id", pc.cast(t.column("photo_id"), pa.string()))
        parts.append(t.append_column("shard", pa.array(np.full(t.num_rows, index, dtype=np.int64))))
    if not parts:
        return pa.table(
            {
                "photo_id": pa.array([], pa.string()),
                **{c: pa.array([], pa.string()) for c in columns[1:]},
                "shard": pa.array([], pa.int64()),
            }
        )
    return pa.concat_tables(parts)


def newest_first(table: pa.Table) -> pa.Table:
    """The rows in reverse (newest shard, then last row, first), so a lookup that takes the first
    match of a photo id (``pc.index_in``) finds the row that supersedes the others."""
    return table.take(pa.array(np.arange(table.num_rows - 1, -1, -1, dtype=np.int64)))


def read_statuses(out_dir: Path) -> pa.Table:
    """photo_id, status and shard index of every row of the finished shards, newest row first."""
    return newest_first(_shard_rows(out_dir, ["photo_id", "status"]))


def heal_duplicate_rows(out_dir: Path) -> int:
    """Keep only the newest row per photo_id across shards; rewrite older shards atomically.

    A run killed between writing a retry's new shard and pruning the old rows leaves one photo
    in two shards; calling this on start (and after each run) makes that state whole again.
    Returns the number of rows removed.
    """
    rows = _shard_rows(out_dir, ["photo_id"])
    newest = newest_first(rows)
    # The shard holding each photo's newest row; a row is stale when it lives in another shard.
    owner = newest.column("shard").take(pc.index_in(rows.column("photo_id"), value_set=newest.column("photo_id")))
    stale = pc.not_equal(owner, rows.column("shard")).to_numpy(zero_copy_only=False)
    shard_of = rows.column("shard").to_numpy()
    stale_shards, removed = 0, 0
    for index, path in list_shards(out_dir):
        mine = shard_of == index
        if not stale[mine].any():
            continue  # only shards with superseded rows are read whole and rewritten
        table = read_shard(path)
        kept = table.filter(pa.array(~stale[mine]))
        removed += table.num_rows - kept.num_rows
        stale_shards += 1
        if kept.num_rows:
            write_shard(out_dir, index, kept)
        else:
            path.unlink()
    if removed:
        log.info("removed %d superseded rows from %d older shards", removed, stale_shards)
    return removed


def status_counts(out_dir: Path) -> dict[str, int]:
    """Rows per status over the whole output folder."""
    counts: dict[str, int] = defaultdict(int)
    for _, path in list_shards(out_dir):
        statuses = read_shard(path, ["status"]).column("status")
        for item in pc.value_counts(statuses).to_pylist():
            counts[item["values"]] += item["counts"]
    return dict(sorted(counts.items()))


@contextlib.contextmanager
def output_lock(out_dir: Path) -> Iterator[Path]:
    """Hold an exclusive lock on ``DIR/_state/lock`` for the duration of a run.

    An OS-level lock (filelock: flock on POSIX, msvcrt on Windows) dies with its process, so a
    run killed with SIGKILL never leaves a stale lock. ``_state/owner`` names the holder's pid.
    """
    # lazy: filelock loads in ~40 ms and only the output lock needs it (`fdf --help` and download workers import us)
    from filelock import FileLock, Timeout

    state = out_dir / STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    lock_path = state / "lock"
    owner = state / "owner"
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = owner.read_text(encoding="ascii", errors="replace")[:32].strip()
        except OSError:
            holder = ""
        raise OutputLockedError(
            f"{out_dir} is in use by another download (pid {holder or '?'}); wait for it or use another --out"
        ) from None
    try:
        atomic_write_bytes(owner, str(os.getpid()).encode("ascii"), fsync=False)
        yield lock_path
    finally:
        lock.release()
