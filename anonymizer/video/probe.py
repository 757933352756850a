"""What a video file holds (streams, frame rate, audio codec), from the bundled ffmpeg's report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import imageio_ffmpeg

from fdf.errors import FdfError


class VideoReadError(FdfError):
    """A video file cannot be read by ffmpeg."""


@dataclass
class VideoInfo:
    """Streams of a video file as ffmpeg reports them."""

    video_codec: str | None
    audio_codec: str | None
    fps: float | None
    size: tuple[int, int] | None
    duration: float | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None


def _duration(text: str) -> float | None:
    m = re.search(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)", text)
    if not m:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _container_metadata(text: str) -> dict[str, str]:
    """Key/value lines of the input's first (container-level) Metadata block."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "Metadata:" and line.startswith("  ") and not line.startswith("    "):
            for entry in lines[i + 1 :]:
                if not entry.startswith("    ") or ":" not in entry:
                    break
                key, _, value = entry.strip().partition(":")
                out[key.strip()] = value.strip()
            break
    return out


def probe_video(path: str | Path) -> VideoInfo:
    """Streams of ``path``; raises VideoReadError when ffmpeg cannot open it or finds no video."""
    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: not a file")
    proc = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                          capture_output=True, text=True, errors="replace", timeout=60)
    text = proc.stderr
    video = re.search(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})", text)
    if not video:
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise VideoReadError(f"{path}: no readable video stream ({last})")
    audio = re.search(r"Stream #\d+:\d+.*?: Audio: (\w+)", text)
    fps = re.search(r"(\d+(?:\.\d+)?) fps", text)
    return VideoInfo(
        video_codec=video.group(1),
        audio_codec=audio.group(1) if audio else None,
        fps=float(fps.group(1)) if fps else None,
        size=(int(video.group(2)), int(video.group(3))),
        duration=_duration(text),
        metadata=_container_metadata(text),
    )
