"""Whole-photo evaluation: anonymize every photo of a set with one config and judge every face.

Issue 14's acceptance is read on whole photos, as a user sees them, not on training crops. Each
photo is anonymized in memory (no file round trip) and every judged face (an annotated box, or
CenterFace's at 0.5 where a photo has no annotation) is measured:

* found again in the output at its place by CenterFace and by YuNet (of the faces each detector
  finds in the original);
* re-identified against its own original by dlib (< 0.6) and SFace (>= 0.363), and, where the
  person has other photos in the gallery, against those (see :mod:`anonymizer.privacy`);
* detail kept in the face box at a 128 px face scale, and the border step along each replaced
  region's blend mask (:mod:`anonymizer.judges.realism`);
* SFace descriptors of every output face at the original's five points, for the Fréchet distance
  to the originals, which :func:`compare_modes` sets against blur's.

    evaluation = evaluate_photos(photos, ImageAnonymizer(AnonymizeConfig()), PrivacyEvaluator(config))
    report = compare_modes({"gan": evaluation, "blur": other})
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .inference.regions import feather_weights
from .judges.photo import at_place
from .judges.realism import border_score, detail_ratio, frechet_distance
from .privacy import JUDGE_COUNTS, PrivacyEvaluator, judge_rates

log = logging.getLogger(__name__)


@dataclass
class Photo:
    """One photo to anonymize: ``name`` (its source for the gallery, e.g. ``again.mkv#40``),
    ``load`` (returns its RGB uint8 pixels; photos are read when judged, not all held at once),
    annotated ``boxes`` (None: judge CenterFace's faces) and the set it is from."""

    name: str
    load: Callable[[], np.ndarray]
    boxes: list | None
    set: str


@dataclass
class PhotoSetResult:
    """What one config did to a photo set: totals per set, per-face rows, SFace descriptors."""

    counts: dict = field(default_factory=dict)  # set name -> Counter of judge and dlib counts
    detail: list = field(default_factory=list)
    border_colour: list = field(default_factory=list)
    border_gradient: list = field(default_factory=list)
    sface_original: list = field(default_factory=list)
    sface_output: list = field(default_factory=list)
    faces: list = field(default_factory=list)
    seconds: float = 0.0
    photos: int = 0


def blend_masks(result, shape) -> list[np.ndarray]:
    """Per replaced region of an :class:`~anonymizer.inference.AnonymizedImage`, the H x W blend
    weights it was composited with: the region's own ``weights`` over its paste box when it has
    them (gan mode's face mask), else the feathered box (1 on the core, linear to the paste edge)."""

    masks = []
    for region in result.regions:
        x0, y0, x1, y1 = region.paste
        if x1 <= x0 or y1 <= y0:
            continue
        weights = getattr(region, "weights", None)
        mask = np.zeros(shape[:2], np.float32)
        mask[y0:y1, x0:x1] = weights if weights is not None else feather_weights(region)
        masks.append(mask)
    return masks


def outcome_at(result, box) -> int | str | None:
    """What the anonymizer drew over the judged face ``box``: the outcome (JSON form: a generated
    face's seed, or "blur", "mask", ...) of the face it found at that place (the judges' rule,
    :func:`~anonymizer.judges.photo.at_place`), or "missed" when it found none there (the face
    was left as it was)."""
    face = at_place(result.faces, box)
    if face is None:
        return "missed"
    return next(o for f, o in zip(result.faces, result.outcomes) if f is face).to_json()


def evaluate_photos(photos: list[Photo], anonymizer, evaluator: PrivacyEvaluator) -> PhotoSetResult:
    """Anonymize and judge every photo (see the module doc); ``evaluator`` needs its second judges."""
    if evaluator.judges is None:
        raise ValueError("the whole-photo evaluation needs the second judges (PrivacyConfig.second_judges)")
    out = PhotoSetResult()
    for photo in photos:
        rgb = photo.load()
        boxes = photo.boxes
        if boxes is None:  # no annotation: the faces CenterFace finds are the ones to judge
            boxes = [list(d.bbox) for d in evaluator.analyzer.detect(rgb)]
        started = time.perf_counter()
        result = anonymizer.anonymize_rgb(rgb)
        out.seconds += time.perf_counter() - started
        out.photos += 1
        verdict = evaluator.compare_arrays(rgb, result.pixels, known_boxes=boxes, source=photo.name)
        count = out.counts.setdefault(photo.set, Counter())
        count.update(verdict.judges)
        count.update(
            {
                "photos": 1,
                "faces": verdict.faces,
                "dlib_described": verdict.described,
                "dlib_leaks": verdict.leaks,
                "regenerated": result.regenerated,
                "blurred": result.blurred,
            }
        )
        for box, opinion, own, gallery in zip(boxes, verdict.opinions, verdict.own_dlib, verdict.gallery_dlib):
            ratio = detail_ratio(rgb, result.pixels, box)
            out.detail.append(ratio)
            if opinion.original is not None:
                out.sface_original.append(opinion.original)
                out.sface_output.append(opinion.output_aligned)
            out.faces.append(
                {
                    "photo": photo.name,
                    "set": photo.set,
                    "box": [round(float(v), 1) for v in box],
                    "yunet_original": opinion.yunet_original,
                    "yunet_output": opinion.yunet_output,
                    "sface_similarity": _round(opinion.similarity),
                    "sface_similarity_aligned": _round(opinion.similarity_aligned),
                    "gallery_sface_similarity": _round(opinion.gallery_similarity),
                    "dlib_distance": own,
                    "gallery_dlib_distance": gallery,
                    "detail_ratio": _round(ratio),
                    "outcome": outcome_at(result, box),
                }
            )
        for mask in blend_masks(result, rgb.shape):
            score = border_score(rgb, result.pixels, mask)
            if score is not None:
                out.border_colour.append(score.colour_excess)
                out.border_gradient.append(score.gradient_excess)
        log.info(
            "%s: %d faces, %d dlib leaks, %d SFace leaks",
            photo.name,
            verdict.faces,
            verdict.leaks,
            verdict.judges["sface_leaks"],
        )
    return out


def _round(value, digits: int = 4):
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def _median(values) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return round(float(np.median(finite)), 4) if finite else None


def summarize(result: PhotoSetResult) -> dict:
    """Totals, per-set rates and realism medians of one config's run."""
    total = sum(result.counts.values(), Counter())

    def rates(c: Counter) -> dict:
        row = judge_rates(Counter({k: c[k] for k in JUDGE_COUNTS}), c["dlib_described"], c["dlib_leaks"])
        row.update(
            {k: int(c[k]) for k in ("photos", "faces", "dlib_described", "dlib_leaks", "regenerated", "blurred")}
        )
        return row

    return {
        **rates(total),
        "by_set": {name: rates(c) for name, c in result.counts.items()},
        "detail_ratio_median": _median(result.detail),
        "border_colour_excess_median": _median(result.border_colour),
        "border_gradient_excess_median": _median(result.border_gradient),
        "regions_with_border": len(result.border_colour),
        "seconds_anonymizing": round(result.seconds, 1),
        "photos_per_s": round(result.photos / result.seconds, 3) if result.seconds else None,
    }


def compare_modes(results: dict[str, PhotoSetResult], reference: str = "blur") -> dict:
    """Every config's summary, its SFace Fréchet distance to the originals and, against the
    ``reference`` config's (blur), the ratio issue 14 asks to be at most one half."""
    report = {name: summarize(r) for name, r in results.items()}
    fd = {
        name: frechet_distance(np.stack(r.sface_original), np.stack(r.sface_output))
        for name, r in results.items()
        if len(r.sface_original) >= 2
    }
    for name, value in fd.items():
        report[name]["fd_sface"] = round(value, 4)
        if reference in fd and fd[reference] > 0:
            report[name]["fd_sface_over_" + reference] = round(value / fd[reference], 4)
    return report


def acceptance(summary: dict, reference: str = "blur") -> dict:
    """Issue 14's whole-photo targets read on one config's summary."""
    ratio = summary.get("fd_sface_over_" + reference)

    def at_most(value, limit):
        return value is not None and value <= limit

    return {
        "centerface_retention_ge_97pct": (summary["centerface_retention"] or 0) >= 0.97,
        "yunet_retention_ge_97pct": (summary["yunet_retention"] or 0) >= 0.97,
        "dlib_reid_own_le_2pct": at_most(summary["dlib_reid_rate"], 0.02),
        "sface_reid_own_le_2pct": at_most(summary["sface_reid_rate"], 0.02),
        "dlib_reid_gallery_le_2pct": at_most(summary["gallery_dlib_reid_rate"], 0.02),
        "sface_reid_gallery_le_2pct": at_most(summary["gallery_sface_reid_rate"], 0.02),
        "detail_ratio_ge_0.3": (summary["detail_ratio_median"] or 0) >= 0.3,
        "fd_sface_at_most_half_of_blur": at_most(ratio, 0.5),
    }
