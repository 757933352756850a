"""Measure an annotated dataset against hand annotations (AFW-style ``annotations.json``).

Annotations: a list of ``{"file", "width", "height", "faces": [{"bbox_xyxy", "eyes",
"yaw_pitch_roll_deg"}]}`` (the format of shared/data/afw-dev). A found face matches an
annotated one when each box's centre lies inside the other box (the rule the detector
baselines use); matching is one-to-one, closest centres first.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..boxes import box_centre, centres_inside_each_other


def boxes_match(a, b) -> bool:
    """True when the centre of each box lies inside the other."""
    return centres_inside_each_other(a, b)


def match_faces(annotated: list, found: list) -> list[tuple[int, int]]:
    """One-to-one (annotated index, found index) pairs under :func:`boxes_match`."""
    pairs = []
    for i, a in enumerate(annotated):
        ca = box_centre(a)
        for j, f in enumerate(found):
            if boxes_match(a, f):
                cf = box_centre(f)
                pairs.append((float(np.hypot(ca[0] - cf[0], ca[1] - cf[1])), i, j))
    used_a, used_f, out = set(), set(), []
    for _, i, j in sorted(pairs):
        if i not in used_a and j not in used_f:
            used_a.add(i)
            used_f.add(j)
            out.append((i, j))
    return out


@dataclass
class AnnotationScore:
    """Recall of faces at least ``min_width`` wide, and yaw agreement on matched faces."""

    photos: int
    annotated_faces: int  # at least min_width wide
    found_faces: int  # of those, matched by a face row
    recall: float
    yaw_faces: int  # matched faces with |annotated yaw| <= max_yaw
    yaw_within: int  # of those, |yaw error| <= yaw_tolerance
    yaw_rate: float
    yaw_mae: float
    extra_faces: int  # face rows matching no annotated face (any size)

    def to_dict(self) -> dict:
        return asdict(self)


def score_annotations(
    faces_by_photo: dict[str, list[dict]],
    annotations: list[dict],
    min_width: float = 64,
    max_yaw: float = 60,
    yaw_tolerance: float = 15,
) -> AnnotationScore:
    """Score face rows (``{"bbox_photo", "yaw"}`` per face, keyed by photo id = file stem)."""
    total = found = yaw_n = yaw_ok = extra = 0
    errors = []
    for ann in annotations:
        photo_id = ann["file"].rsplit("/", 1)[-1].rsplit(".", 1)[0]
        rows = faces_by_photo.get(photo_id, [])
        boxes = [a["bbox_xyxy"] for a in ann["faces"]]
        pairs = dict(match_faces(boxes, [r["bbox_photo"] for r in rows]))
        extra += len(rows) - len(pairs)
        for i, a in enumerate(ann["faces"]):
            if a["bbox_xyxy"][2] - a["bbox_xyxy"][0] < min_width:
                continue
            total += 1
            if i not in pairs:
                continue
            found += 1
            yaw_true = a.get("yaw_pitch_roll_deg", [None])[0]
            yaw = rows[pairs[i]].get("yaw")
            if yaw_true is None or abs(yaw_true) > max_yaw or yaw is None or np.isnan(yaw):
                continue
            yaw_n += 1
            errors.append(abs(yaw - yaw_true))
            yaw_ok += errors[-1] <= yaw_tolerance
    return AnnotationScore(
        photos=len(annotations),
        annotated_faces=total,
        found_faces=found,
        recall=found / total if total else float("nan"),
        yaw_faces=yaw_n,
        yaw_within=yaw_ok,
        yaw_rate=yaw_ok / yaw_n if yaw_n else float("nan"),
        yaw_mae=float(np.mean(errors)) if errors else float("nan"),
        extra_faces=extra,
    )
