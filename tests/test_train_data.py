"""Training data: real MTFL faces written as face shards, the resumable batch order, and the
DataLoader over them. ``build_face_shards`` is reused by the other generator/trainer tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from anonymizer.training.data import ResumableBatchSampler, open_faces, training_batches
from fdf.annotate.landmarks import predict_landmarks68
from fdf.errors import ConfigError
from fdf.shards import face_table, write_face_shard

DATA = Path(__file__).parent / "data" / "generator"


def mtfl_faces() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, 80x80 RGB, 5x2 points: image-left eye, image-right eye, nose, mouth corners)."""
    faces = []
    for line in (DATA / "landmarks.txt").read_text().splitlines():
        name, *values = line.split()
        v = np.array(values, dtype=np.float32)
        faces.append((name, np.asarray(Image.open(DATA / name).convert("RGB")), np.stack([v[:5], v[5:]], 1)))
    return faces


def face_geometry(points: np.ndarray, scale: float) -> tuple[list[float], list[list[float]]]:
    """Face box and FDF 7 keypoints (COCO order) from MTFL's 5 points, scaled to the crop."""
    p = points * scale
    eye_dist = float(np.linalg.norm(p[1] - p[0]))
    x0, y0 = p[:, 0].min() - 0.7 * eye_dist, p[:, 1].min() - 0.9 * eye_dist
    x1, y1 = p[:, 0].max() + 0.7 * eye_dist, p[:, 1].max() + 0.6 * eye_dist
    kp = np.zeros((7, 3), np.float32)
    kp[0, :2], kp[1, :2], kp[2, :2] = p[2], p[1], p[0]  # subject's left eye is on the image right
    kp[:3, 2] = 1
    return [float(x0), float(y0), float(x1), float(y1)], kp.tolist()


def build_face_shards(
    root: Path, resolution: int = 64, copies: int = 1, landmarks: bool = False, crop_side=None
) -> Path:
    """A face-shard dataset of the 32 test faces (every 4th in validation), ``copies`` times over;
    ``landmarks``: with dlib's 68 points (fitted on the 80 px faces) and a yaw (60 degrees for the
    first face, past what the anonymizer outlines by landmarks; 5 for the others); ``crop_side``:
    a function of the face's number giving the side of its crop in the source photo (none: no
    ``crop_photo``, as for a face of unknown source size)."""
    rows = []
    for copy in range(copies):
        for i, (name, image, points) in enumerate(mtfl_faces()):
            crop = np.asarray(Image.fromarray(image).resize((resolution, resolution), Image.BICUBIC))
            buf = io.BytesIO()
            Image.fromarray(crop).save(buf, format="PNG")
            bbox, kp = face_geometry(points, resolution / image.shape[0])
            geometry = {}
            if landmarks:
                fitted = predict_landmarks68(image, face_geometry(points, 1.0)[0], "centerface")
                geometry = {
                    "landmarks68": (fitted * resolution / image.shape[0]).tolist(),
                    "yaw": 60.0 if i == 0 else 5.0,
                }
            rows.append(
                {
                    **geometry,
                    "face_id": f"{name}_{copy}",
                    "photo_id": f"{name}_{copy}",
                    "face_index": 0,
                    "split": "validation" if i % 4 == 3 else "train",
                    "resolution": resolution,
                    "image": {"bytes": buf.getvalue(), "path": name},
                    "bbox": bbox,
                    "keypoints": kp,
                    "source": "mtfl-test",
                    **({"crop_photo": [10.0, 20.0, 10.0 + crop_side(i), 20.0 + crop_side(i)]} if crop_side else {}),
                }
            )
    root.mkdir(parents=True, exist_ok=True)
    write_face_shard(face_table(rows), root / "part-00000.parquet", row_group_size=16)
    return root


def test_shards_hold_the_test_faces(tmp_path):
    ds = open_faces(str(build_face_shards(tmp_path / "ds")), 64, "train")
    assert len(ds) == 24
    item = ds[0]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.uint8
    box, kp = item["bbox"], item["keypoints"]
    assert 0 <= box[0] < kp[2, 0] < kp[1, 0] < box[2], "eyes inside the box, subject's right eye on the image left"


def test_sampler_order_is_a_function_of_the_step():
    full = ResumableBatchSampler(50, 8, seed=3)
    it = iter(full)
    first = [next(it) for _ in range(12)]  # 12 steps: crosses an epoch (6 steps per epoch)
    resumed = iter(ResumableBatchSampler(50, 8, seed=3, start_step=7))
    assert [next(resumed) for _ in range(5)] == first[7:]
    assert sorted(sum(first[:6], [])) == sorted(set(sum(first[:6], []))), "no repeats within an epoch"
    assert first[:6] != first[6:], "each epoch is reshuffled"
    ranks = [iter(ResumableBatchSampler(50, 8, seed=3, rank=r, world_size=2)) for r in range(2)]
    for step in range(12):
        assert next(ranks[0]) + next(ranks[1]) == first[step], "two processes split each global batch"


def test_sampler_rejects_bad_sizes():
    with pytest.raises(ConfigError, match="divisible"):
        ResumableBatchSampler(50, 9, seed=0, world_size=2)
    with pytest.raises(ConfigError, match="fewer than one batch"):
        ResumableBatchSampler(5, 8, seed=0)
    with pytest.raises(ConfigError, match="data.path is empty"):
        open_faces("", 64)


def test_workers_give_the_same_batches_as_the_main_process(tmp_path):
    ds = open_faces(str(build_face_shards(tmp_path / "ds")), 64)
    plain = training_batches(ds, 8, seed=1, start_step=2, workers=0)
    workers = training_batches(ds, 8, seed=1, start_step=2, workers=2)
    for _ in range(3):
        a, b = next(plain), next(workers)
        assert a["face_id"] == b["face_id"]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["keypoints"], b["keypoints"])


def test_cached_faces_equal_the_shards(tmp_path):
    from anonymizer.training.data import CachedFaces

    ds = open_faces(str(build_face_shards(tmp_path / "ds")), 64)
    cached = CachedFaces(ds)
    assert len(cached) == len(ds)
    a = next(training_batches(ds, 8, seed=4, start_step=5, workers=0))
    b = next(training_batches(cached, 8, seed=4, start_step=5, workers=0))
    assert a["face_id"] == b["face_id"] and torch.equal(a["image"], b["image"]) and torch.equal(a["bbox"], b["bbox"])


def test_cached_faces_store_is_reused_until_the_shards_change(tmp_path, monkeypatch):
    """The decoded faces kept on disk are loaded without decoding; a changed shard file is decoded again."""
    import os

    from anonymizer.training.data import CachedFaces
    from fdf.torch_data import FaceShardDataset

    data = build_face_shards(tmp_path / "ds")
    store = tmp_path / "run" / "faces-train-64"
    first = CachedFaces(open_faces(str(data), 64), store)
    assert store.with_suffix(".npy").is_file() and store.with_suffix(".pt").is_file()

    def no_decoding(self, index):
        raise AssertionError("decoded a face although the store is valid")

    with monkeypatch.context() as patch:
        patch.setattr(FaceShardDataset, "__getitem__", no_decoding)
        again = CachedFaces(open_faces(str(data), 64), store)
    assert again.face_ids == first.face_ids and torch.equal(again.images, first.images)
    assert torch.equal(again.boxes, first.boxes) and torch.equal(again.keypoints, first.keypoints)
    shard = next(data.glob("*.parquet"))
    os.utime(shard, ns=(shard.stat().st_atime_ns, shard.stat().st_mtime_ns + 10**9))
    calls = []
    original = FaceShardDataset.__getitem__
    monkeypatch.setattr(FaceShardDataset, "__getitem__", lambda self, i: calls.append(i) or original(self, i))
    rebuilt = CachedFaces(open_faces(str(data), 64), store)
    assert len(calls) == len(rebuilt) and torch.equal(rebuilt.images, first.images)


def test_min_source_px_keeps_only_faces_cut_from_large_enough_crops(tmp_path):
    """Faces upscaled from small crops are left out by their recorded crop size, before or after caching."""
    from anonymizer.training.data import CachedFaces, keep_sharp_faces

    side = lambda i: 60.0 + 10 * i  # noqa: E731  (faces 0..31: 60..370 px)
    ds = open_faces(str(build_face_shards(tmp_path / "ds", crop_side=side)), 64)
    sides = ds.source_sides()
    by_name = {f"{name}_0": side(i) for i, (name, _, _) in enumerate(mtfl_faces())}
    assert sides.tolist() == [by_name[ds[i]["face_id"]] for i in range(len(ds))], "index order, photo pixels"
    expected = {fid for fid in (ds[i]["face_id"] for i in range(len(ds))) if by_name[fid] >= 128}
    assert 0 < len(expected) < len(ds)
    for source in (ds, CachedFaces(ds)):
        kept = keep_sharp_faces(source, sides, 128)
        assert {kept[i]["face_id"] for i in range(len(kept))} == expected
        seen = set()
        for batch in (training_batches(kept, 4, seed=0, start_step=0, workers=0) for _ in range(1)):
            for _ in range(len(kept) // 4):
                seen |= set(next(batch)["face_id"])
        assert seen <= expected and len(seen) == len(kept) // 4 * 4, "an epoch draws only kept faces"
    assert keep_sharp_faces(ds, sides, 0) is ds


def test_min_source_px_errors_are_clear(tmp_path):
    from anonymizer.training.data import keep_sharp_faces

    unknown = open_faces(str(build_face_shards(tmp_path / "old")), 64)
    assert np.isnan(unknown.source_sides()).all()
    with pytest.raises(ConfigError, match="record no crop_photo"):
        keep_sharp_faces(unknown, unknown.source_sides(), 128)
    small = open_faces(str(build_face_shards(tmp_path / "small", crop_side=lambda i: 80.0)), 64)
    with pytest.raises(ConfigError, match="leaves no faces.*80 px"):
        keep_sharp_faces(small, small.source_sides(), 128)
