"""Anonymize videos: streaming decode/encode with the bundled ffmpeg, face tracking with hold,
interpolation and back-fill, one generator seed per track, audio and frame rate kept.

    from anonymizer.inference import ImageAnonymizer, AnonymizeConfig
    from anonymizer.video import anonymize_video, VideoConfig
    anonymize_video("in.mp4", "out.mp4", ImageAnonymizer(AnonymizeConfig(mode="blur")), VideoConfig(crf=20))

Modules: config (options, containers), stream (decode, track, render, encode), repair (judge the
encoded file, escalate and redraw), encode (ffmpeg writer and reader), tracker, track_checks,
carry, live, probe, result (a video's counts).
"""

from .config import VIDEO_SUFFIXES, VideoConfig, VideoConfigError, is_video_path, output_suffix
from .probe import VideoInfo, VideoReadError, VideoTruncatedError, check_complete, probe_video
from .repair import VideoLeakError, encoded_leaks
from .stream import TrackedFrames, anonymize_video
from .tracker import FaceTracker, TrackedFace, TrackerConfig

__all__ = [
    "FaceTracker",
    "TrackedFace",
    "TrackedFrames",
    "TrackerConfig",
    "VIDEO_SUFFIXES",
    "VideoConfig",
    "VideoConfigError",
    "VideoInfo",
    "VideoLeakError",
    "VideoReadError",
    "VideoTruncatedError",
    "anonymize_video",
    "check_complete",
    "encoded_leaks",
    "is_video_path",
    "output_suffix",
    "probe_video",
]
