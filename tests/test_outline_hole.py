"""Outline holes: a generator trained to fill the face itself (the 68-landmark outline), not the
grown face box. The same outline drives training (shard landmarks), inference (detected
landmarks moved into the crop) and gan mode's blend mask; pixels outside the hole reach the
output as they were."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from test_train_data import build_face_shards
from test_train_resume import tiny_config

from anonymizer.generator.augment import AugmentConfig, augment_batch
from anonymizer.generator.conditioning import grow_boxes
from anonymizer.generator.networks import Generator, NetworkConfig
from anonymizer.generator.outline import outline_known, outline_points
from anonymizer.generator.runner import EMA_PREFIX, GeneratorError
from anonymizer.inference import AnonymizeConfig, ImageAnonymizer, read_image
from anonymizer.inference.detect import add_keypoints, face_yaw
from anonymizer.inference.modes import FaceJob, GanMode
from anonymizer.training import config_from_dict, train
from anonymizer.training.checkpoint import latest_checkpoint, read_checkpoint
from anonymizer.training.data import CachedFaces, collate_faces, open_faces, shrink_item
from anonymizer.training.trainer import training_holes
from fdf.annotate import make_fdf_crop, to_crop_coords
from fdf.errors import ConfigError

DATA = Path(__file__).parent / "data" / "anonymize"
OUTLINE = {"hole": "outline", "outline_grow": 0.15, "mask_dilation": 0.4}


def _hull(points: np.ndarray, resolution: int) -> np.ndarray:
    import cv2

    mask = np.zeros((resolution, resolution), np.uint8)
    hull = cv2.convexHull(np.round(outline_points(points) * 16).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _box(box, resolution: int) -> np.ndarray:
    mask = np.zeros((resolution, resolution), bool)
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    mask[y0 : int(np.ceil(box[3])), x0 : int(np.ceil(box[2]))] = True
    return mask


@pytest.fixture(scope="module")
def astronaut():
    image = read_image(DATA / "astronaut.jpg")
    (face,) = ImageAnonymizer(AnonymizeConfig(mode="blur")).detect(image.rgb)
    add_keypoints(image.rgb, [face])
    return image.rgb, face


@pytest.fixture(scope="module")
def outline_weights(tmp_path_factory):
    """A random 64 px outline generator saved as exported weights."""
    torch.manual_seed(0)
    config = NetworkConfig(resolution=64, base_channels=8, max_channels=32, z_dim=16, w_dim=32, **OUTLINE)
    path = tmp_path_factory.mktemp("outline") / "outline.safetensors"
    state = Generator(config).state_dict()
    save_file(
        {EMA_PREFIX + k: v.contiguous() for k, v in state.items()},
        str(path),
        metadata={"network": json.dumps(config.to_dict())},
    )
    return path


def test_the_hole_follows_the_face_outline_inside_the_grown_box(astronaut):
    rgb, face = astronaut
    res = 64
    crop, crop_box = make_fdf_crop(rgb, face.bbox, resolution=res)
    box = to_crop_coords(np.reshape(face.bbox, (2, 2)), crop_box, res).ravel()
    points = to_crop_coords(face.landmarks68, crop_box, res)
    limit = grow_boxes(torch.from_numpy(box[None]), 0.4, res).numpy()
    hole = outline_known(box[None], points[None], limit, res, 0.15)[0, 0] == 0
    assert (hole[_box(box, res)]).all(), "the face box is always generated"
    assert (hole[_hull(points, res)]).all(), "the whole outline is generated"
    assert not hole[~_box(limit[0], res)].any(), "nothing outside the grown box"
    # The point of the outline: the grown box's corners (hair, background) are kept.
    assert hole.sum() < 0.8 * _box(limit[0], res).sum()
    ellipse = outline_known(box[None], np.full((1, 68, 2), np.nan), limit, res, 0.15)[0, 0] == 0
    assert ellipse[_box(box, res)].all() and not np.array_equal(ellipse, hole)


def test_an_outline_model_changes_only_its_hole(outline_weights):
    from anonymizer.generator import load_generator

    gen = load_generator(outline_weights)
    assert gen.hole == "outline"
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    boxes = np.array([[16, 16, 48, 48], [10, 12, 40, 50]], np.float32)
    kps = np.zeros((2, 7, 3), np.float32)
    holes = gen.outline_holes(boxes, np.full((2, 68, 2), np.nan), grow_boxes(torch.from_numpy(boxes), 0.4, 64).numpy())
    out = gen.generate(crops, boxes, kps, seeds=[0, 1], holes=holes)
    assert np.array_equal(out[~holes], crops[~holes])
    assert (out[holes] != crops[holes]).mean() > 0.5
    with pytest.raises(GeneratorError, match="holes must be bool"):
        gen.generate(crops, boxes, kps, seeds=[0, 1], holes=holes.astype(np.uint8))


def test_gan_mode_gives_an_outline_model_the_detected_outline(astronaut, outline_weights):
    """The crop the generator returns differs from the photo's crop inside the face outline and
    nowhere in the grown box's corners (hair and background stay as they were)."""
    rgb, face = astronaut
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", checkpoint=str(outline_weights)))
    region = anon.region_of(face, rgb.shape)
    job = FaceJob(region, face.keypoints, 0, face.bbox, None, face.landmarks68, face_yaw(face))
    (made,) = GanMode(str(outline_weights)).generate(rgb, [job])
    crop, crop_box = make_fdf_crop(rgb, face.bbox, resolution=64)
    assert tuple(made.crop_box) == tuple(crop_box)
    changed = (made.pixels != crop).any(-1)
    points = to_crop_coords(face.landmarks68, crop_box, 64)
    assert changed[_hull(points, 64)].mean() > 0.9
    core = to_crop_coords(np.reshape(region.core, (2, 2)), crop_box, 64).ravel()
    in_core = _box(core, 64)
    assert not changed[~in_core].any()
    # Much of the core (the grown box) is kept: its corners lie outside the outline.
    assert (~changed[in_core]).mean() > 0.2


@pytest.fixture(scope="module")
def shards128(tmp_path_factory):
    return build_face_shards(tmp_path_factory.mktemp("lm") / "ds", 128, landmarks=True)


def test_items_carry_landmarks_and_shrink_with_the_face(shards128):
    big = open_faces(str(shards128), 128)
    small = open_faces(str(shards128), 64, "train", source_resolution=128)
    a, b = big[0], small[0]
    assert a["landmarks68"].shape == (68, 2) and torch.isfinite(a["landmarks68"]).all()
    assert b["image"].shape == (3, 64, 64)
    assert torch.allclose(b["landmarks68"], a["landmarks68"] / 2) and torch.allclose(b["bbox"], a["bbox"] / 2)
    assert torch.equal(shrink_item(a, 64)["image"], b["image"])
    landmarks, yaw = big.geometry()
    assert np.allclose(landmarks[0], a["landmarks68"].numpy()) and yaw[0] == pytest.approx(float(a["yaw"]))
    with pytest.raises(ConfigError, match="whole factor"):
        shrink_item(a, 48)
    # Shards written before landmarks were kept give NaN, not an error.
    old = build_face_shards(shards128.parent / "old", resolution=64)
    assert torch.isnan(open_faces(str(old), 64)[0]["landmarks68"]).all()


def test_cached_faces_shrink_and_fill_landmarks_into_an_old_store(shards128, tmp_path, monkeypatch):
    from fdf.torch_data import FaceShardDataset

    store = tmp_path / "faces-train-128"
    CachedFaces(open_faces(str(shards128), 128), store)
    meta = torch.load(store.with_suffix(".pt"), weights_only=True)
    for key in ("landmarks68", "yaw"):  # as a store from before this change
        meta.pop(key)
    torch.save(meta, store.with_suffix(".pt"))
    monkeypatch.setattr(FaceShardDataset, "__getitem__", lambda self, i: pytest.fail("decoded a face"))
    cached = CachedFaces(open_faces(str(shards128), 128), store, resolution=64)
    monkeypatch.undo()
    plain = open_faces(str(shards128), 64, "train", source_resolution=128)
    assert cached.images.shape[-1] == 64 and torch.equal(cached.images[3], plain[3]["image"])
    assert torch.allclose(cached.landmarks68[3], plain[3]["landmarks68"])
    assert "landmarks68" in torch.load(store.with_suffix(".pt"), weights_only=True)


def test_training_holes_use_the_outline_the_ellipse_and_the_flip(shards128):
    ds = open_faces(str(shards128), 64, "train", source_resolution=128)
    batch = collate_faces([ds[i] for i in range(8)])
    net = NetworkConfig(resolution=64, **OUTLINE)
    boxes, known = training_holes(batch, net, 64)
    assert known.shape == (8, 1, 64, 64)
    box_model = NetworkConfig(resolution=64, mask_dilation=0.4)
    assert training_holes(batch, box_model, 64)[1] is None
    hole = known[:, 0].numpy() == 0
    for i in range(8):
        assert not hole[i][~_box(boxes[i].numpy(), 64)].any()
    # Face 0 has a yaw of 60 degrees: the ellipse, as the anonymizer draws such a face.
    ellipse = outline_known(batch["bbox"][:1].numpy(), np.full((1, 68, 2), np.nan), boxes[:1].numpy(), 64, 0.15)
    assert torch.equal(known[:1], torch.from_numpy(ellipse))
    assert hole[1][_hull(batch["landmarks68"][1].numpy(), 64)].all()
    forced = training_holes(batch, net, 64, ellipse=torch.ones(8, dtype=torch.bool))[1]
    assert not torch.equal(forced[1], known[1])
    # Mirroring the batch mirrors the hole (up to the pixel grid).
    flipped = augment_batch({**batch, "image": batch["image"].float()}, AugmentConfig(1.0, 0.0), torch.zeros(8, 6))
    mirrored = training_holes(flipped, net, 64)[1].flip(-1)
    agree = (mirrored == known).float().mean().item()
    assert agree > 0.97


def test_an_outline_run_from_larger_shards_trains_and_resumes_exactly(shards128, tmp_path):
    config = tiny_config(shards128)
    config["network"].update(resolution=32, **OUTLINE)
    config["data"].update(source_resolution=128, cache_in_memory=True)
    config["steps"] = 4
    full = tmp_path / "full"
    train(config_from_dict(config), full)
    half = tmp_path / "half"
    train(config_from_dict(config), half, stop_at=2)
    train(None, half, resume=True)
    a, _ = read_checkpoint(latest_checkpoint(full))
    b, _ = read_checkpoint(latest_checkpoint(half))
    for name in a:
        if name.startswith(("generator", "discriminator")):
            assert torch.equal(a[name], b[name]), name
    from anonymizer.generator import load_generator

    assert load_generator(full).hole == "outline"
    with pytest.raises(ConfigError, match="source_resolution"):
        config_from_dict({**config, "data": {**config["data"], "source_resolution": 48}})


def test_evaluate_generator_fills_an_outline_models_holes(outline_weights, tmp_path):
    from anonymizer.evaluation import EvaluationConfig, evaluate_generator

    data = build_face_shards(tmp_path / "ds64", 64, landmarks=True)
    report = evaluate_generator(outline_weights, data, EvaluationConfig(limit=6, check_tries=2, seeds=2))
    assert report["faces"] == 6 and 0 <= report["generated"]["reid_rate"] <= 1
    assert "generated_checked" in report and report["generated"]["fd_dlib"] > 0
