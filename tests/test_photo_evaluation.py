"""The whole-photo evaluation on a real AFW photo and two signer frames: blur against mask."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from anonymizer.inference import AnonymizeConfig, ImageAnonymizer
from anonymizer.photo_evaluation import Photo, acceptance, blend_masks, compare_modes, evaluate_photos, outcome_at
from anonymizer.privacy import PrivacyConfig, PrivacyEvaluator

DATA = Path(__file__).parent / "data"


def load(path: Path):
    return lambda: cv2.imread(str(path))[:, :, ::-1].copy()


@pytest.fixture(scope="module")
def photos():
    entry = json.loads((DATA / "annotate" / "afw_annotations.json").read_text())[0]
    return [
        Photo(entry["file"], load(DATA / "annotate" / entry["file"]), [f["bbox_xyxy"] for f in entry["faces"]], "afw"),
        Photo("again_frame25.jpg", load(DATA / "judges" / "again_frame25.jpg"), None, "signers"),
        Photo("book_frame25.jpg", load(DATA / "judges" / "book_frame25.jpg"), None, "signers"),
    ]


@pytest.fixture(scope="module")
def evaluator():
    return PrivacyEvaluator(
        PrivacyConfig(gallery=str(DATA / "judges" / "people.json"), gallery_root=str(DATA / "judges"))
    )


def test_blur_and_mask_judged_on_whole_photos(photos, evaluator):
    results = {
        mode: evaluate_photos(photos, ImageAnonymizer(AnonymizeConfig(mode=mode)), evaluator)
        for mode in ("blur", "mask")
    }
    report = compare_modes(results)
    for mode in ("blur", "mask"):
        r = report[mode]
        assert r["faces"] == 3 and r["photos"] == 3 and set(r["by_set"]) == {"afw", "signers"}
        assert r["yunet_found"] == 3 and r["yunet_retention"] == 0.0  # neither leaves a face YuNet takes for one
        assert r["sface_reid_rate"] == 0.0 and r["gallery_sface_judged"] == 2 and r["gallery_sface_reid_rate"] == 0.0
        assert r["regions_with_border"] == 3 and r["fd_sface"] > 0
    assert report["blur"]["fd_sface_over_blur"] == 1.0
    # a flat mask holds no detail at all; the blurred face a little
    assert report["mask"]["detail_ratio_median"] < report["blur"]["detail_ratio_median"] < 0.2
    # the grey mask's edge is a colour step the photo did not have; the blur's is softer
    assert report["mask"]["border_colour_excess_median"] > report["blur"]["border_colour_excess_median"]
    checks = acceptance(report["blur"])
    assert not checks["yunet_retention_ge_97pct"] and checks["sface_reid_own_le_2pct"]
    assert len(results["blur"].faces) == 3 and results["blur"].faces[0]["photo"] == photos[0].name
    # blurred and masked faces are no faces to dlib: no distance to the original or the gallery
    assert all(f["dlib_distance"] is None and f["gallery_dlib_distance"] is None for f in results["mask"].faces)
    # each judged face names what the anonymizer drew over it
    assert [f["outcome"] for f in results["mask"].faces] == ["mask"] * 3


def test_outcome_at_names_the_face_drawn_there_or_missed(photos):
    rgb = photos[0].load()
    result = ImageAnonymizer(AnonymizeConfig(mode="pixelate")).anonymize_rgb(rgb)
    box = [float(v) for v in result.faces[0].bbox]
    assert outcome_at(result, box) == "pixelate"
    w = box[2] - box[0]
    assert outcome_at(result, [box[0] + 0.5 * w, box[1], box[2] + 0.5 * w, box[3]]) == "pixelate"  # IoU 1/3
    assert outcome_at(result, [box[2] + w, box[1], box[2] + 2 * w, box[3]]) == "missed"  # nothing drawn there


def test_blend_masks_are_the_feathered_regions(photos):
    rgb = photos[0].load()
    result = ImageAnonymizer(AnonymizeConfig(mode="blur")).anonymize_rgb(rgb)
    (mask,) = blend_masks(result, rgb.shape)
    region = result.regions[0]
    x0, y0, x1, y1 = region.core
    assert mask[y0:y1, x0:x1].min() == 1.0 and mask.max() == 1.0
    px0, py0, px1, py1 = region.paste
    outside = np.ones(mask.shape, bool)
    outside[py0:py1, px0:px1] = False
    assert not mask[outside].any()
    assert 0 < mask[(py0 + y0) // 2, (x0 + x1) // 2] < 1  # the feather margin blends
