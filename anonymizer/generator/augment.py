"""Training augmentation on batches: horizontal flip (with the keypoint swap DeepPrivacy v1
forgot) and small face-box jitter.

Randomness comes from an explicit ``torch.Generator`` so a resumed or multi-process run draws
exactly the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .conditioning import FLIP_PAIRS


@dataclass
class AugmentConfig:
    flip_probability: float = 0.5
    box_jitter: float = 0.05  # max shift of each box edge, as a fraction of the box size
    # Outline holes only: this share of faces gets the ellipse through its box instead of the
    # landmark outline, as the anonymizer draws faces whose landmarks it cannot trust (small or
    # profile faces, video boxes held without a detection).
    ellipse_probability: float = 0.1

    def __post_init__(self) -> None:
        for name in ("flip_probability", "ellipse_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)}")


def flip_horizontal(images: torch.Tensor, boxes: torch.Tensor, keypoints: torch.Tensor, resolution: int):
    """Mirror images (N x 3 x R x R), boxes (N x 4) and keypoints (N x 7 x 3) left-right.

    A mirrored subject's left eye is where the right eye was, so left/right keypoints swap.
    """
    images = images.flip(-1)
    boxes = torch.stack([resolution - boxes[:, 2], boxes[:, 1], resolution - boxes[:, 0], boxes[:, 3]], dim=1)
    keypoints = keypoints.clone()
    keypoints[..., 0] = torch.where(keypoints[..., 2] > 0, resolution - keypoints[..., 0], keypoints[..., 0])
    order = list(range(keypoints.shape[1]))
    for a, b in FLIP_PAIRS:
        order[a], order[b] = b, a
    return images, boxes, keypoints[:, order]


def jitter_boxes(boxes: torch.Tensor, amount: float, noise: torch.Tensor, resolution: int) -> torch.Tensor:
    """Move each box edge by up to ``amount`` of the box size; ``noise`` is N x 4 in [-1, 1]."""
    size = torch.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]] * 2, dim=1)
    moved = boxes + noise * amount * size
    moved = moved.clamp(0, resolution)
    # Keep at least one pixel: a degenerate box would mask nothing.
    moved[:, 2] = torch.maximum(moved[:, 2], moved[:, 0] + 1)
    moved[:, 3] = torch.maximum(moved[:, 3], moved[:, 1] + 1)
    return moved


def draw_augmentation(n: int, rng: torch.Generator, outline: bool = False) -> torch.Tensor:
    """N x 5 uniform numbers in [0, 1): one for the flip, four for the box edges; N x 6 for
    ``outline`` holes, the last for the ellipse (box-hole runs keep their old random stream)."""
    return torch.rand(n, 6 if outline else 5, generator=rng)


def augment_batch(batch: dict, config: AugmentConfig, draws: torch.Tensor) -> dict:
    """Flip and jitter a collated batch (image float N x 3 x R x R, bbox, keypoints).

    ``draws`` (N x 5, from :func:`draw_augmentation`) holds the randomness, so callers can draw
    it for a whole global batch and hand each process its slice.
    """
    images, boxes, keypoints = batch["image"], batch["bbox"], batch["keypoints"]
    landmarks = batch.get("landmarks68")
    resolution = images.shape[-1]
    flip = draws[:, 0] < config.flip_probability
    noise = draws[:, 1:5] * 2 - 1
    if flip.any():
        f_img, f_box, f_kp = flip_horizontal(images[flip], boxes[flip], keypoints[flip], resolution)
        images, boxes, keypoints = images.clone(), boxes.clone(), keypoints.clone()
        images[flip], boxes[flip], keypoints[flip] = f_img, f_box, f_kp
        if landmarks is not None:
            # The outline is a hull: mirroring the x of every point is enough, no index swap needed.
            landmarks = landmarks.clone()
            landmarks[flip, :, 0] = resolution - landmarks[flip, :, 0]
    if config.box_jitter > 0:
        boxes = jitter_boxes(boxes, config.box_jitter, noise, resolution)
    out = {**batch, "image": images, "bbox": boxes, "keypoints": keypoints}
    if landmarks is not None:
        out["landmarks68"] = landmarks
    return out
