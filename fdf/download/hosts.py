"""A request budget per host, shared by every worker process and thread of a download run.

``DownloadConfig.host_rate`` (requests a second to one host; 0: none) keeps a run from hammering
one server however many ``--jobs`` and ``--threads`` it has (img2dataset#62). Each host has a
token bucket (:class:`fdf.flickr.ratelimit.RateLimiter`) in ``DIR/_state/hosts/``, named by a hash
of the host name, so the processes of one run share it and a resumed run continues it.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from urllib.parse import urlsplit

from ..flickr.ratelimit import RateLimiter

HOSTS_DIR = "hosts"


class HostLimits:
    """Wait for a host's turn before each request (one bucket per host, made on first use)."""

    def __init__(self, state_dir: str | Path, per_second: float, burst: int = 1):
        self.state_dir = Path(state_dir) / HOSTS_DIR
        self.per_second = float(per_second)
        self.burst = burst
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def wait(self, url: str) -> float:
        """Block until ``url``'s host may be asked again; return the seconds waited."""
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            limiter = self._limiters.get(host)
            if limiter is None:
                name = hashlib.sha256(host.encode("utf-8")).hexdigest()[:24]  # any host name, a safe file name
                limiter = RateLimiter(self.per_second * 3600, self.burst, self.state_dir / f"{name}.json")
                self._limiters[host] = limiter
        return limiter.acquire()
