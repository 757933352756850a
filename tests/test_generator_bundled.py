"""The model shipped in anonymizer/weights/: it loads with no arguments, is small, has a model
card, and replaces real faces while keeping the surroundings."""

from __future__ import annotations

import numpy as np
import torch
from test_generator import real_batch

from anonymizer.generator import load_generator
from anonymizer.generator.conditioning import box_mask, grow_boxes
from anonymizer.generator.runner import BUNDLED_WEIGHTS, WEIGHTS_DIR


def test_bundled_weights_are_small_and_documented():
    assert BUNDLED_WEIGHTS.is_file()
    assert BUNDLED_WEIGHTS.stat().st_size < 10 * 2**20, "a few MB"
    card = (WEIGHTS_DIR / "MODEL_CARD.md").read_text()
    for needed in ("MTFL", "research", "re-identification", "detection", "FD-dlib", "Licence", "Limits"):
        assert needed in card, needed


def test_bundled_generator_replaces_faces():
    gen = load_generator()
    size = gen.resolution
    assert size in (64, 128) and gen.hole == "outline"
    batch = real_batch(6, size)
    holes = grow_boxes(torch.from_numpy(batch["bbox"]), gen.mask_dilation, size).numpy()
    # These faces have no 68 landmarks: the ellipse through each box, as the anonymizer draws them.
    inside = gen.outline_holes(batch["bbox"], np.full((6, 68, 2), np.nan), holes)
    assert inside.any(axis=(1, 2)).all()
    assert not inside[box_mask(torch.from_numpy(holes), size)[:, 0].numpy() == 1].any()
    out = gen.generate(batch["image"], holes, batch["keypoints"], seeds=list(range(6)), holes=inside)
    assert np.array_equal(out[~inside], batch["image"][~inside])
    change = np.abs(out[inside].astype(int) - batch["image"][inside]).mean()
    assert change > 10, f"the face is replaced, not copied (mean change {change:.1f})"
    # A trained model makes skin-toned faces, not grey or saturated blocks.
    face = out[inside].reshape(-1, 3).astype(float)
    assert 40 < face.mean() < 220 and face.std() > 10
