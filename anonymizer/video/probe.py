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


class VideoTruncatedError(VideoReadError):
    """A video file ends before its container says it does (a cut download, a copy stopped early)."""


#: What ffmpeg's demuxers say about a file that is cut short or whose packets are damaged
#: (mov/mp4: "partial file", "corrupt input packet"; matroska/webm: "File ended prematurely").
TRUNCATION_SIGNS = (
    "partial file",
    "ended prematurely",
    "corrupt input packet",
    "truncated",
    "moov atom not found",
    "invalid data found when processing input",
)


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
    proc = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
    )
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


def check_complete(path: str | Path, timeout: float = 600) -> int:
    """Read every video packet of ``path`` (no decoding: fast) and return how many there are.

    A decoder quietly stops at the end of the data it has, so a truncated file would otherwise
    give a shorter output and no error; the demuxer, which knows the container's index, says
    so. Raises VideoTruncatedError when it does, or when ffmpeg fails.
    """
    path = Path(path)
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-stats",
        "-i",
        str(path),
        "-map",
        "0:v:0",
        "-c",
        "copy",
        "-f",
        "null",
        "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout)
    lines = [line.strip() for line in re.split(r"[\r\n]+", proc.stderr) if line.strip()]
    problems = [line for line in lines if any(sign in line.lower() for sign in TRUNCATION_SIGNS)]
    if problems or proc.returncode != 0:
        detail = problems[0] if problems else (lines[-1] if lines else f"ffmpeg exit status {proc.returncode}")
        detail = re.sub(r"^\[[^]]*\]\s*", "", detail)  # "[in#0/mov,mp4 @ 0x...] partial file" -> "partial file"
        raise VideoTruncatedError(f"{path}: truncated or damaged video ({detail})")
    counts = re.findall(r"frame=\s*(\d+)", proc.stderr)
    return int(counts[-1]) if counts else 0
