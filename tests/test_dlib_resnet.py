"""dlib's face recognition ResNet read into PyTorch: the same descriptors as dlib on real faces,
chips placed as dlib places them, clear errors for a wrong file, and the identity loss with it in
a real training run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import dlib
import numpy as np
import pytest
import torch
from test_train_data import build_face_shards
from test_train_resume import tiny_config

from anonymizer.generator.dlib_resnet import (
    CHIP_PADDING,
    CHIP_SIZE,
    DlibModelError,
    chip,
    chip_transforms,
    default_model_path,
    load_dlib_identity,
    load_dlib_resnet,
    read_dlib_weights,
)
from anonymizer.generator.identity import identity_loss
from anonymizer.training import config_from_dict, train
from anonymizer.training.checkpoint import latest_checkpoint, read_checkpoint
from fdf.annotate import models
from fdf.annotate.identity import face_embedding
from fdf.annotate.landmarks import predict_shape

DATA = Path(__file__).resolve().parent / "data"
PHOTOS = [
    str(DATA / p)
    for p in (
        "annotate/afw_1004109301.jpg",
        "annotate/afw_1139324862.jpg",
        "annotate/afw_2519293956.jpg",
        "annotate/einstein.jpg",
        "anonymize/astronaut.jpg",
    )
]


@pytest.fixture(scope="module")
def net():
    return load_dlib_resnet()


def _faces():
    """(RGB photo, dlib shape) for every face dlib's HOG detector finds in the test photos."""
    out = []
    for path in PHOTOS:
        rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        for rect in models.hog_detector()(rgb, 1):
            out.append((rgb, models.shape_predictor_68()(rgb, rect)))
    assert len(out) >= 3
    return out


def test_descriptors_equal_dlibs_own(net):
    faces = _faces()
    chips = np.stack([dlib.get_face_chip(rgb, shape, CHIP_SIZE, CHIP_PADDING) for rgb, shape in faces])
    with torch.no_grad():
        ours = net(torch.from_numpy(chips).permute(0, 3, 1, 2).float()).numpy()
    theirs = np.stack([face_embedding(rgb, shape) for rgb, shape in faces])
    assert np.abs(ours - theirs).max() < 1e-4
    # And they are descriptors, not constants: different people are far apart.
    assert np.linalg.norm(ours[0] - ours[1]) > 0.6


def test_differentiable_chips_land_where_dlibs_do(net):
    rgb = cv2.cvtColor(cv2.imread(PHOTOS[-1]), cv2.COLOR_BGR2RGB)
    small = cv2.resize(rgb, (128, 128), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (256, 256), interpolation=cv2.INTER_CUBIC)  # as the evaluation upscales
    shape = models.shape_predictor_68()(big, models.hog_detector()(big, 1)[0])
    crop = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 127.5 - 1
    crop.requires_grad_(True)
    transforms = chip_transforms([shape], 2.0, 128)
    soft = chip(crop, transforms)  # straight from the small crop: softer than the evaluation's
    ours = chip(crop, transforms, upscale_to=256)
    theirs = dlib.get_face_chip(big, shape, CHIP_SIZE, CHIP_PADDING).astype(np.float32)
    # Same place and scale: a half-pixel shift or a 1% scale error shows as several grey levels.
    assert np.abs(ours[0].detach().permute(1, 2, 0).numpy() - theirs).mean() < 2.5
    d = net(ours)
    reference = face_embedding(big, shape)
    assert np.linalg.norm(d[0].detach().numpy() - reference) < 0.03
    with torch.no_grad():
        assert np.linalg.norm(net(soft)[0].numpy() - reference) > np.linalg.norm(d[0].detach().numpy() - reference)
    d.sum().backward()
    assert crop.grad is not None and crop.grad.abs().sum() > 0


def test_wrong_or_corrupt_model_file(tmp_path):
    with pytest.raises(DlibModelError, match="cannot read"):
        read_dlib_weights(tmp_path / "missing.dat")
    (tmp_path / "junk.dat").write_bytes(b"\x01\x05hello world")
    with pytest.raises(DlibModelError, match="not dlib's face recognition ResNet"):
        read_dlib_weights(tmp_path / "junk.dat")
    data = default_model_path().read_bytes()
    (tmp_path / "cut.dat").write_bytes(data[: len(data) // 2])
    with pytest.raises(DlibModelError):
        read_dlib_weights(tmp_path / "cut.dat")
    other = default_model_path().parent / "shape_predictor_5_face_landmarks.dat"
    with pytest.raises(DlibModelError):
        read_dlib_weights(other)


def test_dlib_identity_loss_measures_as_the_evaluation_does(tmp_path):
    data = build_face_shards(tmp_path / "ds", resolution=64)
    from fdf.torch_data import FaceShardDataset

    ds = FaceShardDataset(data, 64, "train")
    items = [ds[i] for i in range(4)]
    real = torch.stack([it["image"] for it in items]).float() / 127.5 - 1
    boxes = torch.stack([it["bbox"] for it in items]).float()
    ident = load_dlib_identity()
    transforms = ident.transforms(real, boxes)
    with torch.no_grad():
        ours = ident(real, transforms).numpy()
    for i, it in enumerate(items):  # the evaluation: cubic upscale to 256, shape on the original
        big = cv2.resize(it["image"].permute(1, 2, 0).numpy(), (256, 256), interpolation=cv2.INTER_CUBIC)
        shape = predict_shape(big, it["bbox"].numpy() * 4, "centerface")
        assert np.linalg.norm(ours[i] - face_embedding(big, shape)) < 0.08
    # The hinge pushes a near copy of the original away; once past the margin it adds nothing.
    fake = (real + 0.01 * torch.randn(real.shape, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    loss, dist = identity_loss(ident, fake, real, margin=0.8, boxes=boxes)
    assert 0.7 < loss.item() <= 0.8 and dist.max() < 0.1
    loss.backward()
    assert fake.grad.abs().sum() > 0
    noise = real.roll(1, 0)  # other people
    far, dist = identity_loss(ident, noise, real, margin=0.3, boxes=boxes)
    assert far.item() == 0.0 and dist.min() > 0.3
    with pytest.raises(ValueError, match="boxes"):
        identity_loss(ident, fake, real, margin=0.8)


def test_training_with_the_dlib_identity_loss(tmp_path):
    data = build_face_shards(tmp_path / "ds", resolution=32)
    values = tiny_config(data)
    values["steps"] = 2
    values["loss"].update(identity_weight=1.0, identity_margin=0.8, identity_model="dlib")
    config = config_from_dict(values, base_dir=tmp_path)
    assert config.loss.identity_model == "dlib"  # a name, not a path
    train(config, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert records and all(r["g_identity"] >= 0 and r["g_identity_distance"] > 0 for r in records)
    tensors, _ = read_checkpoint(latest_checkpoint(tmp_path / "run"))
    assert all(torch.isfinite(t).all() for t in tensors.values())
