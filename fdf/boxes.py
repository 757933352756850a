"""Box geometry shared by detection scoring, tracking and evaluation; boxes are (x0, y0, x1, y1)."""

from __future__ import annotations


def box_centre(box) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)


def point_inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def centre_inside(a, b) -> bool:
    """True when the centre of box ``a`` lies inside box ``b``."""
    return point_inside(box_centre(a), b)


def same_place(a, b) -> bool:
    """One face's place: either box's centre lies inside the other box."""
    return centre_inside(a, b) or centre_inside(b, a)


def centres_inside_each_other(a, b) -> bool:
    """The detector-matching rule of shared/data's baselines: each centre inside the other box."""
    return centre_inside(a, b) and centre_inside(b, a)


def iou(a, b) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
