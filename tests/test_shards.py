"""Face shards: write real AFW crops, read them back, check format, metadata and split."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fdf.shards import (
    FACE_SCHEMA,
    dataset_counts,
    face_table,
    list_shards,
    read_dataset_info,
    read_faces,
    split_for_photo,
    write_dataset_json,
    write_face_shard,
    write_status,
)
from fdf.shards.rows import face_rows
from fdf.shards.writer import status_path, write_face_files

DATA = Path(__file__).parent / "data" / "shards"


def afw_photos() -> list[dict]:
    """The AFW test photos with their annotations, as download-table-like rows."""
    entries = json.loads((DATA / "annotations.json").read_text())
    photos = []
    for e in entries:
        photo_id = e["file"].split(".")[0]
        photos.append(
            {
                "photo_id": photo_id,
                "path": e["file"],
                "width": e["width"],
                "height": e["height"],
                "source": "afw-test",
                "license_id": 4,
                "license_name": "CC BY 2.0",
                "license_url": "https://creativecommons.org/licenses/by/2.0/",
                "owner_nsid": "afw",
                "owner_name": "AFW",
                "title": f"AFW {photo_id}",
                "page_url": f"https://www.flickr.com/photos/afw/{photo_id}/",
                "faces": e["faces"],
            }
        )
    return photos


def square_crop(image: np.ndarray, bbox, resolution: int) -> tuple[np.ndarray, list[float]]:
    """A square crop twice the face box's larger side, centred on it, zero-padded, resized."""
    x0, y0, x1, y1 = bbox
    side = 2 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    box = [int(round(cx - side / 2)), int(round(cy - side / 2))]
    box += [box[0] + int(round(side)), box[1] + int(round(side))]
    h, w = image.shape[:2]
    canvas = np.zeros((box[3] - box[1], box[2] - box[0], 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(box[0], 0), max(box[1], 0), min(box[2], w), min(box[3], h)
    canvas[sy0 - box[1] : sy1 - box[1], sx0 - box[0] : sx1 - box[0]] = image[sy0:sy1, sx0:sx1]
    crop = np.asarray(Image.fromarray(canvas).resize((resolution, resolution), Image.BILINEAR))
    return crop, [float(v) for v in box]


def afw_face(face: dict, index: int) -> dict:
    """An analysis-like record from AFW's annotation: eyes visible, other keypoints absent."""
    kp = np.zeros((7, 3))
    for slot, eye in ((1, face["eyes"][0]), (2, face["eyes"][1])):
        if eye is not None:
            kp[slot] = [eye[0], eye[1], 1.0]
    yaw, pitch, roll = face["yaw_pitch_roll_deg"]
    return {
        "bbox": face["bbox_xyxy"],
        "score": 1.0,
        "detector": "afw-annotation",
        "keypoints": kp,
        "landmarks68": None,
        "yaw": yaw,
        "pitch": pitch,
        "roll": roll,
        "expression": None,
        "quality": {"face_size": face["bbox_xyxy"][2] - face["bbox_xyxy"][0]},
        "embedding": np.full(128, index, np.float32),
    }


def build_dataset(out: Path, resolutions=(64, 128), val_fraction=0.5) -> dict:
    """Write one shard per AFW photo; return {face_id: {resolution: crop array}} for checks."""
    crops_by_face: dict = {}
    for photo in afw_photos():
        image = np.asarray(Image.open(DATA / photo["path"]).convert("RGB"))
        faces = sorted(photo["faces"], key=lambda f: f["bbox_xyxy"][:2])
        rows = []
        for i, face in enumerate(faces):
            crops = {r: square_crop(image, face["bbox_xyxy"], r) for r in resolutions}
            rows += face_rows(photo, i, afw_face(face, i), crops, split_for_photo(photo["photo_id"], val_fraction))
            crops_by_face[f"{photo['photo_id']}_{i}"] = {r: c for r, (c, _) in crops.items()}
        name = f"part-{photo['photo_id']}.parquet"
        write_face_files(face_table(rows), out, name)
        write_status(
            [{"photo_id": photo["photo_id"], "status": "ok", "faces": len(faces), "shard": name}],
            status_path(out, name),
        )
    write_dataset_json(out, {"test": True}, dataset_counts(out))
    return crops_by_face


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards")
    return out, build_dataset(out)


def test_rows_round_trip_pixels_and_coordinates(dataset):
    out, crops = dataset
    rows = read_faces(out).to_pylist()
    assert {r["face_id"] for r in rows} == set(crops)
    assert len(rows) == 2 * len(crops)
    for row in rows:
        res = row["resolution"]
        pixels = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"))
        assert pixels.shape == (res, res, 3)
        assert np.array_equal(pixels, crops[row["face_id"]][res])  # PNG is lossless
        # crop coordinates map back onto the photo coordinates they came from
        x0, y0, x1, y1 = row["crop_photo"]
        scale = (x1 - x0) / res
        back = np.array(row["bbox"]) * scale + np.array([x0, y0, x0, y0])
        assert np.allclose(back, row["bbox_photo"], atol=1e-3)
        kp = np.array(row["keypoints"])
        assert kp.shape == (7, 3)
        visible = kp[kp[:, 2] > 0]
        assert len(visible) >= 1
        assert np.all((visible[:, :2] >= 0) & (visible[:, :2] <= res))
        assert row["license_id"] == 4 and row["photo_url"].endswith(f"/{row['photo_id']}/")
        assert len(row["embedding"]) == 128


def test_face_ids_follow_position_and_split_by_photo(dataset):
    out, _ = dataset
    table = read_faces(out, columns=["face_id", "photo_id", "split", "bbox_photo", "face_index"]).to_pylist()
    by_photo: dict = {}
    for r in table:
        by_photo.setdefault(r["photo_id"], []).append(r)
        assert r["split"] == split_for_photo(r["photo_id"], 0.5)
    multi = max(by_photo.values(), key=len)
    assert len({r["face_index"] for r in multi}) == 3
    ordered = sorted({(r["face_index"], r["bbox_photo"][0]) for r in multi})
    assert [x for _, x in ordered] == sorted(x for _, x in ordered)


def test_split_is_deterministic_and_near_fraction():
    ids = [str(10_000_000 + 7919 * i) for i in range(4000)]
    first = [split_for_photo(i, 0.1) for i in ids]
    assert first == [split_for_photo(i, 0.1) for i in ids]
    share = first.count("validation") / len(ids)
    assert 0.08 < share < 0.12
    assert set(split_for_photo(i, 0.0) for i in ids[:50]) == {"train"}
    with pytest.raises(ValueError):
        split_for_photo("1", 1.5)


def test_parquet_layout_zstd_row_groups_and_no_image_stats(tmp_path, dataset):
    out, _ = dataset
    rows = read_faces(out).to_pylist()
    many = [dict(r, face_id=f"{r['face_id']}_{k}") for k in range(40) for r in rows]  # > 256 rows
    path = write_face_shard(face_table(many), tmp_path / "part-big.parquet")
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == len(many)
    assert meta.num_row_groups == -(-len(many) // 256)
    names = [meta.row_group(0).column(i).path_in_schema for i in range(meta.num_columns)]
    col = {n: meta.row_group(0).column(i) for i, n in enumerate(names)}
    assert col["image.bytes"].statistics is None or not col["image.bytes"].statistics.has_min_max
    assert col["face_id"].statistics.has_min_max
    assert col["face_id"].compression == "ZSTD"
    assert not list(tmp_path.glob(".*.tmp"))


def test_dataset_folder_yields_only_face_rows_and_info(dataset):
    out, crops = dataset
    assert (out / "_status").is_dir()
    ds = pads.dataset(str(out / "data"), format="parquet")
    assert ds.schema.names == FACE_SCHEMA.names
    assert ds.count_rows() == 2 * len(crops)
    info = read_dataset_info(out)
    assert info["schema_version"] == 1
    assert info["counts"]["faces"] == len(crops)
    assert info["counts"]["by_resolution"] == {"64": len(crops), "128": len(crops)}
    assert len({p.name for p in list_shards(out)}) == 4
    assert {p.parent.relative_to(out).as_posix() for p in list_shards(out)} <= {
        f"data/{r}/{s}" for r in (64, 128) for s in ("train", "validation")
    }


def test_huggingface_datasets_decodes_image_column(dataset):
    datasets = pytest.importorskip("datasets")
    out, crops = dataset
    meta = json.loads(pq.read_schema(list_shards(out)[0]).metadata[b"huggingface"])
    assert meta["info"]["features"]["image"] == {"_type": "Image"}
    files = [str(p) for p in list_shards(out)]
    ds = datasets.load_dataset("parquet", data_files=files, split="train", cache_dir=str(out.parent / "hf-cache"))
    assert isinstance(ds.features["image"], datasets.Image)
    row = ds[0]
    assert row["image"].size == (row["resolution"], row["resolution"])
    assert np.array_equal(np.asarray(row["image"].convert("RGB")), crops[row["face_id"]][row["resolution"]])
