"""Live video: anonymize an ffmpeg input (a camera, an RTSP or HTTP stream, a named pipe, standard
input, a lavfi source) into a file or an ffmpeg output URL as frames arrive, with bounded latency.

    from anonymizer.video.live import LiveConfig, anonymize_live
    anonymize_live("rtsp://cam/stream", "out.mp4", anonymizer, VideoConfig(lookahead=0), LiveConfig())

The input is decoded by the bundled ffmpeg in its own process; a reader thread takes its frames
and hands them on through a queue of ``LiveConfig.max_queue`` frames: when the anonymizer falls
behind a live source, the oldest waiting frames are dropped (and counted) rather than letting the
delay grow. Each frame's latency is measured from its arrival to its hand-off to the encoder.
The detection schedule, tracker, look-ahead buffer and per-track identity check are the file
path's (anonymizer.video.stream); the check of the encoded file is not, since a stream cannot be
read back: in gan mode every frame is judged before encoding only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from anonymizer.inference.image import ImageAnonymizer
from fdf.errors import FdfError

from .carry import face_carrier
from .config import VideoConfig
from .result import VideoResult
from .stream import DetectionSchedule, TrackedFrames, emit_frame, identity_checks
from .tracker import FaceTracker

log = logging.getLogger(__name__)


class LiveError(FdfError):
    """The live input or output could not be opened, or failed while running."""


@dataclass
class LiveConfig:
    """``input_format``/``output_format``: ffmpeg's ``-f`` for the input (e.g. v4l2, lavfi) and
    the output (e.g. mpegts for udp://); ``realtime``: read a file or lavfi source at its own frame
    rate (ffmpeg's ``-re``), as a camera delivers; ``max_frames``: stop after this many;
    ``max_queue``: frames waiting for the anonymizer before the oldest is dropped (None: never
    drop: the reader waits, as a file needs; "auto": :data:`LIVE_QUEUE` for a live source, see
    :func:`is_live_source`, else None); ``fps``: output rate when the input names none;
    ``preview``: show each anonymized frame in a window (needs a display)."""

    input_format: str | None = None
    output_format: str | None = None
    realtime: bool = False
    max_frames: int | None = None
    max_queue: int | str | None = "auto"
    fps: float | None = None
    preview: bool = False

    def __post_init__(self) -> None:
        if self.max_frames is not None and self.max_frames < 1:
            raise LiveError(f"max_frames must be >= 1, got {self.max_frames}")
        if (
            self.max_queue != "auto"
            and self.max_queue is not None
            and (not isinstance(self.max_queue, int) or self.max_queue < 1)
        ):
            raise LiveError(f"max_queue must be >= 1, None (never drop) or 'auto', got {self.max_queue!r}")
        if self.fps is not None and not 0 < self.fps <= 1000:
            raise LiveError(f"fps must be between 0 and 1000, got {self.fps}")


@dataclass
class LiveResult:
    """Frames read, written and dropped, the output rate, and the latency per frame (ms)."""

    input: str
    output: str
    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    seconds: float = 0.0
    latency_ms: dict = field(default_factory=dict)  # p50, p95, max
    video: dict = field(default_factory=dict)  # VideoResult counts

    def to_dict(self) -> dict:
        return asdict(self)


class _Reader(threading.Thread):
    """Reads frames from ffmpeg into a bounded queue; the newest frames win when it is full."""

    def __init__(self, frames, max_queue: int | None, max_frames: int | None) -> None:
        super().__init__(daemon=True, name="live-reader")
        self.frames, self.max_queue, self.max_frames = frames, max_queue, max_frames
        self.queue: deque = deque()
        self.cond = threading.Condition()
        self.done = False
        self.error: BaseException | None = None
        self.read = self.dropped = 0
        self.stop_requested = False

    def run(self) -> None:
        try:
            for raw in self.frames:
                arrived = time.perf_counter()
                with self.cond:
                    if self.max_queue is None:
                        while len(self.queue) >= LIVE_QUEUE and not self.stop_requested:  # back-pressure, no drops
                            self.cond.wait(0.1)
                    elif len(self.queue) >= self.max_queue:
                        self.queue.popleft()
                        self.dropped += 1
                    if self.stop_requested:
                        break
                    self.queue.append((raw, arrived))
                    self.read += 1
                    self.cond.notify_all()
                if self.max_frames is not None and self.read >= self.max_frames:
                    break
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            self.error = exc
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def next(self):
        """The next (raw frame, arrival time), or None at the end."""
        with self.cond:
            while not self.queue and not self.done:
                self.cond.wait(0.1)
            if self.queue:
                item = self.queue.popleft()
                self.cond.notify_all()
                return item
            return None

    def stop(self) -> None:
        with self.cond:
            self.stop_requested = True
            self.cond.notify_all()


#: ffmpeg input formats of capture devices and URL schemes of network streams: sources that do not
#: wait for their reader, so a slow anonymizer drops frames instead of falling behind.
LIVE_FORMATS = {
    "v4l2",
    "video4linux2",
    "dshow",
    "avfoundation",
    "x11grab",
    "gdigrab",
    "kmsgrab",
    "decklink",
    "alsa",
    "pulse",
}
LIVE_SCHEMES = ("rtsp:", "rtsps:", "rtp:", "udp:", "srt:", "rtmp:", "rtmps:", "http:", "https:", "tcp:")
#: Frames that may wait for the anonymizer when the source is live (LiveConfig.max_queue "auto").
LIVE_QUEUE = 4


def is_live_source(url: str, input_format: str | None, realtime: bool) -> bool:
    """True for a capture device, a network stream, or a source read with ``-re`` (a pipe or
    standard input waits for its reader, like a file)."""
    return (
        realtime
        or (input_format or "").lower() in LIVE_FORMATS
        or url.lower().startswith(LIVE_SCHEMES)
        or url.startswith("/dev/video")
    )


@contextlib.contextmanager
def _stdin_fifo():
    """A named pipe fed from this process's standard input (ffmpeg, in its own process, cannot
    read our stdin: imageio-ffmpeg gives it a pipe of its own)."""
    folder = tempfile.mkdtemp(prefix="fdf-stdin-")
    fifo = Path(folder) / "stdin"
    os.mkfifo(fifo)

    def pump() -> None:

        with open(fifo, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 16)

    thread = threading.Thread(target=pump, daemon=True, name="live-stdin")
    thread.start()
    try:
        yield str(fifo)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _reason(exc: BaseException) -> str:
    """ffmpeg's own reason from an imageio-ffmpeg error (which carries ffmpeg's whole banner)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    said = [ln for ln in lines if any(w in ln.lower() for w in ("error", "failed", "refused", "no such", "invalid"))]
    return "; ".join(dict.fromkeys(said[-2:])) if said else (lines[0] if lines else type(exc).__name__)


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    v = np.asarray(values) * 1000.0
    return {
        "p50": round(float(np.percentile(v, 50)), 1),
        "p95": round(float(np.percentile(v, 95)), 1),
        "max": round(float(v.max()), 1),
    }


class _LatencyWriter:
    """Hands frames to the encoder and notes, per frame, the time since it arrived."""

    def __init__(self, writer, arrivals: deque, latencies: list, preview: bool) -> None:
        self.writer, self.arrivals, self.latencies, self.preview = writer, arrivals, latencies, preview

    def send(self, frame: np.ndarray) -> None:
        self.writer.send(frame)
        self.latencies.append(time.perf_counter() - self.arrivals.popleft())
        if self.preview:
            cv2.imshow("fdf anonymize (live)", frame[:, :, ::-1])
            cv2.waitKey(1)


def anonymize_live(
    url: str, out: str, anonymizer: ImageAnonymizer, config: VideoConfig | None = None, live: LiveConfig | None = None
) -> LiveResult:
    """Anonymize ffmpeg input ``url`` ("-" for standard input) into ``out`` (a file or an ffmpeg
    output URL) as frames arrive; see the module doc. Returns counts and latencies."""
    config = config or VideoConfig()
    live = live or LiveConfig()
    result = LiveResult(url, out)
    if "://" not in out and not Path(out).resolve().parent.is_dir():
        raise LiveError(f"the output's folder does not exist: {Path(out).parent}")
    anonymizer.warm_up()  # before the input opens: a live source does not wait for the models
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(_stdin_fifo()) if url == "-" else url
        params = (["-re"] if live.realtime else []) + (["-f", live.input_format] if live.input_format else [])
        try:
            frames = imageio_ffmpeg.read_frames(source, pix_fmt="rgb24", input_params=params)
            meta = frames.__next__()
        except (OSError, RuntimeError, StopIteration) as exc:
            raise LiveError(f"cannot open the input {url}: {_reason(exc)}") from None
        stack.callback(frames.close)
        width, height = meta["size"]
        fps = live.fps or meta.get("fps") or 25.0
        queue = live.max_queue
        if queue == "auto":
            queue = LIVE_QUEUE if is_live_source(url, live.input_format, live.realtime) else None
        reader = _Reader(frames, queue, live.max_frames)
        stats = VideoResult(0, 0, 0, 0)
        buffer = TrackedFrames(config.lookahead, FaceTracker(config.tracker), config.detect_every, config.smooth_frames)
        schedule = DetectionSchedule(anonymizer, config, stats)
        checks = identity_checks(anonymizer, config)
        carrier = face_carrier(anonymizer, config)
        if checks is not None:
            log.info(
                "live output: gan mode judges each track's key frames before encoding; the encoded "
                "stream itself cannot be read back and judged"
            )
        output_params = ["-f", live.output_format] if live.output_format else []
        if config.codec == "libx264":
            output_params += ["-preset", "veryfast", "-tune", "zerolatency", "-crf", str(config.crf)]
        try:
            writer = imageio_ffmpeg.write_frames(
                out,
                (width, height),
                fps=fps,
                codec=config.codec,
                quality=None,
                macro_block_size=1,
                output_params=output_params,
            )
            writer.send(None)
        except (OSError, RuntimeError) as exc:
            raise LiveError(f"cannot open the output {out}: {_reason(exc)}") from None
        arrivals: deque = deque()
        latencies: list[float] = []
        sink = _LatencyWriter(writer, arrivals, latencies, live.preview)
        started = time.perf_counter()
        reader.start()
        index = 0
        try:
            while (item := reader.next()) is not None:
                raw, arrived = item
                arrivals.append(arrived)
                frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
                for slot in buffer.push(index, frame, schedule.faces(index, frame)):
                    emit_frame(slot, anonymizer=anonymizer, writer=sink, stats=stats, checks=checks, carrier=carrier)
                index += 1
            for slot in buffer.flush():
                emit_frame(slot, anonymizer=anonymizer, writer=sink, stats=stats, checks=checks, carrier=carrier)
        except (OSError, RuntimeError) as exc:
            raise LiveError(f"{url} -> {out}: {_reason(exc)}") from None
        finally:
            reader.stop()
            try:
                writer.close()
            except (OSError, RuntimeError) as exc:
                raise LiveError(f"the output {out} failed: {_reason(exc)}") from None
            reader.join(timeout=5)
        if reader.error is not None and not isinstance(reader.error, StopIteration):
            raise LiveError(f"reading {url} failed: {reader.error}")
    if checks is not None:
        stats.checked, stats.drawn_unchecked = checks.checked, checks.drawn_unchecked
    stats.tracks = buffer.tracker.track_count
    result.frames_in, result.frames_out, result.frames_dropped = reader.read, stats.frames, reader.dropped
    result.seconds = round(time.perf_counter() - started, 3)
    result.latency_ms = _percentiles(latencies)
    result.video = asdict(stats)
    log.info(
        "%s -> %s: %d frames in, %d out, %d dropped; latency p50 %s ms, p95 %s ms",
        url,
        out,
        result.frames_in,
        result.frames_out,
        result.frames_dropped,
        result.latency_ms.get("p50"),
        result.latency_ms.get("p95"),
    )
    return result
