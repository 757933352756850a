"""`fdf evaluate-privacy`: leaks, faces anonymized and metadata left, on real photos and a clip."""

import json
import shutil
from pathlib import Path

from PIL import Image

from anonymizer.inference import AnonymizeConfig, anonymize_paths
from anonymizer.privacy import PrivacyConfig, evaluate_privacy
from fdf.cli import main
from tests.test_anonymize_io import jpeg_with_gps

DATA = Path(__file__).parent / "data" / "anonymize"


def make_originals(root: Path) -> Path:
    root.mkdir()
    jpeg_with_gps(DATA / "astronaut.jpg", root / "astronaut.jpg")
    Image.open(DATA / "einstein.jpg").save(root / "einstein.png")
    return root


def test_unchanged_copies_leak_every_face_and_keep_gps(tmp_path, capsys):
    originals = make_originals(tmp_path / "orig")
    copies = tmp_path / "copies"
    shutil.copytree(originals, copies)
    rc = main(["-q", "evaluate-privacy", str(originals), str(copies), "--json"])
    assert rc == 1
    report = json.loads(capsys.readouterr().out)
    totals = report["totals"]
    assert totals["faces_described"] >= 2
    assert totals["leaks"] == totals["faces_described"] and totals["leak_rate"] == 1.0
    assert totals["faces_anonymized"] == 0
    by_file = {f["file"]: f for f in report["files"]}
    assert "gps" in by_file["astronaut.jpg"]["metadata"]
    assert totals["files_with_metadata"] == 1
    assert 0.0 <= totals["chance_match_rate"] <= 1.0  # two files: one cross-file pair or more


def test_masked_outputs_have_no_leak_and_no_metadata(tmp_path):
    originals = make_originals(tmp_path / "orig")
    out = tmp_path / "anon"
    assert anonymize_paths([originals], out, AnonymizeConfig(mode="mask")).ok
    report = evaluate_privacy(originals, out)
    totals = report.totals()
    assert totals["leaks"] == 0 and totals["files_with_metadata"] == 0
    assert totals["faces_anonymized"] == totals["faces"] >= 2
    assert report.clean


def test_missing_outputs_and_videos(tmp_path):
    originals = tmp_path / "orig"
    originals.mkdir()
    shutil.copy(DATA / "again_320x240.mp4", originals / "clip.mp4")
    shutil.copy(DATA / "astronaut.jpg", originals / "not-anonymized.jpg")
    same = tmp_path / "same"
    same.mkdir()
    shutil.copy(DATA / "again_320x240.mp4", same / "clip.mp4")
    report = evaluate_privacy(originals, same, PrivacyConfig(frame_step=8))
    totals = report.totals()
    assert report.missing == ["not-anonymized.jpg"] and not report.clean
    assert totals["video_frames_sampled"] == 3  # frames 0, 8, 16 of 24
    assert totals["video_frames_with_leak"] == 3
    assert totals["chance_match_rate"] is None  # faces from one file only: no pair of different people
