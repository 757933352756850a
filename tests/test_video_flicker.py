"""Flicker measure of replaced faces (issue 15) on real encoded clips."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np

from anonymizer.video.flicker import measure_flicker


def write_clip(path, frames):
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (64, 48),
        fps=10,
        codec="libx264",
        macro_block_size=1,
        output_params=["-crf", "0", "-preset", "ultrafast"],
    )
    writer.send(None)
    for f in frames:
        writer.send(np.ascontiguousarray(f))
    writer.close()


def test_flicker_compares_the_change_inside_the_faces_with_the_originals(tmp_path):
    rng = np.random.default_rng(0)
    x = np.arange(64 + 12, dtype=np.float32)
    base = np.repeat((100 + 60 * np.sin(x / 6))[None, :, None], 48, axis=0).repeat(3, axis=2).astype(np.uint8)
    original = [base[:, k : k + 64] for k in range(12)]  # the scene pans a pixel a frame
    steady = [f.copy() for f in original]
    jumpy = [f.copy() for f in original]
    for f in jumpy:  # a face redrawn at random each frame
        f[10:30, 20:40] = rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)
    for name, frames in (("orig", original), ("steady", steady), ("jumpy", jumpy)):
        write_clip(tmp_path / f"{name}.mp4", frames)
    boxes = {k: [(20, 10, 40, 30)] for k in range(12)}
    boxes.pop(5)  # a frame without faces breaks two pairs
    same = measure_flicker(tmp_path / "orig.mp4", tmp_path / "steady.mp4", boxes)
    assert same.frame_pairs == 9 and abs(same.ratio - 1) < 0.05 and same.original_change > 2
    jumps = measure_flicker(tmp_path / "orig.mp4", tmp_path / "jumpy.mp4", boxes)
    assert jumps.ratio > 3
