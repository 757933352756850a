"""A generator trained with a grown hole (``mask_dilation``): training, evaluation and the
anonymizer all fill the same grown region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_train_resume import one_step_run

from anonymizer.evaluation import EvaluationConfig, evaluate_generator
from anonymizer.generator import load_generator
from anonymizer.generator.conditioning import box_mask, grow_boxes
from anonymizer.generator.networks import NetworkConfig
from anonymizer.inference.image import (
    DEFAULT_DILATION,
    AnonymizeConfig,
    ImageAnonymizer,
)


def test_grow_boxes_grows_each_side_and_clips():
    boxes = torch.tensor([[10.0, 20.0, 30.0, 60.0], [0.0, 0.0, 8.0, 8.0]])
    grown = grow_boxes(boxes, 0.25, 64)
    assert grown[0].tolist() == [5.0, 10.0, 35.0, 64.0]  # 70 clipped to the crop
    assert grown[1].tolist() == [0.0, 0.0, 10.0, 10.0]
    assert torch.equal(grow_boxes(boxes, 0.0, 64), boxes)
    with pytest.raises(ValueError):
        NetworkConfig(mask_dilation=1.5)


@pytest.fixture(scope="module")
def dilated_run(tmp_path_factory):
    return one_step_run(tmp_path_factory.mktemp("dilated"), resolution=32, mask_dilation=0.25)


def test_generator_fills_the_grown_hole_only(dilated_run):
    run, _ = dilated_run
    gen = load_generator(run)
    assert gen.mask_dilation == 0.25
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 20, 22], [8, 6, 24, 26]], np.float32)
    holes = grow_boxes(torch.from_numpy(boxes), gen.mask_dilation, 32).numpy()
    out = gen.generate(crops, holes, np.zeros((2, 7, 3), np.float32), seeds=[0, 1])
    outside = box_mask(torch.from_numpy(holes), 32)[:, 0].numpy().astype(bool)
    assert np.array_equal(out[outside], crops[outside]), "pixels outside the grown hole are kept"
    in_box = ~box_mask(torch.from_numpy(boxes), 32)[:, 0].numpy().astype(bool)
    ring = ~outside & ~in_box
    assert ring.any() and (out[ring] != crops[ring]).any(), "the ring between box and grown hole is generated"


def test_anonymizer_takes_the_models_dilation_unless_told(dilated_run):
    run, _ = dilated_run
    assert ImageAnonymizer(AnonymizeConfig(checkpoint=str(run))).dilation == 0.25
    assert ImageAnonymizer(AnonymizeConfig(checkpoint=str(run), dilation=0.1)).dilation == 0.1
    assert ImageAnonymizer(AnonymizeConfig(mode="blur")).dilation == DEFAULT_DILATION


def test_evaluation_reports_and_uses_the_dilation(dilated_run):
    run, data = dilated_run
    report = evaluate_generator(run, data, EvaluationConfig(limit=3))
    assert report["mask_dilation"] == 0.25 and report["faces"] == 3


def test_anonymizer_crops_around_the_face_box_for_a_dilated_model(dilated_run, monkeypatch):
    """Training crops were cut around the face box with the hole grown inside them; the
    anonymizer must hand the generator the same geometry, not a crop around the grown region."""
    from PIL import Image
    from test_anonymize_small_faces import DATA

    from anonymizer.inference.regions import dilate_box
    from fdf.annotate import make_fdf_crop
    from fdf.annotate.crops import to_crop_coords

    run, _ = dilated_run
    anon = ImageAnonymizer(AnonymizeConfig(checkpoint=str(run), verify_identity=False))
    seen = {}
    real_generate = anon._gan.generator.generate

    def spy(crops, boxes, keypoints, seeds):
        seen["boxes"] = np.array(boxes)
        return real_generate(crops, boxes, keypoints, seeds)

    monkeypatch.setattr(anon._gan.generator, "generate", spy)
    rgb = np.asarray(Image.open(DATA / "astronaut.jpg").convert("RGB"))
    (face,) = anon.detect(rgb)
    anon.render(rgb.copy(), rgb, [face], [0])
    _, crop_box = make_fdf_crop(rgb, face.bbox, resolution=32)
    core = anon.region_of(face, rgb.shape).core
    assert core == tuple(int(v) for v in core) and anon.dilation == 0.25
    grown = dilate_box(face.bbox, 0.25)
    expected = to_crop_coords([[grown[0], grown[1]], [grown[2], grown[3]]], crop_box, 32).ravel()
    assert np.allclose(seen["boxes"][0], np.clip(expected, 0, 32), atol=1.0)
