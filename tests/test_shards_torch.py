"""FaceShardDataset over real shards, through a DataLoader with two worker processes."""

from __future__ import annotations

import pytest
import torch
from test_shards import build_dataset
from torch.utils.data import DataLoader

from fdf.errors import FdfError
from fdf.shards import read_faces
from fdf.torch_data import FaceShardDataset


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    out = tmp_path_factory.mktemp("torch-shards")
    build_dataset(out, resolutions=(64, 128), val_fraction=0.5)
    return out


@pytest.mark.parametrize("split", ["train", "validation"])
def test_dataloader_two_workers_reads_every_face(shards, split):
    expected = {
        r["face_id"] for r in read_faces(shards, columns=["face_id", "split"]).to_pylist() if r["split"] == split
    }
    ds = FaceShardDataset(shards, 128, split=split)
    assert len(ds) == len(expected)
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    seen = []
    for batch in loader:
        assert batch["image"].dtype == torch.uint8
        assert batch["image"].shape[1:] == (3, 128, 128)
        kp = batch["keypoints"]
        visible = kp[..., 2] > 0
        assert torch.all((kp[..., :2][visible] >= 0) & (kp[..., :2][visible] <= 128))
        seen += batch["face_id"]
    assert sorted(seen) == sorted(expected)


def test_resolution_selects_rows_and_transform_applies(shards):
    ds = FaceShardDataset(
        shards, 64, split="train", transform=lambda item: {**item, "image": item["image"].float() / 255}
    )
    item = ds[len(ds) - 1]
    assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
    assert float(item["image"].max()) <= 1.0
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_bad_arguments_are_clear(shards):
    with pytest.raises(FdfError, match="no train faces at resolution 99"):
        FaceShardDataset(shards, 99)
    with pytest.raises(FdfError, match="split must be one of"):
        FaceShardDataset(shards, 64, split="test")
