"""A token bucket shared by every thread and process that uses one API key.

Flickr allows 3,600 calls per hour per key. The bucket's state lives in a small JSON file
guarded by an advisory lock (``<file>.lock``, via filelock so it works on Windows too), so
however many workers or processes call Flickr with one key, there is one owner of the budget.
Capacity (``burst``) is taken out of the hourly budget, so no 60-minute window can ever hold
more than ``calls_per_hour`` calls.

The state file is only ever replaced atomically, so it is always whole: a file that is not a
small regular file holding exactly a bucket's JSON is someone else's, and is refused rather than
overwritten (``--rate-state`` pointed at the wrong file must never cost its owner their data).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import threading
import time
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import FdfError

log = logging.getLogger(__name__)

STATE_KIND = "fdf-rate-limit"
_MAX_STATE_BYTES = 4096  # a bucket's JSON is under 100 bytes


class RateStateError(FdfError):
    """The rate-limit state path holds something that is not a rate-limit state file."""


def default_state_path(api_key: str) -> Path:
    """Where the bucket for ``api_key`` lives: under $FDF_CACHE_DIR or ~/.cache/fdf."""
    base = Path(os.environ.get("FDF_CACHE_DIR") or Path.home() / ".cache" / "fdf")
    digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]  # never the key itself
    return base / "ratelimit" / f"{digest}.json"


class RateLimiter:
    """Cross-process token bucket: at most ``calls_per_hour`` calls in any hour.

    ``burst`` calls may go at once; the rest of the budget refills evenly over the hour.
    """

    def __init__(
        self,
        calls_per_hour: float = 3600,
        burst: int = 60,
        state_path: str | Path | None = None,
        clock=time.time,
        sleep=time.sleep,
    ):
        if calls_per_hour <= 0:
            raise ValueError("calls_per_hour must be positive")
        self.calls_per_hour = float(calls_per_hour)
        self.burst = max(1, min(int(burst), int(calls_per_hour)))
        # Refill so that burst + refill over one hour never exceeds the hourly budget.
        self.rate = max(self.calls_per_hour - self.burst, 1.0) / 3600.0
        self.state_path = Path(state_path).resolve() if state_path else None
        self._clock = clock
        self._sleep = sleep
        self._thread_lock = threading.Lock()
        self._memory_state = {"tokens": float(self.burst), "updated": clock()}
        if self.state_path:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            read_state_file(self.state_path)  # refuse someone else's file before any call

    def _take(self, state: dict) -> tuple[dict, float]:
        """Refill ``state`` to now and take a token; return (new state, seconds to wait first)."""
        now = self._clock()
        tokens = min(float(self.burst), state["tokens"] + (now - state["updated"]) * self.rate)
        tokens -= 1.0
        wait = 0.0 if tokens >= 0 else -tokens / self.rate
        return {"tokens": tokens, "updated": now}, wait

    def acquire(self) -> float:
        """Block until a call is allowed; return the seconds waited.

        The token is reserved before sleeping (the bucket may go negative), so waiters queue
        fairly across processes instead of polling.
        """
        with self._thread_lock:
            if self.state_path is None:
                self._memory_state, wait = self._take(self._memory_state)
            else:
                wait = self._acquire_file()
        if wait > 0:
            log.debug("rate limit: waiting %.2fs", wait)
            self._sleep(wait)
        return wait

    def _acquire_file(self) -> float:
        assert self.state_path is not None
        # lazy: filelock loads in ~40 ms and only a shared state file needs it (`fdf --help` imports this module)
        from filelock import FileLock

        with FileLock(str(self.state_path) + ".lock"):
            _remove_stale_temporaries(self.state_path)
            state = read_state_file(self.state_path)
            if state is None:
                state = {"tokens": float(self.burst), "updated": self._clock()}
            state, wait = self._take(state)
            data = json.dumps({"kind": STATE_KIND, **state}).encode("ascii")
            atomic_write_bytes(self.state_path, data, fsync=False)
        return wait


def read_state_file(path: Path) -> dict | None:
    """The bucket stored at ``path`` (None: no file yet, or an empty one).

    Raises :class:`RateStateError` for anything else (a folder, a device, a FIFO, a large file,
    or a file whose content is not a bucket), so it is never overwritten.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise RateStateError(f"rate-limit state {path} is not a regular file; choose another --rate-state")
    if info.st_size == 0:
        return None
    refuse = RateStateError(
        f"{path} is not a rate-limit state file; it was left untouched "
        f"(choose another --rate-state, or delete it if it is a stale one)"
    )
    if info.st_size > _MAX_STATE_BYTES:
        raise refuse
    with open(path, "rb") as fh:
        text = fh.read(_MAX_STATE_BYTES + 1)
    try:
        state = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise refuse from None
    # {"tokens", "updated"} alone is what versions before the "kind" field wrote.
    if (
        not isinstance(state, dict)
        or set(state) - {"kind"} != {"tokens", "updated"}
        or state.get("kind", STATE_KIND) != STATE_KIND
    ):
        raise refuse
    try:
        return {"tokens": float(state["tokens"]), "updated": float(state["updated"])}
    except (TypeError, ValueError):
        raise refuse from None


def _remove_stale_temporaries(path: Path) -> None:
    """Temporaries of a process killed while replacing ``path`` (called under the lock)."""
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)
