"""TEMPORARY image server for the downloader tests, until fdf.flickr_server lands; then deleted."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).parent / "data" / "download"
PHOTOS = sorted(DATA.glob("*.jpg"))


class TinyImageServer:
    def __init__(self, images: dict[str, Path], delay: float = 0.0):
        self.images = {k: Path(v).read_bytes() for k, v in images.items()}
        self.faults: dict[str, str] = {}
        self.delay = delay
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                pid = self.path.rsplit("/", 1)[-1].split(".")[0]
                outer.hits[pid] = outer.hits.get(pid, 0) + 1
                if outer.delay:
                    time.sleep(outer.delay)
                fault = outer.faults.get(pid)
                body = outer.images.get(pid)
                if body is None or fault == "404":
                    return self._send(404, b"not found", "text/plain")
                if fault == "500" or (fault == "500_once" and outer.hits[pid] == 1):
                    return self._send(500, b"oops", "text/plain")
                if fault == "429_once" and outer.hits[pid] == 1:
                    return self._send(429, b"slow down", "text/plain", {"Retry-After": "1"})
                if fault == "slow":
                    time.sleep(3)
                if fault == "html":
                    return self._send(200, b"<html><body>Photo unavailable</body></html>", "image/jpeg")
                if fault == "noai":
                    return self._send(200, body, "image/jpeg", {"X-Robots-Tag": "otherbot: NoImageAI"})
                if fault == "big":
                    body = body + b"\0" * (3 * 1024 * 1024)
                if fault == "truncated":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                return self._send(200, body, "image/jpeg")

            def _send(self, code, body, ctype, headers=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}"

    def image_url(self, photo_id, size="o"):
        return f"{self.base_url}/img/{photo_id}.jpg"

    def set_image_fault(self, photo_id, kind):
        self.faults[photo_id] = kind

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
