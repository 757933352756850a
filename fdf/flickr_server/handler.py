"""HTTP routing for the fake Flickr: the REST endpoint, static images, and /_admin/.

Routes:
  GET|POST /services/rest/                 Flickr REST API (see methods.py)
  GET /{server}/{id}_{secret}[_{sfx}].jpg  image bytes, like live.staticflickr.com
  GET /_admin/stats, /_admin/log           request counters / recent requests (JSON)
  GET /_admin/photo?photo_id=ID            the catalog record of one photo
  POST /_admin/{action}                    mutate the catalog or faults (see admin.ACTIONS)
"""

from __future__ import annotations

import json
import logging
import re
import socket
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from .admin import AdminError, run_admin_action
from .auth import check_key, parse_oauth_header
from .formats import FORMATS, render
from .images import image_bytes
from .methods import ApiError, call_method
from .sizes import SIZE_BY_SUFFIX

log = logging.getLogger(__name__)

IMAGE_PATH = re.compile(
    r"^/(?P<server>\w+)/(?P<id>\d+)_(?P<secret>[0-9a-f]+)(?:_(?P<sfx>[a-z0-9]))?\.(?P<ext>jpg|jpeg|png|gif)$"
)
REST_STATUS_TEXT = {"500": 500, "502": 502, "503": 503, "429": 429}
HTML_INSTEAD_OF_IMAGE = (
    b"<!DOCTYPE html><html><head><title>Flickr: photo unavailable</title></head>"
    b"<body><h1>This photo is no longer available</h1></body></html>"
)


class FlickrHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients' connection pools are exercised
    server_version = "FakeFlickr/1.0"

    # -- plumbing --------------------------------------------------------------------------
    @property
    def state(self):
        return self.server.state  # a server.ServerState

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json; charset=utf-8")

    def _read_body_params(self) -> list[tuple[str, str]]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if not raw:
            return []
        if "application/json" in ctype:
            data = json.loads(raw.decode("utf-8") or "{}")
            return [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in data.items()]
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)

    def _sleep(self, seconds: float) -> None:
        # Wake early when the server stops, so test teardown never waits for a slow fault.
        self.state.stopping.wait(seconds)

    # -- verbs -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        url = urlsplit(self.path)
        try:
            if url.path.rstrip("/") == "/services/rest":
                self._rest(url)
            elif url.path.startswith("/_admin/"):
                self._admin(url)
            elif IMAGE_PATH.match(url.path):
                self._image(IMAGE_PATH.match(url.path))
            else:
                self._send(404, b"Not Found", "text/plain")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- REST ------------------------------------------------------------------------------
    def _rest(self, url) -> None:
        query = parse_qsl(url.query, keep_blank_values=True)
        body = self._read_body_params() if self.command == "POST" else []
        pairs = query + body
        params = dict(pairs)
        method = params.get("method", "")
        fmt = params.get("format", "rest")
        nojsoncallback = params.get("nojsoncallback", "") == "1"
        faults = self.state.faults
        if faults.rest_delay > 0:
            self._sleep(faults.rest_delay)
        fault = self.state.injector.rest_fault()
        if fault in REST_STATUS_TEXT:
            status = REST_STATUS_TEXT[fault]
            self.state.stats.record("rest", method, status, fault)
            headers = {"Retry-After": faults.retry_after} if status == 429 else {}
            text = f"<html><body><h1>{status} {self.responses.get(status, ('',))[0]}</h1></body></html>"
            self._send(status, text.encode(), "text/html; charset=utf-8", headers)
            return
        try:
            if fmt not in FORMATS:
                raise ApiError(111, f'Format "{fmt}" not found')
            if fault == "105":
                raise ApiError(105, "Service currently unavailable")
            host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
            signed = (self.command, f"http://{host.lower()}{url.path}", pairs)
            check_key(
                self.state.api_keys,
                params,
                parse_oauth_header(self.headers.get("Authorization")),
                signed,
                self.state.verify_signatures,
            )
            payload = call_method(self.state.catalog, params, self.state.base_url)
        except ApiError as exc:
            payload = {"stat": "fail", "code": exc.code, "message": exc.message}
        self.state.stats.record("rest", method, 200, fault if fault == "105" else None)
        data, ctype = render(payload, fmt if fmt in FORMATS else "rest", nojsoncallback, params.get("jsoncallback"))
        self._send(200, data, ctype)

    # -- images ----------------------------------------------------------------------------
    def _image(self, m: re.Match) -> None:
        photo_id, suffix = m.group("id"), m.group("sfx") or ""
        photo = self.state.catalog.get(photo_id)
        size = SIZE_BY_SUFFIX.get(suffix)
        expected_secret = None
        if photo is not None and size is not None:
            expected_secret = photo.original_secret if size.long_edge is None else photo.secret
        if (
            photo is None
            or photo.deleted
            or size is None
            or m.group("secret") != expected_secret
            or m.group("server") != photo.server
        ):
            self.state.stats.record("image", photo_id, 404)
            self._send(404, b"Not Found", "text/plain")
            return
        found = image_bytes(photo, size)
        if found is None:
            self.state.stats.record("image", photo_id, 404)
            self._send(404, b"Not Found", "text/plain")
            return
        data, ctype = found
        fault = self.state.injector.image_fault(photo_id)
        self._serve_image(photo_id, data, ctype, fault)

    def _serve_image(self, photo_id: str, data: bytes, ctype: str, fault: str | None) -> None:
        faults = self.state.faults
        record = self.state.stats.record
        if fault == "404":
            record("image", photo_id, 404, fault)
            self._send(404, b"Not Found", "text/plain")
        elif fault in ("500", "500_once"):
            record("image", photo_id, 500, fault)
            self._send(500, b"Internal Server Error", "text/plain")
        elif fault == "html":
            record("image", photo_id, 200, fault)
            self._send(200, HTML_INSTEAD_OF_IMAGE, "text/html; charset=utf-8")
        elif fault == "noai":
            record("image", photo_id, 200, fault)
            self._send(200, data, ctype, {"X-Robots-Tag": "noai, noimageai"})
        elif fault == "slow":
            record("image", photo_id, 200, fault)
            self._sleep(faults.slow_delay)
            self._send(200, data, ctype)
        elif fault == "truncated":
            record("image", photo_id, 200, fault)
            self._send_truncated(data, ctype)
        elif fault == "big":
            record("image", photo_id, 200, fault)
            self._send_big(data, ctype, max(faults.big_bytes, len(data)))
        else:
            record("image", photo_id, 200)
            self._send(200, data, ctype, {"Cache-Control": "max-age=315360000"})

    def _send_truncated(self, data: bytes, ctype: str) -> None:
        # Promise every byte, send part of them, then hang up: what a dropped connection looks like.
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: int(len(data) * self.state.faults.truncate_at)])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _send_big(self, data: bytes, ctype: str, total: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        self.close_connection = True
        self.wfile.write(data)
        sent, chunk = len(data), b"\0" * 65536
        while sent < total and not self.state.stopping.is_set():
            part = chunk[: total - sent]
            self.wfile.write(part)  # a client that stops reading makes this raise BrokenPipe
            sent += len(part)

    # -- admin -----------------------------------------------------------------------------
    def _admin(self, url) -> None:
        action = url.path[len("/_admin/") :].strip("/")
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.command == "POST":
            try:
                params.update(self._read_body_params())
            except ValueError:
                self._send_json(400, {"ok": False, "error": "body must be JSON or a form"})
                return
        elif action not in ("stats", "log", "photo", "faults"):
            self._send_json(405, {"ok": False, "error": f"use POST for /_admin/{action}"})
            return
        try:
            result = run_admin_action(self.state, action, params)
        except AdminError as exc:
            self.state.stats.record("admin", action, exc.status)
            self._send_json(exc.status, {"ok": False, "error": str(exc)})
            return
        if action not in ("stats", "log"):
            self.state.stats.record("admin", action, 200)
        self._send_json(200, {"ok": True, **result})
