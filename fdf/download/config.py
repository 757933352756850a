"""Settings for a download run, and the statuses a row can end with."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ConfigError

OK = "ok"
# Every row ends with exactly one status: "ok" or one of these failures (or "http_<code>").
FAILURE_STATUSES = (
    "timeout",
    "connection_error",
    "not_image",
    "truncated",
    "too_large",
    "robots_disallowed",
    "bad_url",
    "missing_file",
    "error",  # an unexpected exception; logged with its traceback
)


def is_transient(status: str) -> bool:
    """True for failures worth trying again later (``--retry-failed``)."""
    return status in ("timeout", "connection_error", "http_429") or (status.startswith("http_5") and len(status) == 8)


@dataclass
class DownloadConfig:
    """How to download a manifest.

    ``jobs`` processes (joblib/loky) each run ``threads`` I/O threads. Processes give parallel
    CPU for hashing and decoding (the GIL would serialise them in one process); threads keep
    many requests in flight per process cheaply while each waits on the network.
    """

    jobs: int = 4
    threads: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    # Wall-clock limit for one response body, so a server dripping bytes cannot hold a thread.
    total_timeout: float = 120.0
    retries: int = 3
    backoff: float = 0.5  # first retry waits about this long; doubles each time, plus jitter
    max_backoff: float = 30.0  # a server's Retry-After is honoured up to total_timeout instead
    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 100_000_000
    shard_size: int = 1000
    user_agent: str = "fdf-toolkit/0.1 (+https://github.com/; dataset rebuild)"
    respect_robots: bool = True
    retry_failed: bool = False
    host_rate: float = 0.0  # requests a second to any one host, all workers together (0: no limit)

    def __post_init__(self) -> None:
        checks = {
            "jobs": self.jobs >= 1,
            "threads": self.threads >= 1,
            "connect_timeout": self.connect_timeout > 0,
            "read_timeout": self.read_timeout > 0,
            "total_timeout": self.total_timeout > 0,
            "retries": self.retries >= 0,
            "backoff": self.backoff >= 0,
            "max_backoff": self.max_backoff >= 0,
            "max_bytes": self.max_bytes > 0,
            "max_pixels": self.max_pixels > 0,
            "shard_size": self.shard_size >= 1,
            "host_rate": self.host_rate >= 0,
        }
        bad = [name for name, fine in checks.items() if not fine]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ConfigError(f"invalid download settings: {values} (counts must be >= 1, times > 0)")

    def to_dict(self) -> dict:
        return asdict(self)
