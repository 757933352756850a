"""Decode and encode beside the anonymizer: a reader thread and a writer thread with bounded queues.

ffmpeg decodes and encodes in its own processes, but through pipes that hold less than one frame
(64 KiB against 0.9 MB for 640x480 RGB): without a thread on each end, the decoder waits while a
frame is detected and replaced, and the anonymizer waits while the encoder takes the frame. With
them, ffmpeg decodes the next frames and encodes the last ones while Python works on this one
(pipe reads and writes release the GIL). Queues are bounded, so memory stays a few frames.

Errors cross over: a reader's exception is raised where the next frame is taken, a writer's at
the next ``send`` or at ``close``, so a dead ffmpeg still fails the file (fail closed).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import numpy as np

#: frames decoded ahead, and rendered frames waiting for the encoder (each 0.9 MB at 640x480)
DEPTH = 4
_DONE = object()
_POLL_SECONDS = 0.1


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def prefetched(items: Iterable, depth: int = DEPTH) -> Iterator:
    """``items`` produced by a background thread, at most ``depth`` ahead; closing the iterator
    (or leaving the loop) stops the thread, which closes ``items`` (a generator) when it ends."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # in this thread, which ran it: a generator's cleanup (ffmpeg's) runs now

    thread = threading.Thread(target=produce, name="video-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()


class ThreadedWriter:
    """Wraps a primed imageio-ffmpeg writer (``send`` RGB frames, ``close``): frames go to the
    encoder from a background thread, at most ``depth`` waiting."""

    def __init__(self, writer, depth: int = DEPTH) -> None:
        self._writer = writer
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is _DONE:
                return
            if self._error is not None:
                continue  # drain, so a sender blocked on a full queue is released
            try:
                self._writer.send(frame)
            except BaseException as exc:  # noqa: BLE001 - raised in the sending thread
                self._error = exc

    def send(self, frame: np.ndarray) -> None:
        """Queue one RGB frame (copied: the caller may reuse its array)."""
        if self._error is not None:
            raise self._error
        self._queue.put(np.array(frame, copy=True, order="C"))

    def close(self) -> None:
        """Wait for the queued frames to be encoded, then close the encoder; raise what failed."""
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()
        try:
            self._writer.close()
        except BaseException:
            if self._error is None:
                raise
        if self._error is not None:
            raise self._error
