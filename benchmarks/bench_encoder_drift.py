"""How far lossy encoding moves dlib's descriptor of the same face, at the same box.

    python benchmarks/bench_encoder_drift.py CLIP [CLIP ...]

Every 5th frame's faces (CenterFace at 0.5, 1600 px) are described on the decoded frame and on
(a) the clip re-encoded as ``fdf anonymize`` writes it (x264, CRF 18, preset medium) and (b) JPEG
round trips at 85, 70 and 50 (``anonymizer.inference.verify.lossy_copy``). Prints median, p95 and
max distance per kind (BENCHMARKS.md, anonymizer run 5).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from anonymizer.inference import verify
from fdf.annotate.identity import embedding_distance


def frames_of(path: str) -> tuple[list[np.ndarray], dict]:
    reader = imageio_ffmpeg.read_frames(path)
    meta = next(reader)
    w, h = meta["size"]
    return [np.frombuffer(f, np.uint8).reshape(h, w, 3).copy() for f in reader], meta


def x264_copy(frames: list[np.ndarray], meta: dict) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    path = Path(tempfile.mkdtemp()) / "x264.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (w, h),
        fps=meta["fps"],
        codec="libx264",
        quality=None,
        macro_block_size=1,
        output_params=["-crf", "18", "-preset", "medium", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"],
    )
    writer.send(None)
    for frame in frames:
        writer.send(frame)
    writer.close()
    return [np.ascontiguousarray(f[:h, :w]) for f in frames_of(str(path))[0]]


def main() -> None:
    drift: dict[str, list[float]] = {"x264 crf 18": [], "jpeg 85": [], "jpeg 70": [], "jpeg 50": []}
    for clip in sys.argv[1:]:
        frames, meta = frames_of(clip)
        encoded = x264_copy(frames, meta)
        for i in range(0, len(frames), 5):
            copies = {"x264 crf 18": encoded[i], **{f"jpeg {q}": verify.lossy_copy(frames[i], q) for q in (85, 70, 50)}}
            for box in verify.scene_faces(frames[i]):
                before = verify.describe(frames[i], box)
                for kind, copy in copies.items():
                    drift[kind].append(embedding_distance(before, verify.describe(copy, box)))
    for kind, values in drift.items():
        v = np.array(values)
        print(f"{kind}: {len(v)} faces, median {np.median(v):.3f}, p95 {np.percentile(v, 95):.3f}, max {v.max():.3f}")


if __name__ == "__main__":
    main()
