"""A Flickr REST client: flickrapi underneath, plus rate limiting, retries and clear errors.

flickrapi turns every non-200 answer into a bare ``FlickrError`` and drops the headers, so the
client records each HTTP response with a session hook to see 429s, 5xxs and ``Retry-After``.
The API secret is only used to sign requests; it is redacted from anything we raise or log.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flickrapi
import requests

from ..errors import FdfError
from ..http_body import BodyTimeout, BodyTooLarge, BoundedSession
from ..retry import backoff_delay, retry_after_seconds
from .ratelimit import RateLimiter, default_state_path

log = logging.getLogger(__name__)

DEFAULT_REST_URL = flickrapi.FlickrAPI.REST_URL
# Flickr error codes worth retrying: 0 (internal), 10 (search temporarily unavailable),
# 105 (service currently unavailable), 201 (service unavailable, some endpoints).
RETRYABLE_CODES = {0, 10, 105, 201}
INVALID_KEY_CODES = {100}
AUTH_CODES = {95, 96, 97, 98, 99, 100}


class FlickrAuthError(FdfError):
    """The API key or signature was rejected: retrying cannot help."""


class FlickrApiError(FdfError):
    """Flickr answered a call with an error (``code`` is Flickr's error code)."""

    def __init__(self, message: str, code: int | None = None, method: str = ""):
        super().__init__(message)
        self.code = code
        self.method = method


class FlickrUnavailableError(FdfError):
    """The server stayed unreachable or overloaded after every retry."""


@dataclass
class FlickrConfig:
    """How to reach Flickr and how politely."""

    api_key: str = ""
    api_secret: str = field(default="", repr=False)
    api_url: str = DEFAULT_REST_URL
    calls_per_hour: float = 3600
    burst: int = 60
    rate_state: str | None = None  # None: a file per key under ~/.cache/fdf/ratelimit
    timeout: float = 30.0  # connect and per-read socket timeout
    total_timeout: float = 60.0  # longest one answer's body may take to arrive
    max_answer_bytes: int = 32 * 2**20  # a 500-photo page with every extra is about 1 MB
    max_retries: int = 8
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 3600.0  # a longer Retry-After gives up instead (Flickr's budget is hourly)

    @classmethod
    def from_env(cls, **overrides) -> FlickrConfig:
        """Key and secret from FLICKR_API_KEY / FLICKR_API_SECRET, endpoint from FLICKR_API_URL."""
        values = {
            "api_key": os.environ.get("FLICKR_API_KEY", ""),
            "api_secret": os.environ.get("FLICKR_API_SECRET", ""),
            "api_url": os.environ.get("FLICKR_API_URL") or DEFAULT_REST_URL,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class FlickrClient:
    """Call Flickr REST methods with a shared rate limit, retries with backoff, and redaction.

    >>> client = FlickrClient(FlickrConfig.from_env())
    >>> client.call("flickr.photos.licenses.getInfo")["licenses"]["license"][0]
    """

    def __init__(self, config: FlickrConfig, rate_limiter: RateLimiter | None = None, sleep=time.sleep):
        if not config.api_key:
            raise FlickrAuthError("no Flickr API key: set FLICKR_API_KEY (and FLICKR_API_SECRET)")
        if not config.api_url.startswith(("http://", "https://")):
            raise FdfError(f"Flickr API URL must be http(s)://..., got {config.api_url!r}")
        self.config = config
        self._sleep = sleep
        state = config.rate_state or default_state_path(config.api_key)
        self.rate_limiter = rate_limiter or RateLimiter(config.calls_per_hour, config.burst, state)
        self.calls = 0
        self.retries = 0
        self._api = self._make_api()

    def _make_api(self) -> flickrapi.FlickrAPI:
        api = flickrapi.FlickrAPI(
            self.config.api_key,
            self.config.api_secret or "-",
            format="parsed-json",
            store_token=False,
            cache=False,
            timeout=self.config.timeout,
        )
        api.REST_URL = self.config.api_url
        # flickrapi keeps one Session as a class attribute; give this client its own, with a hook
        # that keeps the last response so status codes and Retry-After survive flickrapi.
        # Answers are read within total_timeout and max_answer_bytes (an endless or dripping answer
        # would otherwise hold the search, or its memory, for as long as the server likes).
        session = BoundedSession(self.config.max_answer_bytes, self.config.total_timeout, self.config.timeout)
        session.hooks["response"].append(self._remember_response)
        api.flickr_oauth.session = session
        self._last_response: requests.Response | None = None
        return api

    def _remember_response(self, response: requests.Response, *args, **kwargs):
        self._last_response = response
        return response

    def redact(self, text: str) -> str:
        """``text`` with the API secret replaced, for anything that reaches a log or an error."""
        secret = self.config.api_secret
        return text.replace(secret, "***") if secret and len(secret) >= 3 else text

    def call(self, method: str, **params: Any) -> dict:
        """Call ``method`` (e.g. 'flickr.photos.search') and return the parsed JSON answer.

        Retries 429/5xx answers, timeouts, connection errors and Flickr's 'service unavailable'
        codes with exponential backoff (honouring Retry-After); raises FlickrAuthError at once
        for a rejected key and FlickrApiError for other Flickr errors.
        """
        params = {k: v for k, v in params.items() if v is not None}
        bound = functools.reduce(getattr, method.split(".")[1:], self._api)
        attempt = 0
        while True:
            self.rate_limiter.acquire()
            self.calls += 1
            self._last_response = None
            try:
                answer = bound(**params)
                if not isinstance(answer, dict):
                    raise TypeError(f"the answer is a JSON {type(answer).__name__}, not an object")
                return answer
            except flickrapi.FlickrError as exc:
                retry_in = self._classify_flickr_error(method, exc, attempt)
            except BodyTooLarge as exc:
                raise FlickrApiError(
                    self.redact(f"{method}: answer from {self.config.api_url} refused: {exc}"), method=method
                ) from None
            except requests.RequestException as exc:  # timeouts, refused or broken connections, bad chunks
                retry_in = self._backoff(attempt)
                reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, BodyTimeout) else type(exc).__name__
                # A refused connection is more often a wrong URL than a blip, and a server that answers
                # but drips or breaks its answers is unlikely to mend in a minute: give up sooner.
                slow_start = isinstance(exc, requests.Timeout) and not isinstance(exc, BodyTimeout)
                limit = self.config.max_retries if slow_start else min(self.config.max_retries, 3)
                if attempt >= limit:
                    what = "no whole answer from" if isinstance(exc, BodyTimeout) else "cannot reach"
                    raise FlickrUnavailableError(
                        self.redact(f"{method}: {what} {self.config.api_url} ({reason}) after {attempt + 1} attempts")
                    ) from None
                log.warning("%s: %s, retrying in %.1fs", method, reason, retry_in)
            except (ValueError, AttributeError, KeyError, TypeError, RecursionError) as exc:
                # not JSON (a proxy's error page, a wrong URL), or JSON flickrapi cannot read: a
                # list, a failure without a code, nesting deeper than the parser's stack
                raise FlickrApiError(
                    self.redact(
                        f"{method}: {self.config.api_url} did not answer with Flickr JSON "
                        f"({type(exc).__name__}: {str(exc)[:200]})"
                    ),
                    method=method,
                ) from None
            attempt += 1
            self.retries += 1
            self._sleep(retry_in)

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.config.backoff_base, self.config.backoff_max)

    def _classify_flickr_error(self, method: str, exc: flickrapi.FlickrError, attempt: int) -> float:
        """Return seconds to wait before retrying ``exc``, or raise if it should not be retried."""
        response = self._last_response
        status = response.status_code if response is not None else 200
        code = getattr(exc, "code", None)
        if status == 200 and code in AUTH_CODES:
            hint = "check FLICKR_API_KEY" if code in INVALID_KEY_CODES else "check FLICKR_API_SECRET"
            raise FlickrAuthError(
                self.redact(f"Flickr rejected the credentials for {method} (code {code}: {exc}); {hint}")
            ) from None
        transient = status == 429 or status >= 500 or (status == 200 and code in RETRYABLE_CODES)
        if not transient:
            if status != 200:
                raise FlickrApiError(
                    self.redact(f"{method}: HTTP {status} from {self.config.api_url}"), code=code, method=method
                ) from None
            raise FlickrApiError(
                self.redact(f"{method}: Flickr error {code}: {exc}"), code=code, method=method
            ) from None
        if attempt >= self.config.max_retries:
            raise FlickrUnavailableError(
                self.redact(f"{method}: still failing after {attempt + 1} attempts (last: HTTP {status}, code {code})")
            ) from None
        header = response.headers.get("Retry-After") if response is not None else None
        wait = retry_after_seconds(header)
        if wait is None:
            wait = self._backoff(attempt)
        elif wait > self.config.max_retry_after:
            raise FlickrUnavailableError(
                self.redact(
                    f"{method}: HTTP {status} with Retry-After {wait:.0f} s, longer than max_retry_after="
                    f"{self.config.max_retry_after:g} s; try again later"
                )
            ) from None
        # Our own backoff is capped; the server's Retry-After is honoured as it is.
        log.warning(
            "%s: %s, retrying in %.1fs (attempt %d/%d)",
            method,
            f"HTTP {status}" if status != 200 else f"Flickr error {code}",
            wait,
            attempt + 1,
            self.config.max_retries,
        )
        return wait


def client_from_args(
    api_url: str | None = None, calls_per_hour: float | None = None, rate_state: str | Path | None = None, **overrides
) -> FlickrClient:
    """Build a client from the environment plus CLI overrides (used by every CLI command)."""
    config = FlickrConfig.from_env(
        api_url=api_url, calls_per_hour=calls_per_hour, rate_state=str(rate_state) if rate_state else None, **overrides
    )
    return FlickrClient(config)
