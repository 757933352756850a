"""FDF metainfo -> one manifest row per photo, with faces, optionally joined with a YFCC dump."""

import json
from pathlib import Path

import pytest

from fdf.errors import SourceError
from fdf.manifest import read_manifest, write_manifest
from fdf.sources.fdf_metainfo import (
    URL_FROM_YFCC,
    URL_NEEDS_GETSIZES,
    as_points,
    fdf_metainfo_to_manifest,
    photo_id_from_url,
)

DATA = Path(__file__).parent / "data" / "sources"
META = DATA / "fdf_metainfo_sample.json"


def test_faces_grouped_by_photo_and_round_trip(tmp_path):
    raw = json.loads(META.read_text(encoding="utf-8"))
    df, stats = fdf_metainfo_to_manifest(META)
    write_manifest(df, tmp_path / "m.parquet")
    m = read_manifest(tmp_path / "m.parquet")
    by_photo = {}
    for key, face in raw.items():
        by_photo.setdefault(photo_id_from_url(face["photo_url"]), []).append(int(key))
    assert stats.faces == len(raw) and stats.photos == len(by_photo) == len(m)
    assert set(m["source"]) == {"fdf"}
    for _, row in m.iterrows():
        faces = list(row["fdf_faces"])
        assert [f["fdf_index"] for f in faces] == by_photo[row["photo_id"]]
        assert row["fdf_face_count"] == len(faces)
        for f in faces:
            src = raw[str(f["fdf_index"])]
            assert list(f["original_bounding_box"]) == src["original_bounding_box"]
            assert [list(p) for p in f["original_landmark"]] == src["original_landmark"]
            assert len(f["landmark"]) == 7 and f["category"] == src["category"]
    first = m.set_index("photo_id").loc["6985418911"]
    assert first["owner_name"] == "guckxzs" and first["owner_nsid"] == "39089491@N00"
    assert first["license_id"] == 1 and first["title"] == "Café at noon"
    # Face 1 stores its landmark flat (x0, y0, x1, y1, ...): read as the same pairs as face 0.
    f0, f1 = list(first["fdf_faces"])
    assert [list(p) for p in f1["landmark"]] == [list(p) for p in f0["landmark"]]


def test_without_dump_urls_are_marked_for_getsizes():
    df, stats = fdf_metainfo_to_manifest(META)
    assert df["download_url"].isna().all()
    assert set(df["url_status"]) == {URL_NEEDS_GETSIZES} and stats.needs_url == len(df)


@pytest.mark.parametrize("dump", ["yfcc_23col.tsv.bz2", "yfcc_25col.tsv"])
def test_join_with_yfcc_dump_fills_urls(dump):
    df, stats = fdf_metainfo_to_manifest(META, DATA / dump)
    lines = [line.split("\t") for line in (DATA / "yfcc_23col.tsv").read_text(encoding="utf-8").splitlines()]
    for _, row in df.iterrows():
        line = lines[int(row["yfcc_line"])]
        assert row["photo_id"] == line[0]
        assert row["download_url"] == line[14] and row["secret"] == line[19] and row["farm"] == line[18]
    assert stats.yfcc_matched == len(df) and stats.needs_url == 0
    assert set(df["url_status"]) == {URL_FROM_YFCC}


def test_dump_line_with_another_photo_is_not_joined(tmp_path):
    raw = json.loads(META.read_text(encoding="utf-8"))
    raw["2"]["yfcc100m_line_idx"] = "3"  # line 3 is a different photo
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps(raw), encoding="utf-8")
    df, stats = fdf_metainfo_to_manifest(meta, DATA / "yfcc_23col.tsv")
    assert stats.yfcc_id_mismatches == 1
    assert df.set_index("photo_id").loc["2944237285", "url_status"] == URL_NEEDS_GETSIZES


def test_errors_name_file_and_place(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "0": {"photo_url": "x",\n  }\n}', encoding="utf-8")
    with pytest.raises(SourceError, match=r"bad\.json: line 3, column 3: invalid JSON"):
        fdf_metainfo_to_manifest(bad)
    bad.write_text(json.dumps({"7": {"photo_url": "http://example.org/no-id"}}), encoding="utf-8")
    with pytest.raises(SourceError, match=r"face 7: cannot find a Flickr photo id"):
        fdf_metainfo_to_manifest(bad)
    bad.write_text(json.dumps({"7": {"photo_url": "http://www.flickr.com/photos/a/1/", "landmark": [1, 2, 3]}}))
    with pytest.raises(SourceError, match=r"face 7: landmarks must be"):
        fdf_metainfo_to_manifest(bad)
    with pytest.raises(SourceError, match="not found"):
        fdf_metainfo_to_manifest(tmp_path / "missing.json")


def test_url_and_landmark_formats():
    assert photo_id_from_url("https://www.flickr.com/photos/some_alias/2944237285/in/set-1") == "2944237285"
    assert photo_id_from_url("http://farm4.staticflickr.com/3200/2944237285_b7d0c1e2f3.jpg") == "2944237285"
    assert photo_id_from_url("https://example.org/2944237285.jpg") is None
    assert as_points([[1, 2, 3], [4, 5, 6]], "x") == [[1, 4], [2, 5], [3, 6]]
