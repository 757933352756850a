"""Row-level progress from worker processes to the parent's tqdm bar over loopback UDP.

joblib only hands back a shard's result when the whole shard is done; a datagram per quarter
second per shard keeps the bar moving without pickling proxies or a manager process. Each
datagram carries the shard's cumulative count, so a lost one is corrected by the next.
"""

from __future__ import annotations

import socket
import threading
import time

from tqdm import tqdm


class ProgressListener:
    """Parent side: receives ``"<shard> <rows done>"`` datagrams and moves a tqdm bar."""

    def __init__(self, total: int, disable: bool = False):
        self.bar = tqdm(total=total, unit="img", desc="download", disable=disable, smoothing=0.1)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.address = self._sock.getsockname()
        self._done: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="fdf-download-progress", daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(64)
            except (TimeoutError, OSError):
                continue
            try:
                shard, rows = (int(x) for x in data.split())
            except ValueError:
                continue
            self._set(shard, rows)

    def _set(self, shard: int, rows: int) -> None:
        with self._lock:
            previous = self._done.get(shard, 0)
            if rows > previous:
                self._done[shard] = rows
                self.bar.update(rows - previous)

    def shard_finished(self, shard: int, rows: int) -> None:
        self._set(shard, rows)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self._sock.close()
        self.bar.close()


class ProgressReporter:
    """Worker side: counts rows of one shard and sends the count at most every ``interval`` s."""

    def __init__(self, address: tuple[str, int] | None, shard: int, interval: float = 0.25):
        self._address, self._shard, self._interval = address, shard, interval
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM) if address else None
        self._count = 0
        self._last = 0.0
        self._lock = threading.Lock()

    def add(self, n: int = 1) -> None:
        with self._lock:
            self._count += n
            now = time.monotonic()
            if self._sock is None or now - self._last < self._interval:
                return
            self._last = now
            message = f"{self._shard} {self._count}".encode("ascii")
        try:
            self._sock.sendto(message, self._address)
        except OSError:
            pass  # progress is best effort; the shard's result corrects the bar

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
