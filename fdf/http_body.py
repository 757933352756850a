"""Read an HTTP answer's body within a wall-clock deadline and a byte cap.

A socket read timeout bounds the wait for each packet, not for the body: a server dripping one
byte a second never trips it. So the body is read with ``read1`` (whatever has arrived, at most
``CHUNK`` bytes), the deadline is checked after every read, and before each read the socket's
timeout is lowered to the time left. Bytes beyond ``max_bytes`` are never read.

:class:`BoundedSession` applies this to every answer of a ``requests.Session`` (flickrapi
reads JSON answers with a plain ``session.post``), turning a slow body into a
``requests.Timeout``, a broken one into a ``requests.ConnectionError`` and an endless one into
:class:`BodyTooLarge`.
"""

from __future__ import annotations

import time

import requests
from urllib3.exceptions import HTTPError, IncompleteRead, ProtocolError, ReadTimeoutError

CHUNK = 64 * 1024


class BodyTimeout(requests.exceptions.ReadTimeout):
    """The body did not arrive in full before the deadline."""


class BodyTooLarge(requests.exceptions.RequestException):
    """The body is longer than the cap."""


class BodyTruncated(requests.exceptions.ConnectionError):
    """The connection closed before the length the server announced."""


class BodyBroken(requests.exceptions.ConnectionError):
    """The connection failed while reading the body."""


def _socket(raw):
    """The socket under a urllib3 response, or None (then only the per-read deadline check holds)."""
    conn = getattr(raw, "_connection", None) or getattr(raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:  # the connection was already released: the socket behind http.client's reader
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def read_body(
    response: requests.Response, max_bytes: int, total_timeout: float, read_timeout: float, chunk: int = CHUNK
) -> bytes:
    """The whole (decoded) body of a ``stream=True`` response; raises BodyTimeout, BodyTooLarge,
    BodyTruncated or BodyBroken. ``total_timeout`` counts from this call."""
    deadline = time.monotonic() + total_timeout
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge(f"Content-Length {declared} exceeds the cap of {max_bytes} bytes")
    raw = response.raw
    sock = _socket(raw)
    read = raw.read1 if hasattr(raw, "read1") else raw.read  # urllib3 < 2.2 has no read1
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BodyTimeout(f"body not complete after {total_timeout:g}s ({size} bytes so far)")
            if sock is not None and sock.fileno() != -1:  # closed once a Connection: close body is read
                sock.settimeout(max(0.01, min(read_timeout, left)))
            data = read(min(chunk, max_bytes + 1 - size), decode_content=True)
            if not data:
                break
            chunks.append(data)
            size += len(data)
            if size > max_bytes:
                raise BodyTooLarge(f"body exceeds the cap of {max_bytes} bytes")
    except requests.RequestException:  # ours, from inside the loop (requests' errors are OSErrors)
        raise
    except (ReadTimeoutError, TimeoutError) as exc:
        if deadline - time.monotonic() <= 0.01:
            raise BodyTimeout(f"body not complete after {total_timeout:g}s ({size} bytes so far)") from None
        raise BodyTimeout(f"read timed out after {size} bytes: {exc}") from None
    except (ProtocolError, IncompleteRead) as exc:
        # urllib3 enforces Content-Length: a body that ends early is truncated; a reset is not.
        if isinstance(exc, IncompleteRead) or any(isinstance(a, IncompleteRead) for a in exc.args):
            raise BodyTruncated(f"body cut short after {size} bytes: {exc}") from None
        raise BodyBroken(f"connection broken after {size} bytes: {exc}") from None
    except (OSError, HTTPError) as exc:
        raise BodyBroken(f"{type(exc).__name__} while reading body: {exc}") from None
    return b"".join(chunks)


class BoundedSession(requests.Session):
    """A Session whose non-streamed answers are read by :func:`read_body` (deadline and cap).

    ``total_timeout`` counts from the first byte of the body; connecting and the headers are
    bounded by the request's own ``timeout``.
    """

    def __init__(self, max_bytes: int, total_timeout: float, read_timeout: float):
        super().__init__()
        self.max_bytes, self.total_timeout, self.read_timeout = max_bytes, total_timeout, read_timeout

    def request(self, method, url, *args, stream=False, **kwargs):
        response = super().request(method, url, *args, stream=True, **kwargs)
        if stream:
            return response
        try:
            response._content = read_body(response, self.max_bytes, self.total_timeout, self.read_timeout)
        except requests.RequestException as exc:
            exc.response, exc.request = response, response.request
            raise
        finally:
            response.close()
        response._content_consumed = True
        return response
