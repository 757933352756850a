"""Identity check after generation: faces dlib still matches are regenerated, then blurred."""

from pathlib import Path

import numpy as np

from anonymizer.inference import AnonymizeConfig, Blurred, Generated, ImageAnonymizer, Masked, read_image
from anonymizer.inference.modes import mask_patches
from anonymizer.inference.regions import replaced_mask
from anonymizer.inference.verify import describe, describe_views, leaking, output_distance
from fdf.boxes import iou

DATA = Path(__file__).parent / "data" / "anonymize"


def test_unchanged_face_leaks_masked_face_does_not():
    image = read_image(DATA / "astronaut.jpg")
    anon = ImageAnonymizer(AnonymizeConfig(mode="mask"))
    faces = anon.detect(image.rgb)
    descriptors = [describe(image.rgb, f.bbox) for f in faces]
    assert leaking(image.rgb, faces, descriptors, 0.6) == [0]
    assert output_distance(image.rgb, faces[0], descriptors[0]) < 0.1
    masked = anon.anonymize_loaded(image).pixels
    assert leaking(masked, faces, descriptors, 0.6) == []


class CopyingGenerator(ImageAnonymizer):
    """gan mode whose 'generator' returns the original pixels for some seeds: the worst case a
    generator can do. Everything else (detection, dlib check, compositing, blur) is the real code."""

    def __init__(self, config, copy_seeds_below: int):
        super().__init__(config)
        self.copy_below, self.calls = copy_seeds_below, []
        self._render = self.copying_render  # replaces the generator only

    def copying_render(self, rgb, jobs):
        self.calls.append([j.seed for j in jobs])
        out = []
        for job in jobs:
            if job.seed < self.copy_below:
                x0, y0, x1, y1 = job.region.paste
                out.append(rgb[y0:y1, x0:x1].copy())
            else:
                out.append(mask_patches(rgb, [job])[0])
        return out


def config():
    return AnonymizeConfig(mode="gan", verify_tries=3)


def test_leaking_face_is_regenerated_with_another_seed():
    image = read_image(DATA / "astronaut.jpg")
    anon = CopyingGenerator(config(), copy_seeds_below=1)  # only the first latent (seed 0) copies
    result = anon.anonymize_loaded(image)
    assert anon.calls == [[0], [7919]]
    assert result.regenerated == 1 and result.blurred == 0
    # The second 'generation' (flat) was kept: every pixel of the face mask's solid part shows it.
    replaced = replaced_mask(result.regions, image.rgb.shape)
    x0, y0, x1, y1 = (int(round(v)) for v in result.faces[0].bbox)
    assert replaced[y0:y1, x0:x1].all() and (result.pixels[replaced] == 0).all()


def test_face_that_keeps_leaking_is_blurred():
    image = read_image(DATA / "astronaut.jpg")
    anon = CopyingGenerator(config(), copy_seeds_below=10**9)  # every latent copies the face
    result = anon.anonymize_loaded(image)
    assert len(anon.calls) == 3 and result.regenerated == 2 and result.blurred == 1
    faces = anon.detect(image.rgb)
    descriptors = [describe(image.rgb, f.bbox) for f in faces]
    assert leaking(result.pixels, faces, descriptors, 0.6) == []
    x0, y0, x1, y1 = result.regions[0].core
    assert np.abs(result.pixels[y0:y1, x0:x1].astype(int) - image.pixels[y0:y1, x0:x1]).mean() > 10


def test_check_can_be_switched_off():
    image = read_image(DATA / "astronaut.jpg")
    anon = CopyingGenerator(AnonymizeConfig(mode="gan", verify_identity=False), copy_seeds_below=10**9)
    result = anon.anonymize_loaded(image)
    assert len(anon.calls) == 1 and result.regenerated == 0 and result.blurred == 0


def test_original_is_described_from_several_boxes_and_the_output_searched_twice():
    from anonymizer.inference.verify import scene_faces

    image = read_image(DATA / "astronaut.jpg")
    faces = ImageAnonymizer(AnonymizeConfig(mode="blur")).detect(image.rgb)
    box = faces[0].bbox
    assert np.allclose(describe_views(image.rgb, box)[0], describe(image.rgb, box))
    scene = scene_faces(image.rgb)  # a one-pass detection finds the face at the same place
    assert any(iou(b, box) > 0.7 for b in scene)
    # a box of the scene that differs from the anonymizer's adds a view; far-away boxes do not
    w = box[2] - box[0]
    moved = (box[0] + 0.1 * w, box[1], box[2] + 0.1 * w, box[3])
    views = describe_views(image.rgb, box, [moved, (0, 0, 10, 10)])
    assert views.shape == (2, 128) and not np.allclose(views[0], views[1])
    assert output_distance(image.rgb, faces[0], views, scene) < 0.1
    assert leaking(image.rgb, faces, [views], 0.6) == [0]


def test_lossy_view_of_the_output_is_judged_too():
    from anonymizer.inference.verify import lossy_copy

    image = read_image(DATA / "astronaut.jpg")
    faces = ImageAnonymizer(AnonymizeConfig(mode="blur")).detect(image.rgb)
    rough = lossy_copy(image.rgb, 30)
    assert rough.shape == image.rgb.shape and np.abs(rough.astype(int) - image.rgb).mean() > 1
    views = [describe_views(image.rgb, faces[0].bbox)]
    assert leaking(image.rgb, faces, views, 0.6, lossy_qualities=(30,)) == [0]


def test_fixed_outcomes_redraw_the_same_output_without_checking():
    image = read_image(DATA / "astronaut.jpg")
    anon = CopyingGenerator(config(), copy_seeds_below=1)
    first = anon.anonymize_loaded(image)
    assert first.outcomes == [Generated(7919)] and first.descriptors[0].shape[1] == 128
    calls = len(anon.calls)
    again = anon.render(image.pixels, image.rgb, first.faces, [0], fixed=first.outcomes)
    assert np.array_equal(again.pixels, first.pixels)
    assert anon.calls[calls:] == [[7919]]  # one generation with the kept seed, no check, no retry
    assert again.descriptors == [None]
    blurred = anon.render(image.pixels, image.rgb, first.faces, [0], fixed=[Blurred()])
    masked = anon.render(image.pixels, image.rgb, first.faces, [0], fixed=[Masked()])
    x0, y0, x1, y1 = first.regions[0].core
    assert not np.array_equal(blurred.pixels[y0:y1, x0:x1], first.pixels[y0:y1, x0:x1])
    assert (masked.pixels[y0:y1, x0:x1] == masked.pixels[y0, x0]).all()


def test_sface_flags_a_face_dlib_lets_pass(monkeypatch):
    """A copied face that dlib is made to miss (its distances forced far) is still caught by the
    second recogniser, SFace at the original's five points, and regenerated; with SFace off it
    passes (so the check really rests on SFace here)."""
    import anonymizer.inference.image as image_module

    monkeypatch.setattr(image_module, "leak_distances", lambda output, faces, *a, **k: [1.5] * len(faces))
    image = read_image(DATA / "astronaut.jpg")
    anon = CopyingGenerator(config(), copy_seeds_below=1)
    result = anon.anonymize_loaded(image)
    assert anon.calls == [[0], [7919]] and result.regenerated == 1
    off = CopyingGenerator(AnonymizeConfig(mode="gan", verify_tries=3, second_recogniser=False), copy_seeds_below=1)
    passed = off.anonymize_loaded(image)
    assert off.calls == [[0]] and passed.regenerated == 0


def test_a_blur_the_recognisers_still_link_is_masked_over_the_box(monkeypatch):
    """The fallback blur is judged as drawn: when dlib still finds the person in it (here forced:
    every check says 0.1), the face is painted flat over its whole box instead; when the blur
    passes, it stays."""
    import anonymizer.inference.image as image_module

    image = read_image(DATA / "astronaut.jpg")
    calls = []

    def judged(output, faces, *a, **k):
        calls.append(1)
        return [0.1 if len(calls) <= limit else 1.5] * len(faces)

    monkeypatch.setattr(image_module, "leak_distances", judged)
    limit = 10**9  # every judgement leaks, the blur's too
    anon = CopyingGenerator(config(), copy_seeds_below=10**9)
    result = anon.anonymize_loaded(image)
    assert len(calls) == 4 and result.outcomes == [Masked()] and result.blurred == 1
    (region,) = result.regions
    assert region.weights is None, "the mask covers the whole box"
    x0, y0, x1, y1 = region.core
    assert (result.pixels[y0:y1, x0:x1] == result.pixels[y0, x0]).all()
    calls.clear()
    limit = 3  # the three generations leak, the blur does not
    result = anon.anonymize_loaded(image)
    assert len(calls) == 4 and result.outcomes == [Blurred()] and result.blurred == 1
