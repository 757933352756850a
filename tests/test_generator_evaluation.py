"""Generator evaluation on real MTFL faces: Fréchet distance, the blur baseline, the report and
the ``fdf evaluate-generator`` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_generator import real_batch
from test_train_resume import one_step_run

from anonymizer.evaluation import (
    EvaluationConfig,
    blur_faces,
    evaluate_generator,
    frechet_distance,
)
from anonymizer.generator.conditioning import box_mask
from pipelines.cli import main


def test_frechet_distance_matches_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    shift = np.array([1.0, 2.0, 0, 0, 0])
    assert frechet_distance(a, a + shift) == pytest.approx(5.0, rel=1e-6), "a shift adds its squared length"
    # Scaling by s = 3: (1 - s)^2 * (|mean|^2 + Tr(cov)).
    expected = (1 - 3) ** 2 * ((a.mean(0) ** 2).sum() + np.trace(np.cov(a, rowvar=False)))
    assert frechet_distance(a, 3 * a) == pytest.approx(expected, rel=1e-6)


def test_blur_changes_only_the_box():
    batch = real_batch(3)
    out = blur_faces(batch["image"], batch["bbox"], 0.15)
    inside = box_mask(torch.from_numpy(batch["bbox"]), 64)[:, 0].numpy() == 0
    assert np.array_equal(out[~inside], batch["image"][~inside])
    assert np.abs(out[inside].astype(int) - batch["image"][inside]).mean() > 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return one_step_run(tmp_path_factory.mktemp("eval"), resolution=64)


def test_report_on_validation_faces(setup):
    run, data = setup
    report = evaluate_generator(run, data, EvaluationConfig(limit=6))
    assert report["faces"] == 6 and report["split"] == "validation"
    assert report["original"]["detection_rate"] >= 0.5, "CenterFace finds most real MTFL faces"
    for name in ("generated", "blur"):
        r = report[name]
        assert 0 <= r["reid_rate"] <= 1 and 0 <= r["detection_retention"] <= 1
        assert r["mean_descriptor_distance"] > 0 and r["fd_dlib"] > 0
    assert "skipped" in report["fid"]
    assert set(report["acceptance"]) == {
        "reid_rate_le_5pct",
        "detection_retention_ge_90pct",
        "fd_dlib_better_than_blur",
    }


def test_cli_json_and_errors(setup, capsys, tmp_path):
    run, data = setup
    assert main(["evaluate-generator", str(run), "--data", str(data), "--limit", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["faces"] == 3
    assert main(["evaluate-generator", str(tmp_path / "none"), "--data", str(data)]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["evaluate-generator", str(run), "--data", str(data), "--truncation", "2"]) == 2
    assert "truncation" in capsys.readouterr().err
    assert (
        main(["evaluate-generator", str(run), "--data", str(data), "--limit", "3", "--truncation", "0.7", "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["config"]["truncation"] == 0.7
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    assert main(["evaluate-generator", str(run), "--data", str(data), "--inception", str(bad), "--limit", "3"]) == 2
    assert "Inception" in capsys.readouterr().err


def test_summary_separates_identity_from_chance_matches():
    """Hand-made descriptors: replacement 0 stays its own person, 1 and 2 become strangers
    who are close to someone else; top-1 identification and the impostor rate tell them apart."""
    from anonymizer.evaluation import summarize

    e = np.eye(4, 128, dtype=np.float32)
    originals = [e[0], e[1], e[2]]
    replaced = [e[0] + 0.01, e[2] + 0.01, e[3]]
    measures = [
        {
            "original": {"descriptor": o, "detected": True},
            "generated": {"descriptor": r, "detected": True},
            "blur": {"descriptor": e[3] * 5, "detected": False},
        }
        for o, r in zip(originals, replaced)
    ]
    report = summarize(measures, EvaluationConfig())
    g = report["generated"]
    assert g["reid_rate"] == 1 / 3 and g["identification_top1"] == 1 / 3
    assert g["impostor_rate"] == 1 / 6, "replacement 1 lies next to original 2: one stranger pair of six"
    assert report["original"]["impostor_rate"] == 0 and report["original"]["identification_chance"] == 1 / 3


def test_identity_check_rows(setup):
    run, data = setup
    report = evaluate_generator(run, data, EvaluationConfig(limit=6, check_tries=3))
    checked = report["generated_checked"]
    assert checked["reid_rate"] <= report["generated"]["reid_rate"]
    assert checked["regenerated"] >= 0 and 0 <= checked["blurred"] <= 6
    if report["generated"]["reid_rate"] > 0:
        assert checked["regenerated"] > 0, "faces under the threshold were regenerated"


def test_check_tries_below_one_is_a_clear_error(setup):
    from anonymizer.evaluation import EvaluationError

    run, data = setup
    with pytest.raises(EvaluationError, match="check_tries"):
        evaluate_generator(run, data, EvaluationConfig(limit=3, check_tries=0))


def test_several_seeds_pool_reidentification(setup):
    from anonymizer.evaluation import EvaluationError

    run, data = setup
    report = evaluate_generator(run, data, EvaluationConfig(limit=6, seeds=3))
    pooled = report["generated_seeds"]
    assert pooled["seeds"] == 3 and pooled["samples"] == 18
    assert pooled["reid_rate_per_seed"][0] == report["generated"]["reid_rate"], "seed 0 is the one-seed row"
    assert abs(pooled["reid_rate"] - np.mean(pooled["reid_rate_per_seed"])) < 1e-9
    low, high = pooled["reid_ci95"]
    assert low <= pooled["reid_rate"] <= high and high - low > 0.1, "18 samples cannot pin a rate down"
    assert report["acceptance"]["reid_rate_le_5pct"] == (pooled["reid_rate"] <= 0.05)
    with pytest.raises(EvaluationError, match="seeds"):
        evaluate_generator(run, data, EvaluationConfig(limit=3, seeds=0))


def test_summary_pools_hand_made_seeds():
    """Two seeds: face 0 matches with both, face 1 with one, face 2 with none."""
    from anonymizer.evaluation import summarize, wilson_interval

    e = np.eye(4, 128, dtype=np.float32)
    near, far = 0.1, 1.0
    rows = [
        (e[0], e[0] * (1 + near), e[0] * (1 + near)),
        (e[1], e[1] * (1 + near), e[1] + far * e[3]),
        (e[2], e[2] + far * e[3], e[2] - far * e[3]),
    ]
    measures = [
        {
            "original": {"descriptor": o, "detected": True},
            "generated": {"descriptor": a, "detected": True},
            "generated_seed1": {"descriptor": b, "detected": False},
            "blur": {"descriptor": e[3] * 5, "detected": False},
        }
        for o, a, b in rows
    ]
    pooled = summarize(measures, EvaluationConfig())["generated_seeds"]
    assert pooled["reid_rate_per_seed"] == [2 / 3, 1 / 3] and pooled["reid_rate"] == 0.5
    assert pooled["faces_reidentified_by_every_seed"] == 1 / 3 and pooled["detection_retention"] == 0.5
    low, high = wilson_interval(3, 6)
    assert pooled["reid_ci95"] == (low, high) and low < 0.5 < high


def test_attacker_views(setup, capsys):
    run, data = setup
    report = evaluate_generator(run, data, EvaluationConfig(limit=4, seeds=2, attacker_views=True))
    for name in ("generated", "blur"):
        r = report[name]
        # Any of three views re-identifies at least as often as each view alone.
        assert r["reid_rate_any_view"] >= max(r["reid_rate"], r["reid_rate_own_shape"], r["reid_rate_mirrored"])
    s = report["generated_seeds"]
    assert s["reid_rate_any_view"] >= s["reid_rate"] and len(s["reid_any_view_ci95"]) == 2
    assert main(["evaluate-generator", str(run), "--data", str(data), "--limit", "3", "--attacker-views"]) == 0
    assert "as an attacker sees it" in capsys.readouterr().out


def test_attacker_views_of_the_original_are_the_original():
    import cv2

    from anonymizer.evaluation import _attacker_views
    from fdf.annotate.identity import face_embedding
    from fdf.annotate.landmarks import predict_shape

    batch = real_batch(2)
    config = EvaluationConfig()
    for crop, box in zip(batch["image"], batch["bbox"]):
        big = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_CUBIC)
        reference = face_embedding(big, predict_shape(big, box * 4, "centerface"))
        own, mirrored = np.linalg.norm(_attacker_views(big, box * 4, config) - reference, axis=1)
        assert own < 1e-5, "own shape of the original is the shape the reference used"
        assert mirrored < 0.45, "a mirrored face is still the same person to dlib"


def test_box_lightness_sees_a_darkened_face():
    from anonymizer.evaluation import box_lightness

    batch = real_batch(3)
    holes = batch["bbox"]
    darker = batch["image"].copy()
    inside = box_mask(torch.from_numpy(holes), 64)[:, 0].numpy() == 0
    darker[inside] = (darker[inside] * 0.6).astype(np.uint8)
    shift = box_lightness(darker, holes) - box_lightness(batch["image"], holes)
    assert (shift < -5).all()
    assert np.allclose(box_lightness(batch["image"], holes), box_lightness(batch["image"].copy(), holes))


def test_second_judges_and_realism_in_the_report(setup, capsys):
    """YuNet, SFace, detail at 128 px and the border step join the report; the original judged
    against itself is the reference point of every one of them."""
    from anonymizer.evaluation import format_report

    run, data = setup
    report = evaluate_generator(run, data, EvaluationConfig(limit=5, check_tries=2))
    assert 0 <= report["original"]["detection_rate_yunet"] <= 1
    for name in ("generated", "generated_checked", "blur"):
        r = report[name]
        assert 0 <= r["sface_reid_rate"] <= 1 and -1 <= r["sface_mean_similarity"] <= 1
        assert 0 <= r["detection_retention_yunet"] <= 1 and r["fd_sface"] > 0
        assert r["detail_ratio_median"] > 0 and r["border_gradient_excess_median"] is not None
    assert report["blur"]["detail_ratio_median"] < 0.5, "a blurred face box keeps little detail"
    assert set(report["acceptance_independent"]) >= {"reid_rate_sface_le_2pct", "fd_sface_at_most_half_of_blur"}
    assert "second judges" in format_report(report)
    plain = evaluate_generator(run, data, EvaluationConfig(limit=3, second_judges=False))
    assert "sface_reid_rate" not in plain["generated"] and "acceptance_independent" not in plain
