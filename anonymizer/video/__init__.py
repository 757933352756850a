"""Anonymize videos: streaming decode/encode with the bundled ffmpeg, face tracking with hold,
interpolation and back-fill, one generator seed per track, audio and frame rate kept.

    from anonymizer.inference import ImageAnonymizer, AnonymizeConfig
    from anonymizer.video import anonymize_video, VideoConfig
    anonymize_video("in.mp4", "out.mp4", ImageAnonymizer(AnonymizeConfig(mode="blur")), VideoConfig(crf=20))
"""

from .probe import VideoInfo, VideoReadError, VideoTruncatedError, check_complete, probe_video
from .stream import (VIDEO_SUFFIXES, TrackedFrames, VideoConfig, VideoLeakError, anonymize_video, encoded_leaks,
                     is_video_path, output_suffix)
from .tracker import FaceTracker, TrackedFace, TrackerConfig

__all__ = [
    "FaceTracker",
    "TrackedFace",
    "TrackedFrames",
    "TrackerConfig",
    "VIDEO_SUFFIXES",
    "VideoConfig",
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
