"""The face's outline, shared by the generator's hole and gan mode's blend mask.

A model trained with ``NetworkConfig.hole == "outline"`` fills only the face: the convex hull of
dlib's jaw line (points 0-16) and of the brows (17-26) raised over the forehead, grown by a
margin, plus the face box; where the 68 landmarks cannot outline the face, an ellipse through
the corners of the face box grown the same way. Hair, ears, neck and background stay in its
input. The anonymizer's blend mask (:mod:`anonymizer.inference.face_mask`) is drawn by the same
functions, so the generator is trained on the region it is later shown through: what it sees
around the hole is what the output keeps from the photo anyway.

Sizes are fractions of the face size, the longer side of the face box.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from fdf.boxes import iou

#: Faces smaller than this (longer box side, photo px) get the ellipse: dlib's 68-point fit on a
#: face a few dozen pixels across is a guess, and the ellipse through the box corners covers it anyway.
MIN_LANDMARK_FACE = 24
#: Beyond this yaw (degrees, from the detector's five points) dlib's frontal shape model folds
#: the far jaw line onto the face; the ellipse covers a profile more safely.
MAX_LANDMARK_YAW = 50.0
#: A landmark fit whose extent overlaps the face box less than this (IoU) wandered off the face.
MIN_LANDMARK_IOU = 0.3
#: An ellipse through the corners of a box has semi-axes sqrt(2) times the half sides.
ELLIPSE_SCALE = math.sqrt(2.0)
#: Raise the brows by this fraction of the eye-to-chin distance (the landmarks stop at the brows;
#: the forehead above them is skin that identifies as much as the cheeks).
FOREHEAD = 0.3


def face_size(bbox) -> float:
    """Longer side of a face box: the unit of every outline size."""
    return float(max(bbox[2] - bbox[0], bbox[3] - bbox[1]))


def landmarks_usable(
    landmarks68: np.ndarray | None, bbox, yaw: float | None = None, min_face: float = MIN_LANDMARK_FACE
) -> bool:
    """True when the 68 landmarks can outline the face (see the module constants; ``min_face``
    in the units of ``bbox``)."""
    if landmarks68 is None or face_size(bbox) < min_face:
        return False
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2) or not np.isfinite(lm).all():
        return False
    if yaw is not None and np.isfinite(yaw) and abs(yaw) > MAX_LANDMARK_YAW:
        return False
    extent = (*lm.min(0), *lm.max(0))
    return iou(extent, bbox) >= MIN_LANDMARK_IOU


def outline_points(landmarks68: np.ndarray, forehead: float = FOREHEAD) -> np.ndarray:
    """Points whose convex hull is the face: the jaw line and the brows raised over the forehead.

    "Up" is from the chin (point 8) to the middle of the eyes, so a tilted head gets a tilted
    forehead."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    up = lm[36:48].mean(0) - lm[8]
    eye_chin = float(np.hypot(*up))
    raised = lm[17:27] + (up / max(eye_chin, 1e-6)) * forehead * eye_chin
    return np.vstack([lm[0:17], lm[17:27], raised])


def outline_solid(
    shape: tuple[int, int],
    bbox,
    landmarks68: np.ndarray | None,
    grow: float,
    forehead: float = FOREHEAD,
    offset: tuple[float, float] = (0.0, 0.0),
    box: bool = True,
) -> np.ndarray:
    """Boolean mask (``shape`` h x w, its pixel (0, 0) at ``offset`` in the coordinates of
    ``bbox`` and ``landmarks68``) of the face outline grown by ``grow`` times the face size,
    plus the face box (``box``). ``landmarks68`` None: the ellipse through the box corners (the
    caller decides with :func:`landmarks_usable`), which holds the box anyway."""
    x0, y0 = offset
    base = np.zeros(shape, np.uint8)
    if landmarks68 is not None:
        pts = outline_points(landmarks68, forehead) - (x0, y0)
        hull = cv2.convexHull(np.round(pts * 16).astype(np.int32))
        cv2.fillConvexPoly(base, hull, 1, lineType=cv2.LINE_8, shift=4)
    else:
        cx, cy = (bbox[0] + bbox[2]) / 2 - x0, (bbox[1] + bbox[3]) / 2 - y0
        ax = (bbox[2] - bbox[0]) / 2 * ELLIPSE_SCALE
        ay = (bbox[3] - bbox[1]) / 2 * ELLIPSE_SCALE
        center = (round(cx * 16), round(cy * 16))
        cv2.ellipse(base, center, (round(ax * 16), round(ay * 16)), 0, 0, 360, 1, -1, lineType=cv2.LINE_8, shift=4)
    distance = grow * face_size(bbox)
    if distance > 0 and base.any():
        # Distance to the outline, so the margin is the same all round (a dilation kernel is square).
        base = (cv2.distanceTransform(1 - base, cv2.DIST_L2, 5) <= distance).astype(np.uint8)
    solid = base.astype(bool)
    if not box:
        return solid
    # The face box is always inside, however the outline came out (partly covered pixels count).
    h, w = shape
    bx0, by0 = max(0, math.floor(bbox[0] - x0)), max(0, math.floor(bbox[1] - y0))
    bx1, by1 = min(w, math.ceil(bbox[2] - x0)), min(h, math.ceil(bbox[3] - y0))
    solid[by0:by1, bx0:bx1] = True
    return solid


def outline_known(
    boxes: np.ndarray,
    landmarks68: np.ndarray,
    limits: np.ndarray,
    resolution: int,
    grow: float,
    forehead: float = FOREHEAD,
    yaws: np.ndarray | None = None,
) -> np.ndarray:
    """The generator's mask for outline holes, N x 1 x R x R float32: 0 on the hole, 1 where the
    photo is known (numpy, so the anonymizer draws outlines without torch).

    Per face (all in crop pixels): ``boxes`` N x 4 face boxes; ``landmarks68`` N x 68 x 2, a face
    whose points are not finite gets the ellipse; ``limits`` N x 4 boxes the hole never leaves
    (the face box grown by the model's ``mask_dilation``); ``yaws`` N degrees (NaN: unknown), past
    which the landmarks are not used, as for the blend mask."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    landmarks68 = np.asarray(landmarks68, np.float64).reshape(-1, 68, 2)
    limits = np.asarray(limits, np.float64).reshape(-1, 4)
    known = np.ones((len(boxes), 1, resolution, resolution), np.float32)
    coords = np.arange(resolution, dtype=np.float64)
    yaws = np.full(len(boxes), np.nan) if yaws is None else np.asarray(yaws, np.float64).reshape(-1)
    for i, (box, points, limit, yaw) in enumerate(zip(boxes, landmarks68, limits, yaws)):
        usable = landmarks_usable(points, box, yaw, min_face=0.0)
        hole = outline_solid((resolution, resolution), box, points if usable else None, grow, forehead)
        # Only pixels the limit box touches (as conditioning.box_mask counts them).
        x_in = (coords + 1 > limit[0]) & (coords < limit[2])
        y_in = (coords + 1 > limit[1]) & (coords < limit[3])
        hole &= y_in[:, None] & x_in[None, :]
        known[i, 0][hole] = 0.0
    return known
