"""Anonymize a video frame by frame, streaming through the bundled ffmpeg in bounded memory.

Frames are decoded one at a time, detected, tracked, and held in a short look-ahead buffer
(``lookahead`` frames) before they are rendered and encoded, so that

* a face missed for a few frames and found again gets boxes interpolated between its two
  detections (on top of the held box), and
* a face first detected at frame t is also anonymized in the buffered frames before t, where
  the detector may have missed it as it appeared.

Memory is the buffer plus one frame in flight. The original audio stream is muxed back (copied
when the container accepts it); the frame rate is kept; container metadata is dropped. Output
is written to a temporary name and renamed only when ffmpeg finished cleanly: a failure
anywhere leaves no output (fail closed).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from tqdm import tqdm

from anonymizer.inference.detect import FaceBox
from anonymizer.inference.image import ImageAnonymizer
from fdf.atomic import atomic_path
from fdf.errors import FdfError

from .probe import VideoReadError, probe_video
from .tracker import FaceTracker, TrackerConfig

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv")
#: Output containers: their ffmpeg muxer and the audio codecs it can take as they are.
CONTAINERS = {
    ".mp4": ("mp4", {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    ".mov": ("mov", {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"}),
    ".mkv": ("matroska", None),  # Matroska takes any audio codec
}
#: Seeds of video tracks start here, apart from the photo seeds 0, 1, 2, ...
TRACK_SEED_BASE = 1_000_003


class VideoConfigError(FdfError):
    """A video option is out of range."""


@dataclass
class VideoConfig:
    """Encoding and tracking options.

    ``codec``: ffmpeg video encoder (libx264 default). ``crf``: quality for x264/x265/VP9
    (lower = better, 18 is visually lossless). ``preset``: x264 speed preset. ``lookahead``:
    frames buffered for interpolation and back-filling. ``keep_audio``: mux the input's audio
    back. ``tracker``: hold/match options. ``upscale_small_frames``: also detect small frames at
    twice their size, as photos are (off: about 4x the detection work per frame).
    """

    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    lookahead: int = 8
    keep_audio: bool = True
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    upscale_small_frames: bool = False
    #: gan mode's identity check also judges each frame after JPEG round trips at these qualities
    #: (empty: off), since the encoder's loss moves dlib descriptors (see verify.leaking).
    check_lossy_qualities: tuple[int, ...] = (85, 70)

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise VideoConfigError(f"crf must be between 0 and 63, got {self.crf}")
        if not all(1 <= q <= 100 for q in self.check_lossy_qualities):
            raise VideoConfigError(f"check_lossy_qualities must be JPEG qualities 1-100, got {self.check_lossy_qualities}")
        if not 0 <= self.lookahead <= 300:
            raise VideoConfigError(f"lookahead must be between 0 and 300 frames, got {self.lookahead}")


def is_video_path(path: str | Path) -> bool:
    """True when ``path`` ends in one of :data:`VIDEO_SUFFIXES`."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def output_suffix(suffix: str) -> str:
    """Container of the output for an input ending in ``suffix`` (.mkv/.mov kept, else .mp4)."""
    s = suffix.lower()
    return s if s in CONTAINERS else ".mp4"


@dataclass
class FrameSlot:
    """A decoded frame waiting in the look-ahead buffer with the faces to hide in it, per track."""

    index: int
    frame: np.ndarray
    faces: dict[int, FaceBox] = field(default_factory=dict)


def _lerp_face(a: FaceBox, b: FaceBox, t: float) -> FaceBox:
    box = tuple(float(x) for x in (1 - t) * np.asarray(a.bbox) + t * np.asarray(b.bbox))
    kp = None
    if a.keypoints is not None and b.keypoints is not None:
        kp = ((1 - t) * a.keypoints + t * b.keypoints).astype(np.float32)
        kp[:, 2] = np.minimum(a.keypoints[:, 2], b.keypoints[:, 2])
    return FaceBox(box, 0.0, keypoints=kp if kp is not None else b.keypoints)


def _union(a: FaceBox, b: FaceBox) -> FaceBox:
    box = (min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1]), max(a.bbox[2], b.bbox[2]), max(a.bbox[3], b.bbox[3]))
    return FaceBox(box, max(a.score, b.score), keypoints=b.keypoints)


class TrackedFrames:
    """Look-ahead buffer: feeds tracker results in, yields frames with their final face lists."""

    def __init__(self, lookahead: int, tracker: FaceTracker) -> None:
        self.lookahead = lookahead
        self.tracker = tracker
        self.buffer: deque[FrameSlot] = deque()

    def push(self, index: int, frame: np.ndarray, faces: list[FaceBox]) -> list[FrameSlot]:
        """Add a frame and its detections; return the frames that left the buffer."""
        slot = FrameSlot(index, frame)
        for tf in self.tracker.update(index, faces):
            slot.faces[tf.track_id] = tf.face
            if tf.detected and tf.gap > 1 and tf.previous is not None:
                before = FaceBox(tf.previous[0], 0.0, keypoints=tf.previous[1])
                for old in self.buffer:
                    k = index - old.index
                    if k < tf.gap:  # a frame between the two detections: add the interpolated box
                        inter = _lerp_face(tf.face, before, k / tf.gap)
                        held = old.faces.get(tf.track_id)
                        old.faces[tf.track_id] = _union(held, inter) if held is not None else inter
            if tf.new:
                for old in self.buffer:  # the detector may have missed the face as it appeared
                    old.faces.setdefault(tf.track_id, FaceBox(tf.face.bbox, 0.0, keypoints=tf.face.keypoints))
        self.buffer.append(slot)
        out = []
        while len(self.buffer) > self.lookahead:
            out.append(self.buffer.popleft())
        return out

    def flush(self) -> list[FrameSlot]:
        out = list(self.buffer)
        self.buffer.clear()
        return out


@dataclass
class VideoResult:
    frames: int
    tracks: int
    faces_detected: int
    faces_held: int
    regenerated: int = 0
    blurred: int = 0


def _audio_codec(info, out_suffix: str, keep_audio: bool) -> str | None:
    """ffmpeg audio codec for the output ("copy" when the container takes the stream as is), or None."""
    if not keep_audio or not info.has_audio:
        return None
    _, copyable = CONTAINERS[out_suffix]
    return "copy" if copyable is None or info.audio_codec in copyable else "aac"


def _writer(tmp: Path, src: Path, info, size, config: VideoConfig, out_suffix: str):
    muxer, _ = CONTAINERS[out_suffix]
    params = ["-f", muxer, "-map_metadata", "-1", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
    if config.codec in ("libx264", "libx265", "libvpx-vp9"):
        params += ["-crf", str(config.crf)]
    if config.codec in ("libx264", "libx265"):
        params += ["-preset", config.preset]
    audio_codec = _audio_codec(info, out_suffix, config.keep_audio)
    gen = imageio_ffmpeg.write_frames(
        str(tmp), size, fps=info.fps, codec=config.codec, quality=None, macro_block_size=1,
        output_params=params, audio_path=str(src) if audio_codec else None, audio_codec=audio_codec,
    )
    gen.send(None)
    return gen


def anonymize_video(src, dst, anonymizer: ImageAnonymizer, config: VideoConfig | None = None):
    """Anonymize video ``src`` into ``dst`` (see module doc); returns a FileResult."""
    from anonymizer.inference.folder import FileResult

    src, dst = Path(src), Path(dst)
    config = config or VideoConfig()
    info = probe_video(src)
    out_suffix = output_suffix(dst.suffix)
    if dst.suffix.lower() not in CONTAINERS:
        raise VideoConfigError(f"{dst}: output must end in one of {', '.join(CONTAINERS)}")
    reader = imageio_ffmpeg.read_frames(str(src), pix_fmt="rgb24")
    try:
        meta = reader.__next__()
        width, height = meta["size"]
        if not info.fps:
            info.fps = meta.get("fps") or 25.0
        total = int(round((meta.get("duration") or 0) * info.fps)) or None
        frames = TrackedFrames(config.lookahead, FaceTracker(config.tracker))
        stats = VideoResult(0, 0, 0, 0)
        with atomic_path(dst) as tmp:
            writer = _writer(tmp, src, info, (width, height), config, out_suffix)
            try:
                for index, raw in enumerate(tqdm(reader, total=total, desc=src.name, unit="frame", leave=False,
                                                 disable=None)):
                    frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
                    faces = anonymizer.detect(frame, upscale_small=config.upscale_small_frames)
                    stats.faces_detected += len(faces)
                    for slot in frames.push(index, frame, faces):
                        _emit(slot, anonymizer, writer, stats, config.check_lossy_qualities)
                for slot in frames.flush():
                    _emit(slot, anonymizer, writer, stats, config.check_lossy_qualities)
            finally:
                writer.close()
            if stats.frames == 0:
                raise VideoReadError(f"{src}: no frames decoded")
        stats.tracks = frames.tracker._next_id
    except (OSError, RuntimeError) as exc:
        raise VideoReadError(f"{src}: {exc}") from None
    finally:
        reader.close()
    log.info("%s: %d frames, %d tracks, %d detections, %d held boxes", src, stats.frames, stats.tracks,
             stats.faces_detected, stats.faces_held)
    return FileResult(str(src), str(dst), "video", "done", faces=stats.tracks, frames=stats.frames,
                      regenerated=stats.regenerated, blurred=stats.blurred, boxes=None)


def _emit(slot: FrameSlot, anonymizer: ImageAnonymizer, writer, stats: VideoResult, lossy_qualities: tuple[int, ...] = ()) -> None:
    ids = sorted(slot.faces)
    faces = [slot.faces[i] for i in ids]
    stats.faces_held += sum(1 for f in faces if f.score == 0.0)
    if anonymizer.needs_keypoints:
        _ensure_keypoints(slot.frame, faces, anonymizer)
    seeds = [TRACK_SEED_BASE + i for i in ids]  # one seed per track: the same generated person
    out = anonymizer.render(slot.frame, slot.frame, faces, seeds, lossy_qualities=lossy_qualities)
    stats.regenerated += out.regenerated
    stats.blurred += out.blurred
    writer.send(np.ascontiguousarray(out.pixels))
    stats.frames += 1


def _ensure_keypoints(frame: np.ndarray, faces: list[FaceBox], anonymizer: ImageAnonymizer) -> None:
    from anonymizer.inference.detect import add_keypoints

    add_keypoints(frame, faces, anonymizer.config.detect.detector)

