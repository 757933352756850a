"""The annotate stage on a real download folder: shards, status rows, resume after kill -9."""

from __future__ import annotations

import hashlib
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fdf.annotate.stage import AnnotateConfig, AnnotateError, annotate, read_download_rows
from fdf.shards import read_dataset_info, read_faces, read_status, split_for_photo

DATA = Path(__file__).parent / "data" / "shards"
PHOTOS = ["2437602091", "3989161", "4017305068", "1648807314"]


def write_download_dir(root: Path, photo_ids=PHOTOS, broken: str | None = None) -> Path:
    """A download folder as the downloader writes it: part-00000.parquet + _photos/ files."""
    (root / "_photos").mkdir(parents=True, exist_ok=True)
    rows = []
    for pid in photo_ids:
        source = DATA / f"{pid.split('-')[0]}.jpg"  # "ID-copyN" reuses photo ID under a new id
        data = source.read_bytes()
        if pid == broken:
            data = data[: len(data) // 8]  # truncated download: decodes to an error
        (root / "_photos" / f"{pid}.jpg").write_bytes(data)
        w, h = Image.open(source).size
        rows.append(
            {
                "photo_id": pid,
                "status": "ok",
                "sha256": hashlib.sha256(data).hexdigest(),
                "width": w,
                "height": h,
                "error": None,
                "path": f"_photos/{pid}.jpg",
                "source": "afw-test",
                "download_url": f"https://live.staticflickr.com/x/{pid}.jpg",
                "page_url": f"https://www.flickr.com/photos/afw/{pid}/",
                "owner_nsid": "1@N01",
                "owner_name": "AFW",
                "title": f"photo {pid}",
                "license_id": 4,
                "license_name": "CC BY 2.0",
                "license_url": "https://creativecommons.org/licenses/by/2.0/",
                "date_taken": None,
                "date_uploaded": None,
                "tags": ["face"],
            }
        )
    rows.append({**rows[0], "photo_id": "missing1", "status": "error", "error": "HTTP 404", "path": None})
    pq.write_table(pa.Table.from_pylist(rows), root / "part-00000.parquet")
    return root


CONFIG = dict(
    resolutions=(64, 128), detector="hog", photos_per_shard=2, val_fraction=0.5, analyzer_options={"embeddings": False}
)


def test_annotate_writes_faces_and_status(tmp_path):
    download = write_download_dir(tmp_path / "dl", broken="3989161")
    out = tmp_path / "ds"
    summary = annotate(download, out, AnnotateConfig(**CONFIG))
    assert summary.photos_total == 4 and summary.photos_failed == 1
    status = {r["photo_id"]: r for r in read_status(out).to_pylist()}
    assert set(status) == set(PHOTOS)
    assert status["3989161"]["status"] == "error" and "decode" in status["3989161"]["error"]
    faces = read_faces(out).to_pylist()
    assert faces, "hog finds the frontal AFW faces"
    assert summary.faces_written == len(faces) // 2
    for row in faces:
        res = row["resolution"]
        img = Image.open(io.BytesIO(row["image"]["bytes"]))
        assert img.size == (res, res)
        kp = np.array(row["keypoints"])
        vis = kp[kp[:, 2] > 0]
        assert np.all((vis[:, :2] >= 0) & (vis[:, :2] <= res))
        assert row["split"] == split_for_photo(row["photo_id"], 0.5)
        assert row["license_url"] == "https://creativecommons.org/licenses/by/2.0/"
        assert row["face_id"] == f"{row['photo_id']}_{row['face_index']}"
    assert pads.dataset(str(out / "data"), format="parquet").count_rows() == len(faces)
    info = read_dataset_info(out)
    assert info["counts"]["photos_by_status"]["error"] == 1
    # a rerun finds everything done and changes nothing
    again = annotate(download, out, AnnotateConfig(**CONFIG))
    assert again.photos_skipped == 4 and again.photos_processed == 0
    assert sorted(r["face_id"] for r in read_faces(out, columns=["face_id"]).to_pylist()) == sorted(
        r["face_id"] for r in faces
    )


def test_fdf_rebuild_uses_given_boxes(tmp_path):
    """Rows carrying ``fdf_faces`` (FDF metainfo) get exactly those faces, in that order."""
    annotations = {e["file"].split(".")[0]: e for e in json.loads((DATA / "annotations.json").read_text())}
    download = write_download_dir(tmp_path / "dl", ["1648807314"])
    table = pq.read_table(download / "part-00000.parquet").to_pylist()
    given = [
        {
            "bounding_box": f["bbox_xyxy"],
            "landmark": None,
            "original_bounding_box": f["bbox_xyxy"],
            "original_landmark": None,
        }
        for f in annotations["1648807314"]["faces"]
    ]
    table[0]["fdf_faces"] = given
    table[1]["fdf_faces"] = None
    pq.write_table(pa.Table.from_pylist(table), download / "part-00000.parquet")
    out = tmp_path / "ds"
    annotate(download, out, AnnotateConfig(**{**CONFIG, "resolutions": (64,)}))
    rows = sorted(read_faces(out).to_pylist(), key=lambda r: r["face_index"])
    assert np.allclose([r["bbox_photo"] for r in rows], [f["bounding_box"] for f in given], atol=1e-3)


def test_bad_download_folder_is_a_clear_error(tmp_path):
    with pytest.raises(AnnotateError, match="not found"):
        read_download_rows(tmp_path / "nope")
    (tmp_path / "dl").mkdir()
    pq.write_table(pa.table({"photo_id": ["1"]}), tmp_path / "dl" / "part-00000.parquet")
    with pytest.raises(AnnotateError, match="lacks download columns"):
        read_download_rows(tmp_path / "dl")
    with pytest.raises(AnnotateError, match="resolutions"):
        annotate(tmp_path / "dl", tmp_path / "ds", AnnotateConfig(resolutions=()))


def test_resume_after_kill_9(tmp_path):
    photos = [f"{pid}-copy{k}" for k in range(3) for pid in PHOTOS]
    download = write_download_dir(tmp_path / "dl", photos)
    out = tmp_path / "ds"
    args = [
        sys.executable,
        "-m",
        "fdf",
        "-q",
        "annotate",
        str(download),
        "--out",
        str(out),
        "--detector",
        "hog",
        "--resolutions",
        "64",
        "--photos-per-shard",
        "1",
        "--json",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "_status").glob("part-*.parquet"))) < 1:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "_status").glob("part-*.parquet")))
    assert 1 <= done_before < len(photos), "killed after the first shard and before the last"
    res = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["photos_skipped"] >= done_before
    status = read_status(out).to_pylist()
    assert sorted(r["photo_id"] for r in status) == sorted(photos)  # each photo exactly once
    face_ids = [r["face_id"] for r in read_faces(out, columns=["face_id"]).to_pylist()]
    assert len(face_ids) == len(set(face_ids))
    assert not list(out.rglob(".*.tmp"))


def test_download_table_keeps_only_used_columns_and_removals_mask_photos_and_owners(tmp_path):
    from fdf.annotate.stage import read_download_table, removed_mask
    from fdf.audit.takedown import RemovalLog

    rows = [
        {
            "photo_id": pid,
            "status": status,
            "path": f"_photos/{pid}.jpg",
            "owner_nsid": owner,
            "error": None,
            "http_status": 200,
        }
        for pid, status, owner in (
            ("3", "ok", "a@N00"),
            ("1", "ok", "b@N00"),
            ("2", "http_404", "a@N00"),
            ("4", "ok", None),
            ("5", "ok", "a@N00"),
        )
    ]
    (tmp_path / "dl").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "dl" / "part-00000.parquet")
    table = read_download_table(tmp_path / "dl")
    assert table.column("photo_id").to_pylist() == ["1", "3", "4", "5"]  # ok rows, sorted
    assert set(table.column_names) == {"photo_id", "path", "owner_nsid"}  # no status, error, http_status
    blocked = removed_mask(table, RemovalLog(photo_ids=frozenset({"1"}), owners=frozenset({"a@N00"})))
    assert blocked.tolist() == [True, True, False, True]
    assert not removed_mask(table, RemovalLog()).any()


def test_download_table_reads_shards_one_by_one_as_the_dataset_scanner_did(tmp_path):
    """Shards read one at a time (for memory) give the table the dataset scanner gave: the first
    shard's schema, a column one shard lacks as nulls, only 'ok' rows, sorted by photo_id."""
    import pyarrow.dataset as pads

    from fdf.annotate.stage import USED_DOWNLOAD_COLUMNS, read_download_table

    (tmp_path / "dl").mkdir()
    pq.write_table(
        pa.Table.from_pylist(
            [
                {"photo_id": "9", "status": "ok", "path": "a.jpg", "title": "t9"},
                {"photo_id": "2", "status": None, "path": "b.jpg", "title": "t2"},
                {"photo_id": "5", "status": "ok", "path": "c.jpg", "title": None},
            ]
        ),
        tmp_path / "dl" / "part-00000.parquet",
    )
    pq.write_table(
        pa.Table.from_pylist(
            [{"photo_id": "1", "status": "ok", "path": "d.jpg"}, {"photo_id": "3", "status": "http_404", "path": None}]
        ),
        tmp_path / "dl" / "part-00001.parquet",
    )
    table = read_download_table(tmp_path / "dl")
    ds = pads.dataset(str(tmp_path / "dl"), format="parquet")
    scanned = ds.to_table(
        columns=[c for c in USED_DOWNLOAD_COLUMNS if c in ds.schema.names], filter=pads.field("status") == "ok"
    )
    assert table.equals(scanned.sort_by("photo_id"))
    assert table.column("photo_id").to_pylist() == ["1", "5", "9"]
    assert table.column("title").to_pylist() == [None, None, "t9"]
