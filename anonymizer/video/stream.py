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

In gan mode the identity check judges every rendered frame before encoding, and then
(:mod:`.repair`) the encoded file itself, escalating and redrawing what still matches.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from tqdm import tqdm

from anonymizer.inference.detect import FaceBox, add_keypoints
from anonymizer.inference.image import ImageAnonymizer
from anonymizer.inference.results import FileResult
from fdf.atomic import atomic_path

from .carry import FaceCarrier, face_carrier
from .config import CONTAINERS, VideoConfig, VideoConfigError, output_suffix
from .encode import Encoding
from .pipe import ThreadedWriter, prefetched
from .probe import VideoReadError, VideoTruncatedError, check_complete, probe_video
from .repair import NEAR_MISS_MARGIN, FrameRecord, repair_encoded
from .result import VideoResult
from .smoothing import TrackSmoother
from .track_checks import TrackChecks
from .tracker import FaceTracker

log = logging.getLogger(__name__)

#: Seeds of video tracks start here, apart from the photo seeds 0, 1, 2, ...
TRACK_SEED_BASE = 1_000_003
#: Mean absolute difference (grey levels) between two frames' 64x48 thumbnails over which the
#: second is a new scene, detected at once whatever VideoConfig.detect_every says. Measured on the
#: 13 shared clips: consecutive frames differ by 0.3-1.3 (median per clip), 6.4 at most; the last
#: frame of one clip and the first of the next by 9.4-60 (median 31). A cut missed still has its
#: new faces back-filled from the next detection (TrackedFrames), one frame later.
SCENE_CUT_LEVEL = 8.0


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
    lm = None
    if a.landmarks68 is not None and b.landmarks68 is not None:
        lm = (1 - t) * np.asarray(a.landmarks68, np.float32) + t * np.asarray(b.landmarks68, np.float32)
    return FaceBox(box, 0.0, keypoints=kp if kp is not None else b.keypoints, landmarks68=lm)


def _union(a: FaceBox, b: FaceBox) -> FaceBox:
    box = (min(a.bbox[0], b.bbox[0]), min(a.bbox[1], b.bbox[1]), max(a.bbox[2], b.bbox[2]), max(a.bbox[3], b.bbox[3]))
    return FaceBox(box, max(a.score, b.score), keypoints=b.keypoints)


class TrackedFrames:
    """Look-ahead buffer: feeds tracker results in, yields frames with their final face lists.

    A face the detector was not run on, or missed, between two detections gets the box
    interpolated between them. After a real miss (a gap longer than ``scheduled_gap``, the
    detector's own schedule) the held box, moved and grown by the tracker, is kept too, joined
    with it; a frame the detector merely skipped takes the interpolated face alone, with its
    landmarks, so the drawn region does not jump between the grown box and the detected one
    every other frame."""

    def __init__(self, lookahead: int, tracker: FaceTracker, scheduled_gap: int = 1, smooth_frames: int = 0) -> None:
        self.lookahead = lookahead
        self.tracker = tracker
        self.scheduled_gap = scheduled_gap
        self.buffer: deque[FrameSlot] = deque()
        self.smoother = TrackSmoother(smooth_frames)

    def push(self, index: int, frame: np.ndarray, faces: list[FaceBox]) -> list[FrameSlot]:
        """Add a frame and its detections; return the frames that left the buffer."""
        slot = FrameSlot(index, frame)
        for tf in self.tracker.update(index, faces):
            slot.faces[tf.track_id] = tf.face
            if tf.detected and tf.gap > 1 and tf.previous is not None:
                before = FaceBox(tf.previous[0], 0.0, keypoints=tf.previous[1], landmarks68=tf.previous[2])
                for old in self.buffer:
                    k = index - old.index
                    if k < tf.gap:  # a frame between the two detections: add the interpolated box
                        inter = _lerp_face(tf.face, before, k / tf.gap)
                        held = old.faces.get(tf.track_id)
                        skipped = tf.gap <= self.scheduled_gap
                        old.faces[tf.track_id] = _union(held, inter) if held is not None and not skipped else inter
            if tf.new:
                for old in self.buffer:  # the detector may have missed the face as it appeared
                    old.faces.setdefault(tf.track_id, FaceBox(tf.face.bbox, 0.0, keypoints=tf.face.keypoints))
        self.buffer.append(slot)
        out = []
        while len(self.buffer) > self.lookahead:
            out.append(self._leave())
        return out

    def flush(self) -> list[FrameSlot]:
        """Empty the buffer at the end of the video: the frames still waiting, in order."""
        out = []
        while self.buffer:
            out.append(self._leave())
        return out

    def _leave(self) -> FrameSlot:
        """The oldest frame, its faces smoothed with the frames around it."""
        slot = self.buffer.popleft()
        upcoming = [(s.index, s.faces) for s in self.buffer]
        return dataclasses.replace(slot, faces=self.smoother.emit(slot.index, slot.faces, upcoming))


def anonymize_video(src, dst, anonymizer: ImageAnonymizer, config: VideoConfig | None = None):
    """Anonymize video ``src`` into ``dst`` (see module doc); returns a FileResult."""
    src, dst = Path(src), Path(dst)
    config = config or VideoConfig()
    info = probe_video(src)
    packets = check_complete(src)  # a truncated file fails here, before any work
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
        frames = TrackedFrames(config.lookahead, FaceTracker(config.tracker), config.detect_every, config.smooth_frames)
        stats = VideoResult(0, 0, 0, 0)
        check_encoded = (
            anonymizer.config.mode == "gan" and anonymizer.config.verify_identity and config.encoded_check_rounds > 0
        )
        records: dict[int, FrameRecord] | None = {} if check_encoded else None
        schedule = DetectionSchedule(anonymizer, config, stats)
        checks = identity_checks(anonymizer, config)
        carrier = face_carrier(anonymizer, config)
        encoding = Encoding(src, info, (width, height), config, out_suffix)
        with atomic_path(dst) as tmp:
            writer = ThreadedWriter(encoding.open_writer(tmp))
            emit = functools.partial(
                emit_frame,
                anonymizer=anonymizer,
                writer=writer,
                stats=stats,
                lossy_qualities=config.check_lossy_qualities,
                records=records,
                checks=checks,
                carrier=carrier,
            )
            # ffmpeg decodes ahead while this frame is worked on; closed before the reader is
            decoded = prefetched(reader)
            try:
                for index, raw in enumerate(
                    tqdm(decoded, total=total, desc=src.name, unit="frame", leave=False, disable=None)
                ):
                    frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
                    faces = schedule.faces(index, frame)
                    for slot in frames.push(index, frame, faces):
                        emit(slot)
                for slot in frames.flush():
                    emit(slot)
            finally:
                decoded.close()
                writer.close()
            if stats.frames == 0:
                raise VideoReadError(f"{src}: no frames decoded")
            if packets and stats.frames < packets * 0.95 - 1:  # frames the decoder could not give
                raise VideoTruncatedError(f"{src}: decoded {stats.frames} frames of the {packets} it holds")
            if records:
                repair_encoded(tmp, encoding=encoding, anonymizer=anonymizer, records=records, stats=stats)
        stats.tracks = frames.tracker.track_count
    except (OSError, RuntimeError) as exc:
        raise VideoReadError(f"{src}: {exc}") from None
    finally:
        reader.close()
    if checks is not None:
        stats.checked, stats.drawn_unchecked = checks.checked, checks.drawn_unchecked
    if carrier is not None:
        stats.generated, stats.carried = carrier.generated, carrier.carried
    log.info(
        "%s: %d frames (detector run on %d), %d tracks, %d detections, %d held boxes; identity check on "
        "%d face-frames, %d drawn with their track's last verdict",
        src,
        stats.frames,
        stats.detections,
        stats.tracks,
        stats.faces_detected,
        stats.faces_held,
        stats.checked,
        stats.drawn_unchecked,
    )
    return FileResult(
        str(src),
        str(dst),
        "video",
        "done",
        faces=stats.tracks,
        frames=stats.frames,
        regenerated=stats.regenerated,
        blurred=stats.blurred,
        repaired=stats.repaired,
        boxes=None,
        video=dataclasses.asdict(stats),
    )


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 64x48 grey copy of ``frame`` (float32), to notice scene cuts."""
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)


class DetectionSchedule:
    """Runs the detector on every ``VideoConfig.detect_every``-th frame and at scene cuts; on the
    frames between it returns no faces, and the tracker carries them (see :class:`TrackedFrames`)."""

    def __init__(self, anonymizer: ImageAnonymizer, config: VideoConfig, stats: VideoResult) -> None:
        self.anonymizer, self.config, self.stats = anonymizer, config, stats
        self.last_thumb: np.ndarray | None = None

    def faces(self, index: int, frame: np.ndarray) -> list[FaceBox]:
        """The faces detected in frame ``index``, or none where the detector is not due."""
        thumb = _thumbnail(frame)
        cut = self.last_thumb is not None and float(np.abs(thumb - self.last_thumb).mean()) > SCENE_CUT_LEVEL
        self.last_thumb = thumb
        if index % self.config.detect_every and not cut:
            return []
        faces = self.anonymizer.detect(frame, upscale_small=self.config.upscale_small_frames)
        self.stats.detections += 1
        self.stats.faces_detected += len(faces)
        return faces


def identity_checks(anonymizer: ImageAnonymizer, config: VideoConfig) -> TrackChecks | None:
    """The per-track identity check plan of gan mode with the check on (else None)."""
    if anonymizer.config.mode == "gan" and anonymizer.config.verify_identity:
        return TrackChecks(config.check_every, anonymizer.config.verify_threshold, NEAR_MISS_MARGIN)
    return None


def emit_frame(
    slot: FrameSlot,
    *,
    anonymizer: ImageAnonymizer,
    writer,
    stats: VideoResult,
    lossy_qualities: tuple[int, ...] = (),
    records: dict[int, FrameRecord] | None = None,
    checks: TrackChecks | None = None,
    carrier: FaceCarrier | None = None,
) -> None:
    """Render a frame that left the look-ahead buffer and send it to ``writer``: one seed per
    track, the identity check at each track's key frames (``checks``), generated faces carried
    between them (``carrier``); ``records`` (when given) keeps what was drawn, for the check of
    the encoded file (:mod:`.repair`)."""
    ids = sorted(slot.faces)
    faces = [slot.faces[i] for i in ids]
    stats.faces_held += sum(1 for f in faces if f.score == 0.0)
    if anonymizer.needs_keypoints:
        add_keypoints(slot.frame, faces, anonymizer.config.detect.detector)
    seeds = [TRACK_SEED_BASE + i for i in ids]  # one seed per track: the same generated person
    planned = None
    if checks is not None:  # a track's face is checked at its key frames only (track_checks)
        seeds = [checks.seed_for(tid, seed) for tid, seed in zip(ids, seeds)]
        planned = checks.plan(slot.index, ids)
    if carrier is not None:
        carrier.index = slot.index
    out = anonymizer.render(
        slot.frame,
        slot.frame,
        faces,
        seeds,
        lossy_qualities=lossy_qualities,
        fixed=planned,
        keys=ids,
        gan_patches=carrier.patches if carrier is not None else None,
        video=True,
    )
    if checks is not None:
        checks.learn(slot.index, ids, planned, out.outcomes, out.distances, seeds)
    stats.regenerated += out.regenerated
    stats.blurred += out.blurred
    if records is not None and faces:  # every frame with faces: a redraw must draw them all
        records[slot.index] = FrameRecord(faces, ids, seeds, out.outcomes, out.descriptors)
    writer.send(np.ascontiguousarray(out.pixels))
    stats.frames += 1
