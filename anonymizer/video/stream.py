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

In gan mode the identity check (:mod:`anonymizer.inference.verify`) judges every rendered frame
before encoding, and then the encoded file itself: the encoder's loss moves dlib's descriptor of
a face by 0.13 (median; up to 0.22 at x264 CRF 18), so a generated face at 0.60-0.63 from the
original before encoding can be at 0.57 after it. The encoded file is decoded, every face is
judged again against the original's descriptors kept from the first pass (about 1 KB per face
per frame), and each face-frame still within the threshold is escalated (generated face ->
blur -> flat mask), with the near misses around it (re-encoding redraws the noise, so they would
leak next: :data:`NEAR_MISS_MARGIN`); the frames are redrawn from the source with the kept outcomes (no detection,
no new check) and re-encoded, and the new file is judged again, up to
``VideoConfig.encoded_check_rounds`` times. A face still matching after that fails the file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from tqdm import tqdm

from anonymizer.inference.detect import FaceBox
from anonymizer.inference.image import ImageAnonymizer
from anonymizer.inference.verify import output_distances
from fdf.atomic import atomic_path
from fdf.boxes import same_place
from fdf.errors import FdfError

from .probe import VideoReadError, VideoTruncatedError, check_complete, probe_video
from .carry import CarryConfig, FaceCarrier
from .track_checks import TrackChecks
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
#: Mean absolute difference (grey levels) between two frames' 64x48 thumbnails over which the
#: second is a new scene, detected at once whatever VideoConfig.detect_every says. Measured on the
#: 13 shared clips: consecutive frames differ by 0.3-1.3 (median per clip), 6.4 at most; the last
#: frame of one clip and the first of the next by 9.4-60 (median 31). A cut missed still has its
#: new faces back-filled from the next detection (TrackedFrames), one frame later.
SCENE_CUT_LEVEL = 8.0


class VideoConfigError(FdfError):
    """A video option is out of range."""


class VideoLeakError(FdfError):
    """A face in the encoded video still matched the original after every escalation."""


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
    #: gan mode's identity check before encoding also judges each frame after JPEG round trips at
    #: these qualities (see verify.leaking). Off by default: the check of the encoded file judges
    #: the real encoder's noise, which the JPEG copies only modelled (they left the same leaks).
    check_lossy_qualities: tuple[int, ...] = ()
    #: gan mode with the identity check: judge the encoded file and repair it (module doc), at most
    #: this many times (0: off, the check judges only the frames before encoding).
    encoded_check_rounds: int = 6
    #: gan mode with the identity check: check each track's face every this many frames, and every
    #: frame once it came close (see anonymizer.video.track_checks); 1 checks every face-frame.
    check_every: int = 8
    #: run the face detector on every this many frames; between, the tracker carries each face
    #: (its box moved at the face's speed and grown, then joined with the box interpolated from
    #: the detections around it). A scene cut (:data:`SCENE_CUT_LEVEL`) always gets a detection.
    detect_every: int = 2
    #: gan mode: carry a track's generated face to later frames by the face's motion, generating
    #: again after at most this many frames or when pose or expression changed (anonymizer.video.carry);
    #: 0 generates every frame anew.
    carry_frames: int = 12

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise VideoConfigError(f"crf must be between 0 and 63, got {self.crf}")
        if not all(1 <= q <= 100 for q in self.check_lossy_qualities):
            raise VideoConfigError(f"check_lossy_qualities must be JPEG qualities 1-100, got {self.check_lossy_qualities}")
        if not 0 <= self.encoded_check_rounds <= 20:
            raise VideoConfigError(f"encoded_check_rounds must be between 0 and 20, got {self.encoded_check_rounds}")
        if not 0 <= self.carry_frames <= 300:
            raise VideoConfigError(f"carry_frames must be between 0 and 300, got {self.carry_frames}")
        if not 1 <= self.detect_every <= 10:
            raise VideoConfigError(f"detect_every must be between 1 and 10 frames, got {self.detect_every}")
        if not 1 <= self.check_every <= 300:
            raise VideoConfigError(f"check_every must be between 1 and 300 frames, got {self.check_every}")
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
    lm = None
    if a.landmarks68 is not None and b.landmarks68 is not None:
        lm = ((1 - t) * np.asarray(a.landmarks68, np.float32) + t * np.asarray(b.landmarks68, np.float32))
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

    def __init__(self, lookahead: int, tracker: FaceTracker, scheduled_gap: int = 1) -> None:
        self.lookahead = lookahead
        self.tracker = tracker
        self.scheduled_gap = scheduled_gap
        self.buffer: deque[FrameSlot] = deque()

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
            out.append(self.buffer.popleft())
        return out

    def flush(self) -> list[FrameSlot]:
        out = list(self.buffer)
        self.buffer.clear()
        return out


@dataclass
class FrameRecord:
    """What the first pass drew in one frame: enough to redraw it and to judge its encoding."""

    faces: list[FaceBox]
    tracks: list[int]
    seeds: list[int]
    outcomes: list  # per face: seed, "blur" or "mask" (see AnonymizedImage.outcomes)
    descriptors: list  # per face: the original's descriptor views, or None


@dataclass
class VideoResult:
    frames: int
    tracks: int
    faces_detected: int
    faces_held: int
    regenerated: int = 0
    blurred: int = 0
    #: face-frames escalated after the check of the encoded file, and the encodes judged
    repaired: int = 0
    encoded_checks: int = 0
    #: frames the face detector ran on (VideoConfig.detect_every, scene cuts)
    detections: int = 0
    #: gan mode with the identity check: face-frames judged, and drawn with their track's last verdict
    checked: int = 0
    drawn_unchecked: int = 0
    #: gan mode: faces generated, and carried from an earlier frame by their motion
    generated: int = 0
    carried: int = 0


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
        frames = TrackedFrames(config.lookahead, FaceTracker(config.tracker), config.detect_every)
        stats = VideoResult(0, 0, 0, 0)
        check_encoded = anonymizer.config.mode == "gan" and anonymizer.config.verify_identity \
            and config.encoded_check_rounds > 0
        records: dict[int, FrameRecord] | None = {} if check_encoded else None
        schedule = DetectionSchedule(anonymizer, config, stats)
        checks = identity_checks(anonymizer, config)
        carrier = face_carrier(anonymizer, config)
        with atomic_path(dst) as tmp:
            writer = _writer(tmp, src, info, (width, height), config, out_suffix)
            try:
                for index, raw in enumerate(tqdm(reader, total=total, desc=src.name, unit="frame", leave=False,
                                                 disable=None)):
                    frame = np.frombuffer(raw, np.uint8).reshape(height, width, 3)
                    faces = schedule.faces(index, frame)
                    for slot in frames.push(index, frame, faces):
                        _emit(slot, anonymizer, writer, stats, config.check_lossy_qualities, records, checks, carrier)
                for slot in frames.flush():
                    _emit(slot, anonymizer, writer, stats, config.check_lossy_qualities, records, checks, carrier)
            finally:
                writer.close()
            if stats.frames == 0:
                raise VideoReadError(f"{src}: no frames decoded")
            if packets and stats.frames < packets * 0.95 - 1:  # frames the decoder could not give
                raise VideoTruncatedError(f"{src}: decoded {stats.frames} frames of the {packets} it holds")
            if records:
                _check_encoded(src, tmp, info, (width, height), config, out_suffix, anonymizer, records, stats)
        stats.tracks = frames.tracker.track_count
    except (OSError, RuntimeError) as exc:
        raise VideoReadError(f"{src}: {exc}") from None
    finally:
        reader.close()
    if checks is not None:
        stats.checked, stats.drawn_unchecked = checks.checked, checks.drawn_unchecked
    if carrier is not None:
        stats.generated, stats.carried = carrier.generated, carrier.carried
    log.info("%s: %d frames (detector run on %d), %d tracks, %d detections, %d held boxes; identity check on "
             "%d face-frames, %d drawn with their track's last verdict", src, stats.frames, stats.detections,
             stats.tracks, stats.faces_detected, stats.faces_held, stats.checked, stats.drawn_unchecked)
    return FileResult(str(src), str(dst), "video", "done", faces=stats.tracks, frames=stats.frames,
                      regenerated=stats.regenerated, blurred=stats.blurred, repaired=stats.repaired, boxes=None,
                      video=dataclasses.asdict(stats))


def _thumbnail(frame: np.ndarray) -> np.ndarray:
    """A 64x48 grey copy of ``frame`` (float32), to notice scene cuts."""
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (64, 48), interpolation=cv2.INTER_AREA).astype(np.float32)


class DetectionSchedule:
    """Runs the detector on every ``VideoConfig.detect_every``-th frame and at scene cuts; on the
    frames between it returns no faces, and the tracker carries them (see :class:`TrackedFrames`)."""

    def __init__(self, anonymizer: ImageAnonymizer, config: VideoConfig, stats: VideoResult) -> None:
        self.anonymizer, self.config, self.stats = anonymizer, config, stats
        self.last_thumb: np.ndarray | None = None

    def faces(self, index: int, frame: np.ndarray) -> list[FaceBox]:
        thumb = _thumbnail(frame)
        cut = self.last_thumb is not None and float(np.abs(thumb - self.last_thumb).mean()) > SCENE_CUT_LEVEL
        self.last_thumb = thumb
        if index % self.config.detect_every and not cut:
            return []
        faces = self.anonymizer.detect(frame, upscale_small=self.config.upscale_small_frames)
        self.stats.detections += 1
        self.stats.faces_detected += len(faces)
        return faces


def face_carrier(anonymizer: ImageAnonymizer, config: VideoConfig) -> FaceCarrier | None:
    """gan mode's carrier of generated faces between frames (None: other modes, or carry_frames 0)."""
    if anonymizer.config.mode == "gan" and config.carry_frames > 0:
        return FaceCarrier(anonymizer.gan, CarryConfig(max_age=config.carry_frames))
    return None


def identity_checks(anonymizer: ImageAnonymizer, config: VideoConfig) -> TrackChecks | None:
    """The per-track identity check plan of gan mode with the check on (else None)."""
    if anonymizer.config.mode == "gan" and anonymizer.config.verify_identity:
        return TrackChecks(config.check_every, anonymizer.config.verify_threshold, NEAR_MISS_MARGIN)
    return None


def _emit(slot: FrameSlot, anonymizer: ImageAnonymizer, writer, stats: VideoResult,
          lossy_qualities: tuple[int, ...] = (), records: dict[int, FrameRecord] | None = None,
          checks: TrackChecks | None = None, carrier: FaceCarrier | None = None) -> None:
    ids = sorted(slot.faces)
    faces = [slot.faces[i] for i in ids]
    stats.faces_held += sum(1 for f in faces if f.score == 0.0)
    if anonymizer.needs_keypoints:
        _ensure_keypoints(slot.frame, faces, anonymizer)
    seeds = [TRACK_SEED_BASE + i for i in ids]  # one seed per track: the same generated person
    planned = None
    if checks is not None:  # a track's face is checked at its key frames only (track_checks)
        seeds = [checks.seed_for(tid, seed) for tid, seed in zip(ids, seeds)]
        planned = checks.plan(slot.index, ids)
    if carrier is not None:
        carrier.index = slot.index
    out = anonymizer.render(slot.frame, slot.frame, faces, seeds, lossy_qualities=lossy_qualities, fixed=planned,
                            keys=ids, gan_patches=carrier.patches if carrier is not None else None)
    if checks is not None:
        checks.learn(slot.index, ids, planned, out.outcomes, out.distances, seeds)
    stats.regenerated += out.regenerated
    stats.blurred += out.blurred
    if records is not None and faces:  # every frame with faces: a redraw must draw them all
        records[slot.index] = FrameRecord(faces, ids, seeds, out.outcomes, out.descriptors)
    writer.send(np.ascontiguousarray(out.pixels))
    stats.frames += 1


#: How a face-frame that still matches after encoding is escalated, by kind of outcome.
NEXT_OUTCOME = {"gan": "blur", "blur": "mask"}


def _kind(outcome) -> str:
    return "gan" if isinstance(outcome, int) else outcome


def _decode(path: Path, width: int, height: int):
    """Frames of ``path`` as RGB arrays cropped to ``width`` x ``height`` (the encoder pads to even sizes)."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        w, h = reader.__next__()["size"]
        for raw in reader:
            yield np.ascontiguousarray(np.frombuffer(raw, np.uint8).reshape(h, w, 3)[:height, :width])
    finally:
        reader.close()


def encoded_distances(path: Path, size, records: dict[int, FrameRecord],
                      frames: int | None = None) -> dict[tuple[int, int], float]:
    """Per (frame index, face index) of ``records``, the smallest dlib distance from the original's
    descriptors to a face found at the same place in encoded video ``path`` (faces not found are
    left out), as :func:`anonymizer.inference.verify.leaking` judges a photo."""
    width, height = size
    out: dict[tuple[int, int], float] = {}
    count = 0
    for index, frame in enumerate(tqdm(_decode(path, width, height), total=frames, desc=f"check {path.name}",
                                       unit="frame", leave=False, disable=None)):
        count += 1
        rec = records.get(index)
        if rec is not None:
            for i, dist in enumerate(output_distances(frame, rec.faces, rec.descriptors)):
                if dist is not None:
                    out[(index, i)] = dist
    if frames is not None and count != frames:
        raise VideoReadError(f"{path}: the encoded file has {count} frames, {frames} were written")
    return out


def encoded_leaks(path: Path, size, records: dict[int, FrameRecord], threshold: float,
                  frames: int | None = None) -> list[tuple[int, int]]:
    """(frame index, face index) of the faces in encoded video ``path`` still within ``threshold``."""
    return sorted(k for k, d in encoded_distances(path, size, records, frames).items() if d < threshold)


#: A face-frame this close above the threshold, near a leak, is escalated with the leak:
#: re-encoding redraws the encoder's noise (0.13 median descriptor movement at x264 CRF 18) in the
#: redrawn frames and their neighbours, whatever track, so near misses become the next round's leaks.
NEAR_MISS_MARGIN = 0.1


def _leak_sources(frame: int, face: int, records: dict[int, FrameRecord]) -> list[tuple[int, int]]:
    """Where a leak judged at ``face`` of ``frame`` can be escalated: the face itself, or, once it
    is masked, the unmasked faces of the same frame at the same place.

    The output is searched for a face at the same place as each recorded face, so two boxes that
    overlap (one face boxed by two tracks, or a small face beside a large one) can each be
    judged on what the other drew. A flat mask holds no face; the face found there is the other
    box's drawing. With none left to escalate the leak stays on the masked face, and the file
    fails closed."""
    rec = records[frame]
    if rec.outcomes[face] != "mask":
        return [(frame, face)]
    box = rec.faces[face].bbox
    others = [(frame, j) for j, other in enumerate(rec.faces)
              if j != face and rec.outcomes[j] != "mask" and same_place(other.bbox, box)]
    return others or [(frame, face)]


def to_escalate(distances: dict[tuple[int, int], float], records: dict[int, FrameRecord], threshold: float,
                window: int | None) -> set[tuple[int, int]]:
    """The leaks (distance < ``threshold``; a masked face's goes to the faces drawn over the
    same place, see :func:`_leak_sources`) and the near misses (under ``threshold`` +
    :data:`NEAR_MISS_MARGIN`, not yet masked, any track) within ``window`` frames of a leak
    (None: anywhere in the video)."""
    leaks = [k for k, d in distances.items() if d < threshold]
    out = {source for frame, face in leaks for source in _leak_sources(frame, face, records)}
    if not leaks:
        return out
    leak_frames = np.array(sorted({f for f, _ in leaks}))
    for (g, j), d in distances.items():
        if d < threshold + NEAR_MISS_MARGIN and records[g].outcomes[j] != "mask" \
                and (window is None or np.abs(leak_frames - g).min() <= window):
            out.add((g, j))
    return out


def unchecked_alike(escalate: set[tuple[int, int]], records: dict[int, FrameRecord],
                    every: int) -> set[tuple[int, int]]:
    """Face-frames drawn unchecked with the same outcome of the same track within ``every``
    frames of one in ``escalate``: judged only at key frames, they share a key frame's leak."""
    out: set[tuple[int, int]] = set()
    if every <= 1:
        return out
    for frame, face in escalate:
        rec = records[frame]
        track, outcome = rec.tracks[face], rec.outcomes[face]
        for g in range(frame - every, frame + every + 1):
            other = records.get(g)
            if other is None or g == frame:
                continue
            for j, (tid, desc) in enumerate(zip(other.tracks, other.descriptors)):
                if tid == track and desc is None and other.outcomes[j] == outcome:
                    out.add((g, j))
    return out - escalate


def _check_encoded(src: Path, tmp: Path, info, size, config: VideoConfig, out_suffix: str,
                   anonymizer: ImageAnonymizer, records: dict[int, FrameRecord], stats: VideoResult) -> None:
    """Judge the encoded file ``tmp``; escalate and re-encode until no face matches (module doc)."""
    threshold = anonymizer.config.verify_threshold
    rounds = config.encoded_check_rounds
    for round_ in range(rounds + 1):
        distances = encoded_distances(tmp, size, records, stats.frames)
        stats.encoded_checks += 1
        leaks = sorted(k for k, d in distances.items() if d < threshold)
        if not leaks:
            return
        if round_ == rounds:
            raise VideoLeakError(f"{src}: {len(leaks)} face-frames still match the original after "
                                 f"{rounds} re-encodes (first: frame {leaks[0][0]})")
        # The first round takes the near misses around the leaks; later ones, where the first did
        # not settle it, those anywhere in the video.
        escalate = to_escalate(distances, records, threshold, config.lookahead if round_ == 0 else None)
        escalate |= unchecked_alike(escalate, records, config.check_every)
        kinds = []
        for index, i in sorted(escalate):
            rec = records[index]
            kinds.append(_kind(rec.outcomes[i]))
            rec.outcomes[i] = NEXT_OUTCOME.get(kinds[-1])
            if rec.outcomes[i] is None:
                raise VideoLeakError(f"{src}: frame {index}: a face still matches the original after masking")
        stats.repaired += len(escalate)
        log.info("%s: round %d: %d face-frames still matched the original after encoding; escalating %d with "
                 "near misses (%d generated -> blur, %d blurred -> mask), re-encoding", src, round_ + 1,
                 len(leaks), len(escalate), kinds.count("gan"), kinds.count("blur"))
        with atomic_path(tmp, fsync=False) as fixed:
            _redraw(src, fixed, info, size, config, out_suffix, anonymizer, records)


def _redraw(src: Path, dst: Path, info, size, config: VideoConfig, out_suffix: str,
            anonymizer: ImageAnonymizer, records: dict[int, FrameRecord]) -> None:
    """Encode ``src`` again into ``dst``, drawing each recorded frame's faces as its outcomes say."""
    width, height = size
    writer = _writer(dst, src, info, size, config, out_suffix)
    carrier = face_carrier(anonymizer, config)  # the first pass's carrying, redone in the same order
    try:
        for index, frame in enumerate(_decode(src, width, height)):
            rec = records.get(index)
            if rec is not None:
                if carrier is not None:
                    carrier.index = index
                frame = anonymizer.render(frame, frame, rec.faces, rec.seeds, fixed=rec.outcomes, keys=rec.tracks,
                                          gan_patches=carrier.patches if carrier is not None else None).pixels
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()


def _ensure_keypoints(frame: np.ndarray, faces: list[FaceBox], anonymizer: ImageAnonymizer) -> None:
    from anonymizer.inference.detect import add_keypoints

    add_keypoints(frame, faces, anonymizer.config.detect.detector)

