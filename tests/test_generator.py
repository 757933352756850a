"""The generator's conditioning, augmentation and inference API on real MTFL faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train_data import build_face_shards, face_geometry, mtfl_faces
from test_train_resume import tiny_config

from anonymizer.generator import GeneratorError, load_generator
from anonymizer.generator.augment import AugmentConfig, augment_batch, flip_horizontal
from anonymizer.generator.conditioning import box_mask, build_condition, keypoint_maps, to_float_image
from anonymizer.generator.networks import Discriminator, Generator, NetworkConfig, count_parameters
from anonymizer.training import config_from_dict, train


def real_batch(n: int = 4, resolution: int = 64) -> dict:
    from PIL import Image

    images, boxes, kps = [], [], []
    for _, image, points in mtfl_faces()[:n]:
        images.append(np.asarray(Image.fromarray(image).resize((resolution, resolution))))
        box, kp = face_geometry(points, resolution / image.shape[0])
        boxes.append(box)
        kps.append(kp)
    return {"image": np.stack(images), "bbox": np.array(boxes, np.float32), "keypoints": np.array(kps, np.float32)}


def test_mask_covers_every_touched_pixel():
    mask = box_mask(torch.tensor([[10.5, 20.0, 30.2, 40.0]]), 64)[0, 0]
    assert mask[20:40, 10:31].sum() == 0, "partly covered pixels are masked too"
    assert mask[19].all() and mask[40].all() and mask[:, 9].all() and mask[:, 31].all()


def test_keypoint_maps_mark_only_visible_points():
    kp = torch.tensor([[[5.2, 7.9, 1], [60, 3, 1], [10, 10, 0], [-11.5, -11.5, 0], [70, 5, 1], [0, 0, 0], [0, 0, 0]]])
    maps = keypoint_maps(kp, 64)[0]
    assert maps[0, 7, 5] == 1 and maps[1, 3, 60] == 1
    assert maps.sum() == 2, "hidden and out-of-crop points draw nothing"


def test_face_pixels_never_reach_the_network():
    batch = real_batch()
    images = to_float_image(torch.from_numpy(batch["image"]).permute(0, 3, 1, 2))
    other = images.clone()
    box = batch["bbox"][0]
    y0, y1, x0, x1 = int(box[1]), int(np.ceil(box[3])), int(box[0]), int(np.ceil(box[2]))
    other[:, :, y0:y1, x0:x1] = torch.rand_like(other[:, :, y0:y1, x0:x1])  # a different face in box 0
    a, _ = build_condition(images[:1], torch.from_numpy(batch["bbox"][:1]), torch.from_numpy(batch["keypoints"][:1]))
    b, _ = build_condition(other[:1], torch.from_numpy(batch["bbox"][:1]), torch.from_numpy(batch["keypoints"][:1]))
    assert torch.equal(a, b)


def test_flip_swaps_left_and_right_keypoints():
    batch = real_batch(1)
    image = torch.from_numpy(batch["image"]).permute(0, 3, 1, 2).float()
    kp = torch.from_numpy(batch["keypoints"])
    flipped, box, fkp = flip_horizontal(image, torch.from_numpy(batch["bbox"]), kp, 64)
    # The subject's left eye (index 1) is on the image right; after mirroring it is still the
    # eye on the image right, which is now the mirrored subject's left eye: the old right eye.
    assert fkp[0, 1, 0] == pytest.approx(64 - kp[0, 2, 0])
    assert fkp[0, 2, 0] == pytest.approx(64 - kp[0, 1, 0])
    assert fkp[0, 1, 0] > fkp[0, 2, 0], "left eye still on the image right after the flip"
    assert fkp[0, 3:, 2].sum() == 0 and torch.equal(fkp[0, 3:, :2], kp[0, 3:, :2]), "hidden points stay hidden"
    assert torch.equal(flipped[0, :, :, 0], image[0, :, :, -1])
    assert box[0, 0] == pytest.approx(64 - batch["bbox"][0, 2]) and box[0, 2] > box[0, 0]
    twice = flip_horizontal(flipped, box, fkp, 64)
    assert torch.equal(twice[0], image) and torch.allclose(twice[2], kp)


def test_augment_uses_the_given_draws_only():
    batch = real_batch(4)
    batch = {
        "image": torch.from_numpy(batch["image"]).permute(0, 3, 1, 2).float(),
        "bbox": torch.from_numpy(batch["bbox"]),
        "keypoints": torch.from_numpy(batch["keypoints"]),
    }
    draws = torch.tensor([[0.1, 0.5, 0.5, 0.5, 0.5], [0.9, 0, 1, 0, 1]] * 2)
    out = augment_batch(batch, AugmentConfig(flip_probability=0.5, box_jitter=0.1), draws)
    assert torch.equal(out["image"][1], batch["image"][1]) and not torch.equal(out["image"][0], batch["image"][0])
    width = batch["bbox"][1, 2] - batch["bbox"][1, 0]
    assert out["bbox"][1, 0] == pytest.approx(max(0.0, batch["bbox"][1, 0] - 0.1 * width))
    again = augment_batch(batch, AugmentConfig(flip_probability=0.5, box_jitter=0.1), draws)
    assert torch.equal(again["bbox"], out["bbox"])


@pytest.mark.parametrize("resolution", [64, 128])
def test_generator_shapes_and_size(resolution):
    config = NetworkConfig(resolution=resolution, base_channels=16, max_channels=128)
    net = Generator(config)
    out = net(torch.zeros(2, 11, resolution, resolution), torch.zeros(2, config.z_dim))
    assert out.shape == (2, 3, resolution, resolution)
    assert 0.5e6 < count_parameters(net) < 4e6


@pytest.mark.parametrize("resolution", [64, 128])
def test_fresh_discriminator_scores_are_of_order_one(resolution):
    # With PyTorch's default init the scores started near 1e-3 and, under an R1 penalty, the
    # discriminator never left 2 ln 2: the bundled model's first run trained as pure L1.
    torch.manual_seed(0)
    net = Discriminator(NetworkConfig(resolution=resolution, base_channels=16, max_channels=128))
    scores = net(torch.rand(16, 3, resolution, resolution) * 2 - 1, torch.rand(16, 11, resolution, resolution))
    assert 0.1 < scores.std().item() < 100


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    config = tiny_config(build_face_shards(root / "ds", resolution=32))
    config["steps"] = 2
    train(config_from_dict(config), root / "run")
    return root / "run"


def test_runner_keeps_known_pixels_and_is_seeded_per_face(trained_run):
    gen = load_generator(trained_run)
    assert gen.resolution == 32
    batch = real_batch(4, 32)
    out = gen.generate(batch["image"], batch["bbox"], batch["keypoints"], seeds=[1, 2, 3, 4])
    assert out.shape == (4, 32, 32, 3) and out.dtype == np.uint8
    mask = box_mask(torch.from_numpy(batch["bbox"]), 32)[:, 0].numpy().astype(bool)
    assert np.array_equal(out[mask], batch["image"][mask]), "outside the box the crop is unchanged"
    assert not np.array_equal(out[~mask], batch["image"][~mask])
    alone = gen.generate(batch["image"][2:3], batch["bbox"][2:3], batch["keypoints"][2:3], seeds=[3])
    assert np.array_equal(alone[0], out[2]), "a face's result does not depend on its batch"
    other = gen.generate(batch["image"][2:3], batch["bbox"][2:3], batch["keypoints"][2:3], seeds=[99])
    assert not np.array_equal(other[0], out[2]), "the seed changes the face"


def test_runner_rejects_bad_input(trained_run, tmp_path):
    gen = load_generator(trained_run)
    batch = real_batch(2, 32)
    with pytest.raises(GeneratorError, match="uint8 N x 32 x 32 x 3"):
        gen.generate(batch["image"].astype(np.float32), batch["bbox"], batch["keypoints"], [0, 1])
    with pytest.raises(GeneratorError, match="one seed per crop"):
        gen.generate(batch["image"], batch["bbox"], batch["keypoints"], [0])
    with pytest.raises(GeneratorError, match="x1 > x0"):
        gen.generate(batch["image"], batch["bbox"][:, [2, 1, 0, 3]], batch["keypoints"], [0, 1])
    with pytest.raises(GeneratorError, match="not found"):
        load_generator(tmp_path / "nothing.safetensors")
    with pytest.raises(GeneratorError, match="no checkpoint"):
        load_generator(tmp_path)


def test_exported_weights_give_the_same_faces(trained_run, tmp_path):
    from anonymizer.generator import export_generator

    small = export_generator(trained_run, tmp_path / "gen.safetensors")
    assert small.stat().st_size < sum(p.stat().st_size for p in trained_run.glob("checkpoint-*.safetensors"))
    batch = real_batch(3, 32)
    a = load_generator(trained_run).generate(batch["image"], batch["bbox"], batch["keypoints"], [5, 6, 7])
    b = load_generator(small).generate(batch["image"], batch["bbox"], batch["keypoints"], [5, 6, 7])
    assert np.array_equal(a, b)


def test_truncation_pulls_faces_towards_the_mean_style(trained_run):
    """truncation 1 is the plain generator; 0 draws the mean style, so the seed no longer matters;
    in between, faces of different seeds lie closer together than without it."""
    from anonymizer.generator.runner import GeneratorRunner

    batch = real_batch(1, 32)
    crops, boxes, kps = batch["image"][[0, 0]], batch["bbox"][[0, 0]], batch["keypoints"][[0, 0]]
    plain = load_generator(trained_run)
    with torch.no_grad():  # a 2-step run's mapping barely varies: widen it so the seed visibly matters
        plain.generator.mapping[2].weight.mul_(20)

    def spread(truncation):
        out = GeneratorRunner(plain.generator, truncation=truncation).generate(crops, boxes, kps, [1, 2])
        return np.abs(out[0].astype(int) - out[1]).mean(), out

    full, out = spread(1.0)
    assert np.array_equal(out, plain.generate(crops, boxes, kps, [1, 2]))
    half, _ = spread(0.5)
    none, _ = spread(0.0)
    assert none == 0 and 0 < half < full
    with pytest.raises(GeneratorError, match="truncation"):
        load_generator(trained_run, truncation=1.5)
    with pytest.raises(ValueError, match="w_avg"):
        plain.generator(torch.zeros(1, 11, 32, 32), torch.zeros(1, plain.z_dim), truncation=0.5)
    from anonymizer.inference.image import AnonymizeConfig, AnonymizeConfigError

    with pytest.raises(AnonymizeConfigError, match="truncation"):
        AnonymizeConfig(truncation=-0.1)
