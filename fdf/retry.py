"""Retry timing shared by every HTTP client here: Retry-After parsing and jittered backoff."""

from __future__ import annotations

import email.utils
import random
import time


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header (delta seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: base x 2^attempt x uniform[0.5, 1.5), at most ``cap``.

    The jitter spreads the retries of many workers that failed at the same moment.
    """
    return min(cap, base * (2**attempt) * (0.5 + random.random()))
