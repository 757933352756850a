"""Track faces across video frames so a face the detector misses for a few frames stays hidden.

Detections are matched to tracks greedily by IoU with the track's predicted box (or, for fast
motion, by one box's centre lying inside the other). A track that finds no detection is *held*:
its last box, moved on at the track's velocity and grown a little per missed frame to cover
changes of motion, is still anonymized for up to ``hold_frames`` frames. Each track
keeps one id for its life, which video code turns into one generator seed (same face per person).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from anonymizer.inference.detect import FaceBox
from fdf.boxes import iou, same_place


@dataclass
class TrackerConfig:
    """``min_iou``: match threshold; ``hold_frames``: frames a lost face stays anonymized;
    ``grow_per_frame``: held boxes grow by this fraction of their size per side per missed frame."""

    min_iou: float = 0.2
    hold_frames: int = 15
    grow_per_frame: float = 0.03
    max_growth: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.min_iou <= 1.0:
            raise ValueError(f"min_iou must be in (0, 1], got {self.min_iou}")
        if self.hold_frames < 0:
            raise ValueError(f"hold_frames must be >= 0, got {self.hold_frames}")


@dataclass
class Track:
    """A face followed over frames; ``bbox``/``keypoints`` from its last detection."""

    track_id: int
    bbox: tuple[float, float, float, float]
    keypoints: np.ndarray | None
    first_seen: int
    last_seen: int
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)  # centre motion, pixels per frame
    landmarks68: np.ndarray | None = field(default=None, repr=False)  # at the last detection

    def predicted(self, frame_index: int, config: TrackerConfig) -> tuple[float, float, float, float]:
        """The box expected at ``frame_index``: moved at the track's velocity, grown per missed frame."""
        missed = frame_index - self.last_seen
        dx, dy = self.velocity[0] * missed, self.velocity[1] * missed
        x0, y0, x1, y1 = self.bbox
        growth = min(config.max_growth, config.grow_per_frame * missed)
        return grow_box((x0 + dx, y0 + dy, x1 + dx, y1 + dy), growth)


@dataclass
class TrackedFace:
    """A track's face in one frame. ``detected``: found by the detector in this frame (else held);
    ``new``: first frame of the track; ``gap``: frames since the previous detection (1 = none missed)."""

    track_id: int
    face: FaceBox
    detected: bool
    new: bool = False
    gap: int = 1
    previous: tuple | None = field(default=None, repr=False)  # (bbox, keypoints, landmarks68) at the last detection


def _centre(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def _shifted(track: Track, frame_index: int) -> np.ndarray | None:
    """The track's keypoints moved with its predicted box (hidden ones stay at 0)."""
    if track.keypoints is None:
        return None
    kp = track.keypoints.copy()
    missed = frame_index - track.last_seen
    visible = kp[:, 2] > 0
    kp[visible, 0] += track.velocity[0] * missed
    kp[visible, 1] += track.velocity[1] * missed
    return kp


def grow_box(bbox, fraction: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = bbox
    dx, dy = (x1 - x0) * fraction, (y1 - y0) * fraction
    return x0 - dx, y0 - dy, x1 + dx, y1 + dy


class FaceTracker:
    """Greedy IoU/centre tracker with hold; feed it every frame in order through :meth:`update`."""

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 0
        self._frame = 0

    @property
    def track_count(self) -> int:
        """Tracks started so far (each a distinct face, one seed)."""
        return self._next_id

    def _pairs(self, faces: list[FaceBox]) -> list[tuple[float, int, int]]:
        pairs = []
        for ti, track in enumerate(self.tracks):
            expected = track.predicted(self._frame, self.config)
            for fi, face in enumerate(faces):
                overlap = iou(expected, face.bbox)
                if overlap >= self.config.min_iou:
                    pairs.append((overlap, ti, fi))
                elif same_place(expected, face.bbox):
                    pairs.append((self.config.min_iou * overlap, ti, fi))  # weaker than any IoU match
        return sorted(pairs, reverse=True)

    def update(self, frame_index: int, faces: list[FaceBox]) -> list[TrackedFace]:
        """Match this frame's detections; return every live track's face in this frame."""
        self._frame = frame_index
        out: list[TrackedFace] = []
        used_tracks, used_faces = set(), set()
        for _, ti, fi in self._pairs(faces):
            if ti in used_tracks or fi in used_faces:
                continue
            used_tracks.add(ti)
            used_faces.add(fi)
            track, face = self.tracks[ti], faces[fi]
            previous = (track.bbox, track.keypoints, track.landmarks68)
            gap = frame_index - track.last_seen
            step = _centre(face.bbox) - _centre(track.bbox)
            v = step / max(gap, 1)
            # Smooth the velocity a little: detector boxes jitter by a few pixels per frame.
            track.velocity = tuple(
                float(x) for x in (0.5 * v + 0.5 * np.asarray(track.velocity) if track.hits > 1 else v)
            )
            track.bbox, track.keypoints, track.last_seen = face.bbox, face.keypoints, frame_index
            track.landmarks68 = face.landmarks68
            track.hits += 1
            out.append(TrackedFace(track.track_id, face, True, gap=gap, previous=previous))
        for fi, face in enumerate(faces):
            if fi not in used_faces:
                track = Track(
                    self._next_id, face.bbox, face.keypoints, frame_index, frame_index, landmarks68=face.landmarks68
                )
                self._next_id += 1
                self.tracks.append(track)
                used_tracks.add(len(self.tracks) - 1)
                out.append(TrackedFace(track.track_id, face, True, new=True))
        alive = []
        for ti, track in enumerate(self.tracks):
            missed = frame_index - track.last_seen
            if missed > self.config.hold_frames:
                continue
            alive.append(track)
            if ti not in used_tracks:
                held = FaceBox(track.predicted(frame_index, self.config), 0.0, keypoints=_shifted(track, frame_index))
                out.append(TrackedFace(track.track_id, held, False, gap=missed))
        self.tracks = alive
        return out
