"""A truncated video is reported as truncated, with no output and a non-zero exit, never as a
shorter success (issue 17, item 9). The decoder stops quietly where the data ends; the check
reads every packet against the container's index first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import pytest

from anonymizer.files import anonymize_paths
from anonymizer.inference import AnonymizeConfig
from anonymizer.video import VideoTruncatedError, check_complete

CLIP = Path(__file__).parent / "data" / "anonymize" / "again_320x240.mp4"


def _remux(dst: Path, *args: str) -> Path:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(CLIP), "-c", "copy", *args, str(dst)],
        check=True,
        timeout=60,
    )
    return dst


def _cut(src: Path, dst: Path, keep: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


@pytest.fixture
def clips(tmp_path):
    # faststart puts the index first, so a cut file still opens (with the index last it does not)
    mp4 = _remux(tmp_path / "whole.mp4", "-movflags", "+faststart")
    mkv = _remux(tmp_path / "whole.mkv")
    return {
        "mp4": mp4,
        "mkv": mkv,
        "cut_mp4": _cut(mp4, tmp_path / "cut.mp4"),
        "cut_mkv": _cut(mkv, tmp_path / "cut.mkv"),
    }


def test_check_complete_counts_whole_files_and_refuses_cut_ones(clips):
    assert check_complete(clips["mp4"]) == check_complete(clips["mkv"]) == 24
    with pytest.raises(VideoTruncatedError, match="partial file"):
        check_complete(clips["cut_mp4"])
    with pytest.raises(VideoTruncatedError, match="ended prematurely"):
        check_complete(clips["cut_mkv"])


def test_a_cut_mkv_fails_with_no_output(clips, tmp_path):
    report = anonymize_paths(
        [clips["cut_mkv"], clips["mkv"]], tmp_path / "out", AnonymizeConfig(mode="blur"), progress=False
    )
    assert report.counts() == {"done": 1, "skipped": 0, "failed": 1}
    assert "truncated" in report.failed[0].error
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["whole.mkv"]


def test_cli_reports_a_truncated_mp4_and_exits_non_zero(clips, tmp_path):
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "fdf", "anonymize", str(clips["cut_mp4"]), "--out", str(out), "--mode", "blur"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    assert "truncated or damaged video" in res.stderr and "Traceback" not in res.stderr
    assert "anonymized 0 files" in res.stdout
    assert not out.exists() or not any(out.rglob("*"))  # no output, no temporary left behind
