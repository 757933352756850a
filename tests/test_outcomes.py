"""Typed face outcomes (issue 18): render(fixed=) redraws the same pixels from them, they escalate
generated -> blurred -> masked, and their JSON form is the old one (seed, mode name, null)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from anonymizer.inference import (
    AnonymizeConfig,
    Blurred,
    FaceBox,
    Generated,
    ImageAnonymizer,
    Masked,
    Outcome,
    Pixelated,
    Skipped,
    read_image,
)
from anonymizer.inference.image import AnonymizeConfigError
from anonymizer.inference.outcome import for_mode, from_json

DATA = Path(__file__).parent / "data" / "anonymize"
ALL = [Generated(7919), Generated(0), Blurred(), Pixelated(), Masked(), Skipped()]


def test_json_form_is_the_old_one_and_round_trips():
    assert [o.to_json() for o in ALL] == [7919, 0, "blur", "pixelate", "mask", None]
    assert [from_json(v) for v in json.loads(json.dumps([o.to_json() for o in ALL]))] == ALL
    for bad in ("gan", "skipped", True, 1.5, [3]):
        with pytest.raises(ValueError):
            from_json(bad)


def test_outcomes_are_values_and_escalate_to_a_mask():
    assert Blurred() == Blurred() and Blurred() != Masked() and Generated(1) != Generated(2)
    assert len(set(ALL + [Generated(7919), Blurred()])) == len(ALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        Generated(1).seed = 2
    assert Generated(3).escalated() == Blurred() and Blurred().escalated() == Masked()
    assert [o.escalated() for o in (Masked(), Pixelated(), Skipped())] == [None, None, None]
    assert [for_mode(m) for m in ("blur", "pixelate", "mask")] == [Blurred(), Pixelated(), Masked()]


@pytest.mark.parametrize("mode", ["blur", "pixelate", "mask"])
def test_fixed_outcomes_redraw_the_same_pixels(mode):
    image = read_image(DATA / "astronaut.jpg")
    anon = ImageAnonymizer(AnonymizeConfig(mode=mode))
    first = anon.anonymize_loaded(image)
    assert first.outcomes == [for_mode(mode)]
    kept = [from_json(json.loads(json.dumps(o.to_json()))) for o in first.outcomes]  # through JSON and back
    again = anon.render(image.pixels, image.rgb, first.faces, [0], fixed=kept)
    assert np.array_equal(again.pixels, first.pixels)
    other = Masked() if mode != "mask" else Blurred()
    assert not np.array_equal(
        anon.render(image.pixels, image.rgb, first.faces, [0], fixed=[other]).pixels, first.pixels
    ), "the outcome, not the mode, decides what is drawn"


def test_a_generated_outcome_redraws_its_own_seed(random_checkpoint):  # noqa: F811 (fixture)
    image = read_image(DATA / "astronaut.jpg")
    anon = ImageAnonymizer(AnonymizeConfig(mode="gan", checkpoint=str(random_checkpoint), verify_identity=False))
    first = anon.anonymize_loaded(image)
    assert first.outcomes == [Generated(0)]
    again = anon.render(image.pixels, image.rgb, first.faces, [5], fixed=[Generated(0)])
    assert np.array_equal(again.pixels, first.pixels), "the outcome's seed, not the seed list, is drawn"
    other = anon.render(image.pixels, image.rgb, first.faces, [0], fixed=[Generated(5)])
    assert not np.array_equal(other.pixels, first.pixels)
    with pytest.raises(AnonymizeConfigError):
        ImageAnonymizer(AnonymizeConfig(mode="blur")).render(
            image.pixels, image.rgb, first.faces, [0], fixed=[Generated(0)]
        )


def test_an_empty_region_is_skipped_and_old_style_outcomes_are_refused():
    rgb = np.full((100, 100, 3), 128, np.uint8)
    faces = [FaceBox((-80, -80, -40, -40), 0.9), FaceBox((20, 20, 60, 60), 0.9)]  # the first lies outside
    anon = ImageAnonymizer(AnonymizeConfig(mode="mask"))
    first = anon.render(rgb.copy(), rgb, faces, [0, 1])
    assert first.outcomes == [Skipped(), Masked()] and all(isinstance(o, Outcome) for o in first.outcomes)
    assert np.array_equal(anon.render(rgb.copy(), rgb, faces, [0, 1], fixed=first.outcomes).pixels, first.pixels)
    with pytest.raises(AnonymizeConfigError):
        anon.render(rgb.copy(), rgb, faces, [0, 1], fixed=[None, "mask"])  # the old, untyped form
    with pytest.raises(AnonymizeConfigError):
        anon.render(rgb.copy(), rgb, faces, [0, 1], fixed=[None, Skipped()])  # a face that has a region
