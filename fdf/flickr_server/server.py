"""FlickrServer: a real HTTP server on 127.0.0.1 that speaks enough of Flickr's API for
``flickrapi`` and ``requests`` clients to work against it unchanged."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer

from ..errors import FdfError
from .catalog import Catalog, CatalogError
from .demo_photos import demo_catalog
from .faults import IMAGE_FAULT_KINDS, FaultConfigError, FaultInjector, Faults
from .handler import FlickrHandler
from .sizes import SIZE_BY_SUFFIX, image_path
from .stats import RequestStats

log = logging.getLogger(__name__)


class ServerError(FdfError):
    """The server cannot start (for example, the port is taken)."""


@dataclass
class ServerState:
    """Everything request handlers share; one per server."""

    catalog: Catalog
    faults: Faults
    api_keys: dict[str, str] | None
    verify_signatures: bool
    base_url: str = ""
    stats: RequestStats = field(default_factory=RequestStats)
    stopping: threading.Event = field(default_factory=threading.Event)
    injector: FaultInjector = field(init=False)

    def __post_init__(self) -> None:
        self.injector = FaultInjector(self.faults)

    def set_image_fault(self, photo_id: str, kind: str | None) -> None:
        if kind is None or kind == "none":
            self.faults.image_faults.pop(str(photo_id), None)
            return
        if kind not in IMAGE_FAULT_KINDS:
            raise FaultConfigError(f"unknown image fault {kind!r}; choose from {', '.join(IMAGE_FAULT_KINDS)}")
        self.faults.image_faults[str(photo_id)] = kind


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class FlickrServer:
    """A fake Flickr on ``host:port`` (port 0: any free port), served from a background thread.

    ``api_keys`` maps valid keys to their secrets (None accepts any key); with
    ``verify_signatures`` flickrapi's OAuth1 HMAC-SHA1 signatures are checked (error 96).
    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        api_keys: dict[str, str] | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verify_signatures: bool = True,
    ) -> None:
        self.catalog = catalog if catalog is not None else demo_catalog()
        self.faults = faults if faults is not None else Faults()
        self.state = ServerState(
            self.catalog, self.faults, dict(api_keys) if api_keys is not None else None, verify_signatures
        )
        self._host, self._port = host, port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> FlickrServer:
        """Bind the socket and serve from a daemon thread; returns self."""
        if self._httpd is not None:
            return self
        self._bind()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"fake-flickr-{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("fake Flickr serving %s (%d photos)", self.rest_url, len(self.catalog))
        return self

    def _bind(self) -> None:
        try:
            self._httpd = _HTTPServer((self._host, self._port), FlickrHandler)
        except OSError as exc:
            raise ServerError(f"cannot listen on {self._host}:{self._port}: {exc.strerror}") from None
        self._httpd.state = self.state
        host, port = self._httpd.server_address[:2]
        self.state.base_url = f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (from another thread) or KeyboardInterrupt."""
        if self._httpd is None:
            self._bind()
        try:
            self._httpd.serve_forever(poll_interval=0.2)
        finally:
            self._close()

    def stop(self) -> None:
        """Stop serving and close the socket; waiting handlers (slow faults) wake up and end."""
        if self._httpd is None:
            return
        self.state.stopping.set()
        self._httpd.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close()

    def _close(self) -> None:
        if self._httpd is not None:
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FlickrServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, where images are served."""
        self.port  # noqa: B018 - raises if not started
        return self.state.base_url

    @property
    def rest_url(self) -> str:
        """The REST endpoint, to set as ``flickrapi.FlickrAPI.REST_URL``."""
        return f"{self.base_url}/services/rest/"

    def image_url(self, photo_id: str, size: str = "o") -> str:
        """URL of ``photo_id`` at a size suffix ("o", "b", "c", "z", "" for Medium 500, ...)."""
        photo = self.catalog[str(photo_id)]
        if size not in SIZE_BY_SUFFIX:
            raise CatalogError(f"unknown size suffix {size!r}; known: {', '.join(sorted(SIZE_BY_SUFFIX))}")
        return self.base_url + image_path(photo, SIZE_BY_SUFFIX[size])

    # -- test controls ---------------------------------------------------------------------
    def set_image_fault(self, photo_id: str, kind: str | None) -> None:
        """Make image requests for ``photo_id`` fail with ``kind`` (None clears it)."""
        self.state.set_image_fault(photo_id, kind)

    def stats(self) -> dict:
        """Request counters: see :meth:`RequestStats.snapshot`."""
        return self.state.stats.snapshot()

    def request_log(self) -> list[dict]:
        return self.state.stats.log()

    def reset_stats(self) -> None:
        self.state.stats.reset()
