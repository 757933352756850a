"""Head pose (yaw, pitch, roll in degrees) from 68 landmarks with cv2.solvePnP.

The 3D model is a mean adult face written down for this project in millimetres, for a subset of
the iBUG 68 points (rounded anthropometric averages, not fitted to any dataset). Axes follow the
camera: x to the image right, y down, z away from the camera; the nose tip is the origin.
The camera is a pinhole with focal length = photo width and principal point at its centre.

Sign convention, matching AFW's ``yaw_pitch_roll_deg`` (checked against afw-dev):
* yaw > 0: the face turns toward the image right (the subject's left);
* pitch > 0: the face tilts up;
* roll > 0: the head leans toward the image left (the image-right eye rises).

dlib's 68-point landmarks are unreliable beyond ~45 degrees of yaw (the hidden half of the face
is drawn on the visible contour), so PnP yaw is poor on turned faces: on afw-dev only 62% of
faces with |yaw| <= 60 are within 15 degrees. When the detector gives CenterFace's 5 points,
:func:`yaw_from_five_points` is used for yaw instead (94% within 15 degrees; see
benchmarks/results/pose.md). Pitch and roll always come from PnP.
"""

from __future__ import annotations

import cv2
import numpy as np

#: iBUG index -> (x, y, z) millimetres; x toward the image right for a face looking at the camera.
MODEL_POINTS_3D: dict[int, tuple[float, float, float]] = {
    30: (0.0, 0.0, 0.0),  # nose tip
    27: (0.0, -40.0, 22.0),  # nasion (top of the nose bridge)
    33: (0.0, 18.0, 14.0),  # subnasale
    31: (-12.0, 16.0, 18.0),  # nostril wing, image left
    35: (12.0, 16.0, 18.0),
    36: (-48.0, -36.0, 32.0),  # outer eye corner, image left
    39: (-15.0, -34.0, 28.0),  # inner eye corner, image left
    42: (15.0, -34.0, 28.0),
    45: (48.0, -36.0, 32.0),
    48: (-26.0, 40.0, 24.0),  # mouth corner, image left
    54: (26.0, 40.0, 24.0),
    51: (0.0, 32.0, 12.0),  # top of upper lip
    57: (0.0, 52.0, 16.0),  # bottom of lower lip
    8: (0.0, 80.0, 22.0),  # chin
}
_INDICES = np.array(sorted(MODEL_POINTS_3D))
_MODEL = np.array([MODEL_POINTS_3D[i] for i in _INDICES], dtype=np.float64)
# Signs that turn the rotation angles of cv2's decomposition into AFW's convention.
YAW_SIGN, PITCH_SIGN, ROLL_SIGN = -1.0, -1.0, -1.0


#: Degrees of yaw per unit of nose offset (in interocular distances) from the eye/mouth midline.
#: Least-squares-by-grid fit on afw-dev (113 faces found by CenterFace), maximising the share of
#: |yaw| <= 60 faces within 15 degrees; 2-fold cross-validation gave 0.87-0.90 on held-out halves.
FIVE_POINT_YAW_SCALE = 80.0


def yaw_from_five_points(landmarks5: np.ndarray) -> float:
    """Yaw (degrees, AFW signs) from CenterFace's 5 points (eyes, nose tip, mouth corners).

    The nose tip moves sideways off the line through the eye and mouth midpoints as the head turns;
    the offset, divided by the distance between the eyes, is near-linear in yaw up to profiles.
    """
    p = np.asarray(landmarks5, dtype=np.float64).reshape(5, 2)
    interocular = np.linalg.norm(p[1] - p[0])
    if not interocular > 0:
        return float("nan")
    midline_x = ((p[0, 0] + p[1, 0]) / 2 + (p[3, 0] + p[4, 0]) / 2) / 2
    return float(np.clip(FIVE_POINT_YAW_SCALE * (p[2, 0] - midline_x) / interocular, -90.0, 90.0))


def camera_matrix(width: int, height: int) -> np.ndarray:
    """Pinhole intrinsics: focal length = photo width, principal point at the centre."""
    f = float(width)
    return np.array([[f, 0, width / 2.0], [0, f, height / 2.0], [0, 0, 1]], dtype=np.float64)


def euler_from_rotation(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) degrees in AFW's convention from a model-to-camera rotation matrix."""
    angles, *_ = cv2.RQDecomp3x3(rotation)
    pitch, yaw, roll = angles  # rotations about x, y, z
    return YAW_SIGN * yaw, PITCH_SIGN * pitch, ROLL_SIGN * roll


def head_pose(landmarks68: np.ndarray, width: int, height: int) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees for a face with 68 landmarks in a ``width`` x ``height`` photo."""
    lm = np.asarray(landmarks68, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"landmarks68 must be 68x2, got {lm.shape}")
    image_points = lm[_INDICES]
    K = camera_matrix(width, height)
    ok, rvec, tvec = cv2.solvePnP(_MODEL, image_points, K, None, flags=cv2.SOLVEPNP_EPNP)
    if ok:
        ok, rvec, tvec = cv2.solvePnP(
            _MODEL, image_points, K, None, rvec, tvec, useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE
        )
    if not ok:
        return float("nan"), float("nan"), float("nan")
    rotation, _ = cv2.Rodrigues(rvec)
    return euler_from_rotation(rotation)
