"""Request counters, so tests can assert retries, back-off and rate limits."""

from __future__ import annotations

import collections
import threading
import time


class RequestStats:
    """Thread-safe counts of REST calls (per method), image requests (per photo id), faults
    and HTTP statuses, plus a bounded log of recent requests."""

    def __init__(self, log_size: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._log_size = log_size
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._counters: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
            self._log: collections.deque[dict] = collections.deque(maxlen=self._log_size)

    def record(self, kind: str, name: str, status: int, fault: str | None = None) -> None:
        """Count one request. ``kind`` is "rest", "image" or "admin"; ``name`` the method or photo id."""
        with self._lock:
            self._counters[kind][name] += 1
            self._counters[f"{kind}_status"][str(status)] += 1
            if fault:
                self._counters[f"{kind}_faults"][fault] += 1
            self._log.append({"t": time.time(), "kind": kind, "name": name, "status": status, "fault": fault})

    def snapshot(self) -> dict:
        """Counters as plain dicts: rest, rest_total, rest_status, rest_faults, images, image_total, ..."""
        with self._lock:
            c = self._counters
            return {
                "rest": dict(c["rest"]),
                "rest_total": sum(c["rest"].values()),
                "rest_status": dict(c["rest_status"]),
                "rest_faults": dict(c["rest_faults"]),
                "images": dict(c["image"]),
                "image_total": sum(c["image"].values()),
                "image_status": dict(c["image_status"]),
                "image_faults": dict(c["image_faults"]),
                "admin": dict(c["admin"]),
            }

    def log(self) -> list[dict]:
        """Recent requests, oldest first: {"t", "kind", "name", "status", "fault"}."""
        with self._lock:
            return list(self._log)
