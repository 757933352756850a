"""benchmarks/bench_anonymize.py photo sets: dlib imglab XML beside AFW annotations.json, as xyxy boxes."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_anonymize.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_anonymize", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TESTING = """<?xml version='1.0' encoding='ISO-8859-1'?>
<dataset><name>t</name><images>
  <image file='a.jpg' width='100' height='80'>
    <box top='10' left='20' width='30' height='32'/>
    <box top='40' left='60' width='12' height='12' ignore='1'/>
  </image>
  <image file='sub/b.jpg'>
    <box top='5' left='6' width='50' height='50'>
      <part name='00' x='10' y='20'/>
    </box>
  </image>
  <image file='empty.jpg'/>
</images></dataset>
"""

# The same photo in a second file (as dlib's *_with_face_landmarks.xml): one box moved by 1 px, one new.
SECOND = """<dataset><images>
  <image file='a.jpg'>
    <box top='10' left='21' width='30' height='32'/>
    <box top='50' left='5' width='15' height='15'/>
  </image>
</images></dataset>
"""


def test_imglab_boxes_become_xyxy_and_ignored_boxes_are_left_out(bench, tmp_path):
    xml = tmp_path / "testing.xml"
    xml.write_text(TESTING, encoding="latin-1")
    entries = bench.read_imglab(xml)
    assert [e["file"] for e in entries] == [tmp_path / "a.jpg", tmp_path / "sub" / "b.jpg", tmp_path / "empty.jpg"]
    assert entries[0]["boxes"] == [[20.0, 10.0, 50.0, 42.0]]
    assert entries[0]["ignored"] == [[60.0, 40.0, 72.0, 52.0]]
    assert entries[1]["boxes"] == [[6.0, 5.0, 56.0, 55.0]] and entries[2]["boxes"] == []

    photos, described = bench.load_photo_set([xml])
    assert [(len(e["boxes"]), e["ignored"]) for e in photos] == [(1, 1), (1, 0), (0, 0)]
    assert "testing.xml" in described


def test_several_xml_files_or_their_folder_merge_one_face_once(bench, tmp_path):
    (tmp_path / "testing.xml").write_text(TESTING)
    (tmp_path / "testing_with_face_landmarks.xml").write_text(SECOND)
    for paths in ([tmp_path / "testing.xml", tmp_path / "testing_with_face_landmarks.xml"], [tmp_path]):
        photos, _ = bench.load_photo_set(paths)
        a = next(e for e in photos if e["file"].name == "a.jpg")
        assert a["boxes"] == [[20.0, 10.0, 50.0, 42.0], [5.0, 50.0, 20.0, 65.0]]  # first file's box kept
        assert a["ignored"] == 1
        assert sum(len(e["boxes"]) for e in photos) == 3


def test_afw_folder_still_reads_annotations_json(bench, tmp_path):
    (tmp_path / "annotations.json").write_text(
        json.dumps([{"file": "images/x.jpg", "width": 10, "height": 10, "faces": [{"bbox_xyxy": [1, 2, 5, 6]}]}])
    )
    photos, described = bench.load_photo_set([tmp_path])
    assert photos == [{"file": tmp_path / "images" / "x.jpg", "boxes": [[1, 2, 5, 6]], "ignored": 0}]
    assert described.endswith("annotations.json")


def test_boxes_are_cut_to_the_image_and_bucketed_by_width(bench):
    assert bench.clip_box([-5, -3, 20, 30], 10, 25) == [0.0, 0.0, 10.0, 25.0]
    assert bench.clip_box([12, 0, 20, 5], 10, 25) is None
    assert [bench.size_bucket([0, 0, w, 1]) for w in (19.5, 20, 39, 40)] == [
        "< 20 px",
        "20-39 px",
        "20-39 px",
        ">= 40 px",
    ]


def test_unknown_photo_set_is_refused(bench, tmp_path):
    with pytest.raises(SystemExit):
        bench.load_photo_set([tmp_path])  # neither annotations.json nor .xml
