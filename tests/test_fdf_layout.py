"""FDF layout: export real AFW crops as DeepPrivacy v1 reads them, import them back."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from test_shards import build_dataset

from fdf.fdf_layout import FdfLayoutError, export_fdf, import_fdf
from fdf.shards import read_dataset_info, read_faces
from fdf.torch_data import FaceShardDataset


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    build_dataset(src, resolutions=(64, 128), val_fraction=0.5)
    out = tmp_path_factory.mktemp("fdf")
    summary = export_fdf(src, out)
    return src, out, summary


def test_export_writes_fdf_files(exported):
    src, out, summary = exported
    faces = read_faces(src, columns=["face_id", "split", "resolution", "keypoints", "bbox"]).to_pylist()
    n_train = len({f["face_id"] for f in faces if f["split"] == "train"})
    assert summary.faces["train"] == n_train and summary.resolutions == [64, 128]
    folder = out / "train"
    landmarks = np.load(folder / "landmarks.npy")
    assert landmarks.shape == (n_train, 7, 2) and landmarks.dtype == np.float32
    meta = json.loads((folder / "fdf_metainfo.json").read_text())
    assert sorted(meta, key=int) == [str(i) for i in range(n_train)]
    for res in (64, 128):
        boxes = torch.load(folder / "bounding_box" / f"{res}.torch")
        assert boxes.shape == (n_train, 4) and boxes.dtype == torch.int64
        for idx in range(n_train):
            img = Image.open(folder / "images" / str(res) / f"{idx}.png")
            assert img.size == (res, res)
            row = next(f for f in faces if f["face_id"] == meta[str(idx)]["face_id"] and f["resolution"] == res)
            assert boxes[idx].tolist() == [round(v) for v in row["bbox"]]
            # FDF stores keypoints as fractions of the crop side
            assert np.allclose(landmarks[idx] * res, np.array(row["keypoints"])[:, :2], atol=1e-3)
    first = meta["0"]
    assert first["category"] == "training" and first["license_url"].startswith("https://creativecommons.org")
    assert np.array(first["landmark"]).shape == (7, 2)


def test_import_round_trip(exported, tmp_path):
    src, out, _ = exported
    counts = import_fdf(out, tmp_path / "back")
    before = {(r["face_id"], r["resolution"]): r for r in read_faces(src).to_pylist()}
    after = {(r["face_id"], r["resolution"]): r for r in read_faces(tmp_path / "back").to_pylist()}
    assert set(after) == set(before)
    assert counts["faces"] == len({k[0] for k in before})
    assert read_dataset_info(tmp_path / "back")["counts"] == counts
    for key, a in after.items():
        b = before[key]
        assert a["image"]["bytes"] == b["image"]["bytes"]
        assert a["split"] == b["split"] and a["photo_id"] == b["photo_id"]
        assert a["bbox"] == [float(round(v)) for v in b["bbox"]]
        visible = np.array(b["keypoints"])[:, 2] > 0
        assert np.allclose(np.array(a["keypoints"])[visible, :2], np.array(b["keypoints"])[visible, :2], atol=1e-3)
        assert a["license_url"] == b["license_url"] and a["owner_name"] == b["owner_name"]
        assert np.allclose(a["bbox_photo"], b["bbox_photo"], atol=1e-3)


def test_torch_dataset_reads_fdf_folder(exported):
    _, out, summary = exported
    ds = FaceShardDataset(out, 64, split="train")
    assert len(ds) == summary.faces["train"]
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.uint8
    assert item["keypoints"].shape == (7, 3)


def test_import_rejects_non_fdf_folder(tmp_path):
    with pytest.raises(FdfLayoutError, match="not an FDF folder"):
        import_fdf(tmp_path, tmp_path / "out")


def test_cli_export_and_import(exported, tmp_path):
    src, _, _ = exported
    cmd = [sys.executable, "-m", "fdf", "-q"]
    res = subprocess.run(
        cmd + ["export", str(src), "--out", str(tmp_path / "fdf"), "--resolutions", "64", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["resolutions"] == [64]
    res = subprocess.run(
        cmd + ["import", str(tmp_path / "fdf"), "--out", str(tmp_path / "ds"), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["by_resolution"] == {"64": json.loads(res.stdout)["faces"]}


def test_cli_import_error_is_one_line(tmp_path, capsys):
    from pipelines.cli import main

    assert main(["import", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "not an FDF folder" in err and err.count("\n") == 1
