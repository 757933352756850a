"""Issue 3's acceptance path on a few hand-annotated Flickr photos: `fdf search` -> `fdf download`
-> `fdf annotate` through the loopback server, scored against the annotations."""

import io
from pathlib import Path

import numpy as np
from PIL import Image

from fdf.annotate.e2e import run_e2e
from fdf.annotate.evaluate import boxes_match, match_faces, score_annotations
from fdf.shards import read_faces

DATA = Path(__file__).parent / "data" / "shards"


def test_search_download_annotate_finds_the_annotated_faces(tmp_path):
    score, timings = run_e2e(DATA, tmp_path, resolutions="128,64")
    assert score.annotated_faces >= 4
    assert score.recall == 1.0
    assert score.yaw_faces >= 2 and score.yaw_rate >= 0.5
    faces = read_faces(tmp_path / "faces-centerface")
    assert set(faces["resolution"].to_pylist()) == {64, 128}
    for row in faces.to_pylist():
        img = Image.open(io.BytesIO(row["image"]["bytes"]))
        assert img.size == (row["resolution"], row["resolution"])
        kp = np.array(row["keypoints"])
        visible = kp[kp[:, 2] > 0]
        assert ((visible[:, :2] >= 0) & (visible[:, :2] <= row["resolution"])).all()


def test_matching_rule_is_one_to_one():
    a = [[0, 0, 100, 100], [200, 0, 300, 100]]
    f = [[10, 10, 110, 110], [5, 5, 95, 95], [500, 500, 600, 600]]
    assert boxes_match(a[0], f[0]) and not boxes_match(a[0], f[2])
    pairs = match_faces(a, f)
    assert pairs == [(0, 1)]  # the closer of two candidates; box 1 has none
    ann = [
        {
            "file": "images/p1.jpg",
            "faces": [
                {"bbox_xyxy": a[0], "yaw_pitch_roll_deg": [30, 0, 0]},
                {"bbox_xyxy": [0, 0, 20, 20], "yaw_pitch_roll_deg": [0, 0, 0]},
            ],
        }
    ]
    s = score_annotations({"p1": [{"bbox_photo": f[1], "yaw": 50.0}]}, ann)
    assert (s.annotated_faces, s.found_faces, s.yaw_faces, s.yaw_within) == (1, 1, 1, 0)
