"""Video options: encoding, tracking and checking (:class:`VideoConfig`), and the containers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fdf.errors import FdfError

from .tracker import TrackerConfig

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".wmv", ".flv")
#: Output containers: their ffmpeg muxer and the audio codecs it can take as they are.
CONTAINERS = {
    ".mp4": ("mp4", {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"}),
    ".mov": ("mov", {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le"}),
    ".mkv": ("matroska", None),  # Matroska takes any audio codec
}


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
    #: gan mode's identity check before encoding also judges each frame after JPEG round trips at
    #: these qualities (see verify.leaking). Off by default: the check of the encoded file judges
    #: the real encoder's noise, which the JPEG copies only modelled (they left the same leaks).
    check_lossy_qualities: tuple[int, ...] = ()
    #: gan mode with the identity check: judge the encoded file and repair it (anonymizer.video.repair),
    #: at most this many times (0: off, the check judges only the frames before encoding).
    encoded_check_rounds: int = 6
    #: gan mode with the identity check: check each track's face every this many frames, and every
    #: frame once it came close (see anonymizer.video.track_checks); 1 checks every face-frame.
    check_every: int = 8
    #: run the face detector on every this many frames; between, the tracker carries each face
    #: (its box moved at the face's speed and grown, then joined with the box interpolated from
    #: the detections around it). A scene cut (anonymizer.video.stream.SCENE_CUT_LEVEL) always gets
    #: a detection.
    detect_every: int = 2
    #: gan mode: carry a track's generated face to later frames by the face's motion, generating
    #: again after at most this many frames or when pose or expression changed (anonymizer.video.carry);
    #: 0 generates every frame anew.
    carry_frames: int = 12
    #: average each track's keypoints and landmarks over this many frames on either side (fewer
    #: where the look-ahead is shorter; anonymizer.video.smoothing); 0 uses each frame's own
    smooth_frames: int = 2

    def __post_init__(self) -> None:
        if not 0 <= self.crf <= 63:
            raise VideoConfigError(f"crf must be between 0 and 63, got {self.crf}")
        if not all(1 <= q <= 100 for q in self.check_lossy_qualities):
            raise VideoConfigError(
                f"check_lossy_qualities must be JPEG qualities 1-100, got {self.check_lossy_qualities}"
            )
        if not 0 <= self.encoded_check_rounds <= 20:
            raise VideoConfigError(f"encoded_check_rounds must be between 0 and 20, got {self.encoded_check_rounds}")
        if not 0 <= self.smooth_frames <= 10:
            raise VideoConfigError(f"smooth_frames must be between 0 and 10, got {self.smooth_frames}")
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
