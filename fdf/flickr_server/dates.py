"""Flickr's date formats: unix seconds, and MySQL datetimes ('YYYY-MM-DD[ HH:MM:SS]')."""

from __future__ import annotations

import datetime as dt

_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y-%m-%dT%H:%M:%S")


def parse_mysql_datetime(text: str) -> dt.datetime:
    """Parse 'YYYY-MM-DD[ HH:MM[:SS]]' into a naive datetime; ValueError if it is neither."""
    text = str(text).strip()
    for fmt in _FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r} (use unix seconds or 'YYYY-MM-DD HH:MM:SS')")


def to_unix(value: str | int | float | dt.datetime | dt.date) -> int:
    """Unix seconds from unix seconds or a datetime string/object read as UTC (as Flickr reads upload dates)."""
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, dt.date):
        when = dt.datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        when = parse_mysql_datetime(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp())


def to_mysql(value: str | int | float | dt.datetime) -> str:
    """'YYYY-MM-DD HH:MM:SS' for a taken date given as unix seconds (UTC) or a datetime string."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()):
        when = dt.datetime.fromtimestamp(int(value), dt.timezone.utc).replace(tzinfo=None)
    elif isinstance(value, dt.datetime):
        when = value.replace(tzinfo=None)
    else:
        when = parse_mysql_datetime(value)
    return when.strftime("%Y-%m-%d %H:%M:%S")
