"""A loopback HTTP server that misbehaves on purpose: drips bytes, never ends, sends odd JSON.

    with HostileServer(drip_body(b"x" * 100, per_second=1)) as srv:
        srv.url          # http://127.0.0.1:PORT/
        srv.requests     # how many requests arrived

A behaviour is a function ``(conn: socket.socket, request_line: str) -> None`` that writes the
whole answer itself; the server reads the request headers first (and a POST body, by
Content-Length) and closes the connection after the behaviour returns or fails.
"""

from __future__ import annotations

import json
import socket
import threading
import time


def _read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return ""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head.split(b"\r\n", 1)[0].decode("latin-1")


class HostileServer:
    """Serve every request with ``behaviour`` on a thread per connection."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.requests = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._stop = threading.Event()
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/"

    def __enter__(self) -> HostileServer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            line = _read_request(conn)
            if line:
                self.requests += 1
                self.behaviour(conn, line, self._stop)
        except OSError:
            pass
        finally:
            conn.close()


def drip_body(body: bytes, per_second: float = 1.0, content_type: str = "image/jpeg", chunked: bool = False):
    """Headers at once, then the body one byte at a time (``per_second`` bytes a second)."""

    def behaviour(conn, line, stop):
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
        head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {len(body)}\r\n"
        conn.sendall((head + "Connection: close\r\n\r\n").encode())
        for i in range(len(body)):
            if stop.is_set():
                return
            byte = body[i : i + 1]
            conn.sendall(b"1\r\n" + byte + b"\r\n" if chunked else byte)
            time.sleep(1.0 / per_second)
        if chunked:
            conn.sendall(b"0\r\n\r\n")

    return behaviour


def endless_body(
    content_type: str = "application/json",
    prefix: bytes = b'{"photos": {"photo": [',
    item: bytes = b'{"id": "1", "title": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},',
    chunked: bool = True,
):
    """A body that never ends: ``prefix``, then ``item`` forever, as fast as the reader takes it."""

    def behaviour(conn, line, stop):
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
        head += "Transfer-Encoding: chunked\r\n" if chunked else ""
        conn.sendall((head + "Connection: close\r\n\r\n").encode())
        block = prefix + item * 2000
        while not stop.is_set():
            conn.sendall(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)
            block = item * 2000

    return behaviour


def json_answer(payload, status: int = 200):
    """A complete JSON answer (any JSON value, or raw bytes)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()

    def behaviour(conn, line, stop):
        conn.sendall(
            f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )

    return behaviour
