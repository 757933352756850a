"""Identity check after generation: is a generated face still the original person to dlib?

A generated face can, by chance or because the surroundings (hair, jaw line) carry identity,
land within dlib's same-person distance (0.6) of the original. For each face we describe the
original (dlib 128-d) and look for a face in the output near the same place; if one is found
and it is within the threshold, the face counts as leaking.
:class:`~anonymizer.inference.image.ImageAnonymizer` then regenerates it with other seeds and,
if it still leaks, blurs it.

dlib's descriptor depends on where the 68 landmarks are fitted, and that depends on the box:
on afw-dev the same original face described from CenterFace's box and from the hand-annotated
box is 0.38 apart (median, up to 0.74). A recogniser that boxes faces differently from us
therefore sees other distances. So the check is the minimum over views: the original described
from the anonymizer's box and from a one-pass detection of the whole photo at the working
resolution (:func:`describe_views`), against the output's faces found both in a full-resolution
window around the place and in the whole output at the working resolution (a large photo's face
can be found in one and missed in the other).
"""

from __future__ import annotations

import cv2
import numpy as np

from fdf.annotate import detect_faces
from fdf.annotate.identity import embedding_distance, face_embedding
from fdf.annotate.landmarks import predict_shape
from fdf.boxes import iou, same_place

from .detect import FaceBox

#: CenterFace threshold for "a face is still found here" (as anonymizer.privacy counts leaks).
FOUND_THRESHOLD = 0.5


def retry_seed(seed: int, attempt: int) -> int:
    """The latent seed of a face's ``attempt``-th regeneration (a prime stride apart)."""
    return seed + 7919 * attempt


#: Working resolution of the whole-photo search for faces (as the privacy evaluation's).
SCENE_MAX_SIDE = 1600
#: Boxes overlapping this much describe the face alike: one view is enough.
SAME_BOX_IOU = 0.95


def describe(rgb: np.ndarray, bbox, detector: str = "centerface") -> np.ndarray:
    """dlib descriptor of the face in ``bbox`` (landmarks fitted on ``rgb``)."""
    return face_embedding(rgb, predict_shape(rgb, bbox, detector))


def describe_views(rgb: np.ndarray, bbox, scene=(), detector: str = "centerface") -> np.ndarray:
    """Descriptors (k x 128) of the original face in ``bbox`` as recognisers that box it
    differently would see it: from ``bbox`` (found by ``detector``) and from every box of
    ``scene`` (:func:`scene_faces` of the original) at the same place. A photo over the working
    resolution is detected at two other scales by the anonymizer (detect.DetectConfig.detail_pass),
    so its boxes differ from a one-pass detector's, and the descriptors with them (0.36-0.49
    apart on two afw-dev faces over 2,800 px)."""
    out = [describe(rgb, bbox, detector)]
    out += [describe(rgb, box) for box in scene if same_place(box, bbox) and iou(box, bbox) < SAME_BOX_IOU]
    return np.stack(out)


def _window(bbox, shape, margin: float = 0.5) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = bbox
    w, h = x1 - x0, y1 - y0
    return (
        max(0, int(x0 - margin * w)),
        max(0, int(y0 - margin * h)),
        min(shape[1], int(x1 + margin * w) + 1),
        min(shape[0], int(y1 + margin * h) + 1),
    )


def scene_faces(rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Boxes of the faces CenterFace finds in a whole photo at the working resolution."""
    return [tuple(d.bbox) for d in detect_faces(rgb, "centerface", FOUND_THRESHOLD, SCENE_MAX_SIDE)]


def _window_faces(output_rgb: np.ndarray, bbox) -> list[tuple[float, float, float, float]]:
    wx0, wy0, wx1, wy1 = _window(bbox, output_rgb.shape)
    window = np.ascontiguousarray(output_rgb[wy0:wy1, wx0:wx1])
    if min(window.shape[:2]) < 8:
        return []
    return [
        (b[0] + wx0, b[1] + wy0, b[2] + wx0, b[3] + wy0)
        for b in (d.bbox for d in detect_faces(window, "centerface", FOUND_THRESHOLD, None))
    ]


def output_distance(
    output_rgb: np.ndarray, face: FaceBox, original_descriptor: np.ndarray, scene: list | None = None
) -> float | None:
    """Smallest distance from the original's descriptor(s) (128, or k x 128 views) to a face
    found at the same place in the output (None: no face found there). ``scene``: boxes of
    :func:`scene_faces` for the same output, searched besides a window around the face."""
    originals = np.atleast_2d(original_descriptor)
    candidates = _window_faces(output_rgb, face.bbox) + list(scene or [])
    best = None
    for box in candidates:
        if not same_place(box, face.bbox):
            continue
        desc = describe(output_rgb, box)
        dist = min(embedding_distance(o, desc) for o in originals)
        best = dist if best is None else min(best, dist)
    return best


def output_distances(
    output_rgb: np.ndarray, faces: list[FaceBox], descriptors: list[np.ndarray | None]
) -> list[float | None]:
    """Per face, :func:`output_distance` with the output searched once at the working resolution
    (None: no descriptor given, or no face found there)."""
    scene = scene_faces(output_rgb) if any(d is not None for d in descriptors) else []
    return [
        None if desc is None else output_distance(output_rgb, face, desc, scene)
        for face, desc in zip(faces, descriptors)
    ]


def lossy_copy(rgb: np.ndarray, quality: int) -> np.ndarray:
    """``rgb`` through a JPEG round trip: the kind of noise a lossy encoder adds."""
    ok, data = cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1]) if ok else rgb


def leaking(
    output_rgb: np.ndarray,
    faces: list[FaceBox],
    descriptors: list[np.ndarray],
    threshold: float,
    lossy_qualities: tuple[int, ...] = (),
) -> list[int]:
    """Indices of faces whose output is still within ``threshold`` of the original
    (``descriptors``: per face, one descriptor or the k x 128 views of :func:`describe_views`).

    ``lossy_qualities``: also judge JPEG round trips of the output at these qualities, for outputs
    a lossy encoder will write (video judges its encoded file instead by default, see
    anonymizer.video.repair): re-encoding a clip at x264 CRF 18
    moved the same face's descriptor by 0.13 (median) and up to 0.22, enough to bring a face at
    0.6-0.8 under 0.6. JPEG at 85 moves it as much (0.135 median), at 70 a little more (0.19);
    each round trip is one more draw of that noise."""
    return [
        i
        for i, dist in enumerate(leak_distances(output_rgb, faces, descriptors, lossy_qualities))
        if dist is not None and dist < threshold
    ]


def leak_distances(
    output_rgb: np.ndarray, faces: list[FaceBox], descriptors: list[np.ndarray], lossy_qualities: tuple[int, ...] = ()
) -> list[float | None]:
    """Per face, the smallest distance from the original to the face found at its place in the
    output or in its JPEG round trips at ``lossy_qualities`` (None: no face found there)."""
    best: list[float | None] = [None] * len(faces)
    for rgb in [output_rgb] + [lossy_copy(output_rgb, q) for q in lossy_qualities]:
        for i, dist in enumerate(output_distances(rgb, faces, descriptors)):
            if dist is not None and (best[i] is None or dist < best[i]):
                best[i] = dist
    return best
