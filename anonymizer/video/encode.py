"""Encoding and decoding a video file with the bundled ffmpeg (the first pass and every redraw)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from .config import CONTAINERS, VideoConfig
from .probe import VideoInfo


@dataclass(frozen=True)
class Encoding:
    """How one video is encoded: its source (audio is muxed back from it), the source's probe,
    the frame size (width, height), the options, and the output container's suffix. The first
    pass and each redraw after the check of the encoded file encode alike."""

    src: Path
    info: VideoInfo
    size: tuple[int, int]
    config: VideoConfig
    out_suffix: str

    def open_writer(self, dst: Path):
        """An ffmpeg writer into ``dst``, primed: ``send`` it RGB frames, then ``close`` it."""
        muxer, _ = CONTAINERS[self.out_suffix]
        params = ["-f", muxer, "-map_metadata", "-1", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        if self.config.codec in ("libx264", "libx265", "libvpx-vp9"):
            params += ["-crf", str(self.config.crf)]
        if self.config.codec in ("libx264", "libx265"):
            params += ["-preset", self.config.preset]
        audio_codec = _audio_codec(self.info, self.out_suffix, self.config.keep_audio)
        gen = imageio_ffmpeg.write_frames(
            str(dst),
            self.size,
            fps=self.info.fps,
            codec=self.config.codec,
            quality=None,
            macro_block_size=1,
            output_params=params,
            audio_path=str(self.src) if audio_codec else None,
            audio_codec=audio_codec,
        )
        gen.send(None)
        return gen


def _audio_codec(info: VideoInfo, out_suffix: str, keep_audio: bool) -> str | None:
    """ffmpeg audio codec for the output ("copy" when the container takes the stream as is), or None."""
    if not keep_audio or not info.has_audio:
        return None
    _, copyable = CONTAINERS[out_suffix]
    return "copy" if copyable is None or info.audio_codec in copyable else "aac"


def decode_frames(path: Path, width: int, height: int):
    """Frames of ``path`` as RGB arrays cropped to ``width`` x ``height`` (the encoder pads to even sizes)."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    try:
        w, h = reader.__next__()["size"]
        for raw in reader:
            yield np.ascontiguousarray(np.frombuffer(raw, np.uint8).reshape(h, w, 3)[:height, :width])
    finally:
        reader.close()
