"""Live input (issue 15): an ffmpeg source in, an anonymized stream out, latency reported; a lavfi
source, a looped clip through a named pipe, standard input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import imageio_ffmpeg
import numpy as np
import pytest

from anonymizer.inference import DetectConfig, find_faces
from anonymizer.video.live import LiveConfig, LiveError, is_live_source
from tests.test_video_anonymize import CLIP, frames_of

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def fdf(*args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "fdf", "-q", "anonymize", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def hidden(original: np.ndarray, output: np.ndarray) -> bool:
    (face,) = find_faces(original, DetectConfig(threshold=0.5))
    x0, y0, x1, y1 = (int(v) for v in face.bbox)
    return (np.abs(original[y0:y1, x0:x1].astype(int) - output[y0:y1, x0:x1]).max(axis=2) > 12).mean() > 0.8


def test_lavfi_source_at_its_own_rate_with_bounded_latency(tmp_path):
    out = tmp_path / "live.mp4"
    run = fdf(
        "--input-url",
        "testsrc2=size=320x240:rate=25:duration=2",
        "--input-format",
        "lavfi",
        "--realtime",
        "--lookahead",
        "0",
        "--mode",
        "blur",
        "--out",
        out,
        "--json",
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["frames_in"] == 50 and result["frames_out"] + result["frames_dropped"] == 50
    assert result["frames_out"] >= 25 and set(result["latency_ms"]) == {"p50", "p95", "max"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["max"] < 2000
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == result["frames_out"]


def test_a_looped_clip_through_a_named_pipe_is_anonymized_frame_by_frame(tmp_path):
    fifo = tmp_path / "in.pipe"
    os.mkfifo(fifo)
    feeder = subprocess.Popen(
        [FFMPEG, "-v", "error", "-y", "-stream_loop", "2", "-i", str(CLIP), "-c", "copy", "-f", "matroska", str(fifo)]
    )
    try:
        run = fdf("--input-url", fifo, "--mode", "mask", "--out", tmp_path / "out.mp4", "--json")
    finally:
        feeder.wait(timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["frames_in"] == result["frames_out"] == 72 and result["frames_dropped"] == 0  # a pipe waits
    originals = frames_of(CLIP) * 3
    outputs = frames_of(tmp_path / "out.mp4")
    assert len(outputs) == 72
    assert all(hidden(a, b) for a, b in zip(originals[::6], outputs[::6]))


def test_standard_input(tmp_path):
    with open(CLIP, "rb") as clip:
        run = fdf(
            "--input-url",
            "-",
            "--mode",
            "mask",
            "--max-frames",
            "12",
            "--out",
            tmp_path / "out.mp4",
            "--json",
            stdin=clip,
        )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["frames_out"] == 12
    assert hidden(frames_of(CLIP)[0], frames_of(tmp_path / "out.mp4")[0])


def test_bad_live_inputs_are_clear_errors(tmp_path):
    run = fdf("--input-url", tmp_path / "missing.mp4", "--out", tmp_path / "o.mp4")
    assert run.returncode == 2 and "cannot open the input" in run.stderr and "Traceback" not in run.stderr
    run = fdf("--input-url", "http://127.0.0.1:1/clip.mp4", "--out", tmp_path / "o.mp4")  # nothing listens
    assert run.returncode == 2 and "Connection refused" in run.stderr and "configuration:" not in run.stderr
    run = fdf("--input-url", "testsrc2=duration=1", "--input-format", "lavfi", "--out", tmp_path / "no" / "o.mp4")
    assert run.returncode == 2 and "does not exist" in run.stderr and not (tmp_path / "no").exists()
    run = fdf(CLIP, "--input-url", "x", "--out", tmp_path / "o.mp4")
    assert run.returncode == 2 and "not both" in run.stderr
    with pytest.raises(LiveError):
        LiveConfig(max_queue=0)
    assert is_live_source("rtsp://cam/1", None, False) and is_live_source("/dev/video0", "v4l2", False)
    assert not is_live_source("clip.mp4", None, False) and not is_live_source("-", None, False)
