"""A token bucket shared by every thread and process that uses one API key.

Flickr allows 3,600 calls per hour per key. The bucket's state lives in a small JSON file
guarded by an advisory lock, so however many workers or processes call Flickr with one key,
there is one owner of the budget. Capacity (``burst``) is taken out of the hourly budget, so
no 60-minute window can ever hold more than ``calls_per_hour`` calls.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


def default_state_path(api_key: str) -> Path:
    """Where the bucket for ``api_key`` lives: under $FDF_CACHE_DIR or ~/.cache/fdf."""
    base = Path(os.environ.get("FDF_CACHE_DIR") or Path.home() / ".cache" / "fdf")
    digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:16]  # never the key itself
    return base / "ratelimit" / f"{digest}.json"


class RateLimiter:
    """Cross-process token bucket: at most ``calls_per_hour`` calls in any hour.

    ``burst`` calls may go at once; the rest of the budget refills evenly over the hour.
    """

    def __init__(self, calls_per_hour: float = 3600, burst: int = 60, state_path: str | Path | None = None,
                 clock=time.time, sleep=time.sleep):
        if calls_per_hour <= 0:
            raise ValueError("calls_per_hour must be positive")
        self.calls_per_hour = float(calls_per_hour)
        self.burst = max(1, min(int(burst), int(calls_per_hour)))
        # Refill so that burst + refill over one hour never exceeds the hourly budget.
        self.rate = max(self.calls_per_hour - self.burst, 1.0) / 3600.0
        self.state_path = Path(state_path) if state_path else None
        self._clock = clock
        self._sleep = sleep
        self._thread_lock = threading.Lock()
        self._memory_state = {"tokens": float(self.burst), "updated": clock()}
        if self.state_path:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)

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
        fd = os.open(self.state_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with os.fdopen(os.dup(fd), "r+", encoding="utf-8") as fh:
                text = fh.read()
                try:
                    state = json.loads(text) if text.strip() else None
                    state = {"tokens": float(state["tokens"]), "updated": float(state["updated"])}
                except (ValueError, KeyError, TypeError):
                    state = None
                if state is None:
                    state = {"tokens": float(self.burst), "updated": self._clock()}
                state, wait = self._take(state)
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps(state))
                fh.flush()
            return wait
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
