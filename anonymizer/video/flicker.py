"""Flicker of a replaced face: how much the output changes from frame to frame inside the face,
against how much the original changes there.

A generated face that is the same person in the same light from frame to frame changes about as
much as the original face moves (ratio ~1); one redrawn differently each frame, or pasted as a
jumping square, changes far more. Blur changes less than the original (its detail is gone).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np


@dataclass
class Flicker:
    """Mean absolute change (grey levels per pixel) between consecutive frames inside the faces'
    boxes, in the output and in the original, and their ratio."""

    frame_pairs: int
    output_change: float
    original_change: float

    @property
    def ratio(self) -> float | None:
        return self.output_change / self.original_change if self.original_change > 0 else None


def _frames(path: Path):
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="gray", bpp=1)
    try:
        w, h = reader.__next__()["size"]
        for raw in reader:
            yield np.frombuffer(raw, np.uint8).reshape(h, w)
    finally:
        reader.close()


def measure_flicker(original: Path, anonymized: Path, boxes: dict[int, list]) -> Flicker:
    """Flicker of ``anonymized`` against ``original`` inside ``boxes`` (frame index -> face boxes
    in that frame, x0 y0 x1 y1 pixels, found in the original); pairs of consecutive frames where
    both hold faces count, over the union of both frames' boxes."""
    out_sum = orig_sum = 0.0
    pairs = 0
    previous = None
    for index, (a, b) in enumerate(zip(_frames(original), _frames(anonymized))):
        b = b[: a.shape[0], : a.shape[1]]  # the encoder pads odd sizes
        if previous is not None and boxes.get(index) and boxes.get(index - 1):
            mask = np.zeros(a.shape, bool)
            for x0, y0, x1, y1 in list(boxes[index]) + list(boxes[index - 1]):
                mask[max(0, int(y0)) : max(0, int(y1)), max(0, int(x0)) : max(0, int(x1))] = True
            if mask.any():
                pa, pb = previous
                orig_sum += float(np.abs(a.astype(np.int16) - pa)[mask].mean())
                out_sum += float(np.abs(b.astype(np.int16) - pb)[mask].mean())
                pairs += 1
        previous = (a, b)
    return Flicker(pairs, out_sum / pairs if pairs else 0.0, orig_sum / pairs if pairs else 0.0)
