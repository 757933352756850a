"""`fdf evaluate-privacy`: leaks, faces anonymized and metadata left, on real photos and a clip."""

import json
import shutil
from pathlib import Path

from PIL import Image

from anonymizer.files import anonymize_paths
from anonymizer.inference import AnonymizeConfig
from anonymizer.privacy import PrivacyConfig, evaluate_privacy
from pipelines.cli import main
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


def test_given_boxes_are_described_as_the_output_is():
    # A hand-drawn box is looser than CenterFace's: dlib's landmarks fitted in it describe the
    # same face differently. The original must be described from the detector's box at that
    # place, as the output is, or an unchanged face would not even count as the same person.
    from anonymizer.inference import read_image
    from anonymizer.privacy import PrivacyEvaluator

    rgb = read_image(DATA / "astronaut.jpg").rgb
    evaluator = PrivacyEvaluator(PrivacyConfig())
    (face,) = [f for f in evaluator.analyzer.analyze(rgb) if f.embedding is not None]
    x0, y0, x1, y1 = face.bbox
    w, h = x1 - x0, y1 - y0
    # taller, with the forehead, as hand annotations often are: described from it, the same face is 0.79 away
    loose = [x0 - 0.2 * w, y0 - 0.7 * h, x1 + 0.2 * w, y1 - 0.1 * h]
    (given,) = evaluator.original_faces(rgb, [loose])
    assert list(given.bbox) == loose  # the annotation still says where the face is
    verdict = evaluator.compare_arrays(rgb, rgb.copy(), known_boxes=[loose])
    assert verdict.leaks == 1 and verdict.distances[0] < 0.05
