"""A video's own counts (what :func:`anonymizer.video.anonymize_video` reports in ``FileResult.video``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VideoResult:
    """Frames written, tracks started, detections and held boxes, and what the identity check did."""

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
