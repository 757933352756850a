"""Fetch one URL's bytes: timeouts, bounded retries with backoff, byte cap, robots header."""

from __future__ import annotations

import logging
import re
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ..http_body import BodyBroken, BodyTimeout, BodyTooLarge, BodyTruncated, read_body
from ..retry import backoff_delay as _backoff
from ..retry import retry_after_seconds
from .config import DownloadConfig

log = logging.getLogger(__name__)

# "noai" / "noimageai", alone or after a user-agent prefix ("otherbot: noai"), any case.
_NOAI = re.compile(r"(?<![a-z0-9])no(?:image)?ai(?![a-z0-9])", re.IGNORECASE)


@dataclass
class FetchResult:
    """Bytes of one URL, or why there are none. ``status`` is "ok" or a failure status."""

    status: str
    body: bytes = b""
    error: str = ""
    http_status: int | None = None
    attempts: int = 0
    headers: dict = field(default_factory=dict)


class _Retryable(Exception):
    """A failure worth another attempt; carries the status to report if attempts run out."""

    def __init__(self, status: str, error: str, http_status: int | None = None, wait: float | None = None):
        super().__init__(error)
        self.status, self.error, self.http_status, self.wait = status, error, http_status, wait


def make_session(config: DownloadConfig) -> requests.Session:
    """A session with keep-alive connections; retries are ours, not urllib3's."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=max(4, config.threads), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not urllib.request.getproxies():
        # Without proxy variables, requests' per-request look-up of proxies and .netrc is pure
        # overhead (about 0.5 ms a request); with them, keep requests' full handling.
        session.trust_env = False
    session.headers["User-Agent"] = config.user_agent
    # Images are already compressed; asking for identity keeps Content-Length comparable to the body.
    session.headers["Accept-Encoding"] = "identity"
    return session


def robots_disallows(headers) -> bool:
    """True if an ``X-Robots-Tag`` header forbids AI use (noai / noimageai)."""
    value = headers.get("X-Robots-Tag", "") if headers else ""
    return bool(_NOAI.search(value))


def backoff_delay(attempt: int, config: DownloadConfig) -> float:
    """This config's backoff before retry number ``attempt + 1``."""
    return _backoff(attempt, config.backoff, config.max_backoff)


def check_url(url: str | None) -> str:
    """Return "" if ``url`` is an http(s) URL with a host, else a reason it is not."""
    if not url or not isinstance(url, str):
        return "no download_url"
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http/https URLs are fetched, got scheme {parts.scheme!r}"
    if not parts.netloc:
        return "URL has no host"
    return ""


def fetch_url(session: requests.Session, url: str, config: DownloadConfig, hosts=None) -> FetchResult:
    """GET ``url`` with up to ``config.retries`` retries; never raises for network trouble.

    ``hosts``: a :class:`~fdf.download.hosts.HostLimits` each attempt waits on (None: no limit)."""
    reason = check_url(url)
    if reason:
        return FetchResult("bad_url", error=reason)
    attempt = 0
    while True:
        attempt += 1
        if hosts is not None:
            hosts.wait(url.strip())
        try:
            result = _fetch_once(session, url.strip(), config)
            result.attempts = attempt
            return result
        except _Retryable as exc:
            if attempt > config.retries:
                return FetchResult(exc.status, error=exc.error, http_status=exc.http_status, attempts=attempt)
            delay = backoff_delay(attempt - 1, config)
            if exc.wait is not None:
                # The server's Retry-After is honoured however long, up to the time one body may take;
                # a longer one ends the row now (a later --retry-failed asks again).
                if exc.wait > config.total_timeout:
                    return FetchResult(
                        exc.status,
                        error=f"{exc.error}; Retry-After {exc.wait:.0f} s is longer than "
                        f"total_timeout={config.total_timeout:g} s",
                        http_status=exc.http_status,
                        attempts=attempt,
                    )
                delay = max(delay, exc.wait)
            log.debug("retrying %s in %.2fs after %s", url, delay, exc.error)
            time.sleep(delay)


def _fetch_once(session: requests.Session, url: str, config: DownloadConfig) -> FetchResult:
    timeout = (config.connect_timeout, config.read_timeout)
    try:
        response = session.get(url, timeout=timeout, stream=True)
    except requests.exceptions.InvalidURL as exc:
        return FetchResult("bad_url", error=f"invalid URL: {exc}")
    except requests.exceptions.Timeout as exc:
        raise _Retryable("timeout", f"timed out connecting or waiting for headers: {exc}") from None
    except requests.exceptions.RequestException as exc:
        raise _Retryable("connection_error", f"{type(exc).__name__}: {exc}") from None
    with response:
        code = response.status_code
        if code == 429 or code >= 500:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            raise _Retryable(f"http_{code}", f"HTTP {code} {response.reason}", code, wait)
        if code >= 400 or code < 200:
            return FetchResult(f"http_{code}", error=f"HTTP {code} {response.reason}", http_status=code)
        if config.respect_robots and robots_disallows(response.headers):
            tag = response.headers.get("X-Robots-Tag")
            return FetchResult("robots_disallowed", error=f"X-Robots-Tag: {tag}", http_status=code)
        return _read_body(response, config)


def _read_body(response: requests.Response, config: DownloadConfig) -> FetchResult:
    code = response.status_code
    try:
        body = read_body(response, config.max_bytes, config.total_timeout, config.read_timeout)
    except BodyTooLarge as exc:
        return FetchResult("too_large", error=f"{exc} (max_bytes)", http_status=code)
    except BodyTruncated as exc:
        return FetchResult("truncated", error=str(exc), http_status=code)
    except BodyTimeout as exc:
        raise _Retryable("timeout", f"{exc} (total_timeout={config.total_timeout}s)") from None
    except BodyBroken as exc:
        raise _Retryable("connection_error", str(exc)) from None
    declared = response.headers.get("Content-Length")
    declared_n = int(declared) if declared and declared.isdigit() else None
    encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
    if declared_n is not None and not encoded and len(body) < declared_n:
        return FetchResult("truncated", error=f"got {len(body)} of {declared_n} bytes", http_status=code)
    return FetchResult("ok", body=body, http_status=code, headers=dict(response.headers))
