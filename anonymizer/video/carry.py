"""Carry a track's generated face from frame to frame by the face's own motion.

Generating every frame anew made the replaced face change from frame to frame far more than the
face itself moved (15x the original's change inside the face on a signer clip, see
anonymizer.video.flicker), and the generator cost ~40% of gan mode's time. So a track's face is
generated at a key frame and, on the frames after it, the same generated crop is moved by the
similarity transform (shift, scale, in-plane rotation) that takes the face's keypoints at the key
frame to its keypoints now, then colour matched to the frame and composited under the frame's own
mask. It is generated again when the face changed more than a similarity explains (pose or
expression: the keypoints' residual after the fit), when the motion is large, when the seed
changed (the identity check regenerated it), or after ``max_age`` frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from anonymizer.inference.image import ImageAnonymizer
from anonymizer.inference.modes import FaceJob, GanMode, GeneratedFace
from anonymizer.judges.sface import similarity_transform as similarity

from .config import VideoConfig

#: Keypoints of the face itself (FDF order: nose, eyes, ears); the shoulders move apart from it.
FACE_POINTS = slice(0, 5)


@dataclass
class CarryConfig:
    """When a carried face is generated again: after ``max_age`` frames; when the keypoints'
    residual after the similarity fit exceeds ``max_residual`` of the face size; when the scale
    changes by more than ``max_scale`` or the face turns in-plane by more than ``max_rotation``
    degrees since the key frame."""

    max_age: int = 12
    max_residual: float = 0.05
    max_scale: float = 0.2
    max_rotation: float = 10.0

    def __post_init__(self) -> None:
        if self.max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {self.max_age}")


def face_motion(before: np.ndarray, now: np.ndarray, face_size: float, config: CarryConfig) -> np.ndarray | None:
    """The similarity taking the face from keypoints ``before`` to ``now`` (7 x 3 photo px), or
    None when the face changed too much to carry (see :class:`CarryConfig`)."""
    if before is None or now is None:
        return None
    a, b = np.asarray(before, np.float64)[FACE_POINTS], np.asarray(now, np.float64)[FACE_POINTS]
    both = (a[:, 2] > 0) & (b[:, 2] > 0)
    if both.sum() < 3 or np.ptp(a[both, :2], axis=0).max() < 1.0:  # too few points, or all in one place
        return None
    try:
        m = similarity(a[both, :2], b[both, :2])
    except np.linalg.LinAlgError:
        return None
    moved = a[both, :2] @ m[:, :2].T + m[:, 2]
    residual = float(np.sqrt(((moved - b[both, :2]) ** 2).sum(1).mean())) / max(face_size, 1.0)
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    angle = math.degrees(math.atan2(m[1, 0], m[0, 0]))
    if (
        residual > config.max_residual
        or abs(math.log(max(scale, 1e-6))) > math.log1p(config.max_scale)
        or abs(angle) > config.max_rotation
    ):
        return None
    return m


class FaceCarrier:
    """Generated faces per track (``FaceJob.key``), made at key frames and carried between them;
    its :meth:`patches` stands in for the generator in ``ImageAnonymizer.render(gan_patches=)``."""

    def __init__(self, gan: GanMode, config: CarryConfig | None = None) -> None:
        self.gan = gan
        self.config = config or CarryConfig()
        self.faces: dict[int, tuple[GeneratedFace, int]] = {}
        self.index = 0
        self.generated = 0
        self.carried = 0

    def patches(self, rgb: np.ndarray, jobs: list[FaceJob]) -> list[np.ndarray]:
        out: list = [None] * len(jobs)
        fresh = []
        for n, job in enumerate(jobs):
            held = self.faces.get(job.key) if job.key is not None else None
            motion = None
            if held is not None and held[0].seed == job.seed and self.index - held[1] <= self.config.max_age:
                box = job.bbox if job.bbox is not None else job.region.core
                motion = face_motion(
                    held[0].keypoints, job.keypoints, max(box[2] - box[0], box[3] - box[1]), self.config
                )
            if motion is None:
                fresh.append(n)
            else:
                out[n] = self.gan.paste(rgb, job, held[0], motion)
                self.carried += 1
        for n, face in zip(fresh, self.gan.generate(rgb, [jobs[n] for n in fresh])):
            if jobs[n].key is not None:
                self.faces[jobs[n].key] = (face, self.index)
            out[n] = self.gan.paste(rgb, jobs[n], face)
            self.generated += 1
        return out


def face_carrier(anonymizer: ImageAnonymizer, config: VideoConfig) -> FaceCarrier | None:
    """gan mode's carrier of generated faces between frames (None: other modes, or carry_frames 0)."""
    if anonymizer.config.mode == "gan" and config.carry_frames > 0:
        return FaceCarrier(anonymizer.gan, CarryConfig(max_age=config.carry_frames))
    return None
