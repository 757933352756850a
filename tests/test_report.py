"""fdf.report on a real small build (bundled demo photos through the loopback server)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fdf.flickr_server import Catalog, FlickrServer, demo_catalog
from fdf.report import make_report
from fdf.report.samples import KEYPOINT_COLORS, draw_keypoints
from fdf.shards import read_faces


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    from pipelines import run_build
    from pipelines.demo import demo_build_config

    usable = [p for p in sorted(demo_catalog(), key=lambda p: p.id) if p.license > 0 and "no_cv" not in p.tags]
    out = tmp_path_factory.mktemp("report_build")
    with FlickrServer(Catalog(usable[4:9])) as srv:  # includes a photo with three people
        run_build(demo_build_config(srv.rest_url, out, jobs=1, report=True), out, progress=False)
    return out


def test_build_report_has_every_figure_and_true_counts(build):
    index = (build / "report" / "index.html").read_text()
    report = json.loads((build / "report" / "report.json").read_text())
    expected = {
        "stages.png",
        "failures.png",
        "licenses.png",
        "yaw.png",
        "pitch.png",
        "expression.png",
        "face_size.png",
        "samples.png",
    }
    assert set(report["figures"]) == expected
    assert set(re.findall(r'<img src="([^"]+)"', index)) == expected
    for name in expected:
        with Image.open(build / "report" / name) as img:
            assert img.format == "PNG" and img.width > 100 and img.height > 100
    selected = read_faces(build / "selected", columns=["face_id", "photo_id"]).to_pandas().drop_duplicates("face_id")
    decisions = pd.read_parquet(build / "selected" / "_decisions.parquet")
    assert report["counts"]["faces"] == len(selected) == decisions["kept"].sum()
    assert report["counts"]["faces detected"] == len(decisions)
    for reason, n in decisions["reason"].dropna().value_counts().items():
        assert report["counts"][f"dropped: {reason}"] == n
    assert "<h2>Stages</h2>" in index and "annotate" in index


def test_sample_grid_shows_every_selected_face(build):
    n = len(set(read_faces(build / "selected", columns=["face_id"]).column("face_id").to_pylist()))
    with Image.open(build / "report" / "samples.png") as img:
        assert img.width == 8 * 128 and img.height == 128 * ((n + 7) // 8)


def test_draw_keypoints_marks_visible_points_only():
    crop = np.zeros((128, 128, 3), np.uint8)
    out = draw_keypoints(crop, [[64, 40, 1], [30, 30, 0]], bbox=[20, 20, 100, 100])
    assert tuple(out[40, 64]) == KEYPOINT_COLORS[0]
    assert tuple(out[30, 30]) == (0, 0, 0)  # not visible: not drawn
    assert tuple(out[20, 60]) == (255, 255, 255)  # the face box
    assert crop.sum() == 0  # the input is left alone


def test_report_on_a_face_dataset_and_cli_errors(build, tmp_path):
    result = make_report(build / "faces", tmp_path / "rep")
    assert "samples.png" in result.figures and "stages.png" not in result.figures
    faces = len(set(read_faces(build / "faces", columns=["face_id"]).column("face_id").to_pylist()))
    assert result.counts["faces"] == faces
    proc = subprocess.run(
        [sys.executable, "-m", "fdf", "report", str(tmp_path / "nothing"), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "not a folder" in proc.stderr
