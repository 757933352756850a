"""SFace: a second face recogniser, independent of dlib's ResNet the generator was trained against.

A generator fine-tuned with an identity loss in dlib's space may learn to fool dlib alone; SFace
(MobileFaceNet trained with the SFace loss, OpenCV Zoo, 2021dec int8 build) has never seen it.

    recogniser = SFaceRecognizer()
    a = recogniser.embed(rgb_a, landmarks_a)   # unit 128-d; landmarks: 5 x 2 (YuNet order)
    b = recogniser.embed(rgb_b, landmarks_b)
    cosine_similarity(a, b) >= SAME_PERSON     # OpenCV's threshold for the same person

The face is aligned with our own similarity warp to the 5-point ArcFace template (what
``cv2.FaceRecognizerSF.alignCrop`` does; its ``feature()`` fails on OpenCV 5.x) and the network
runs in onnxruntime, so the result does not depend on the OpenCV version.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from .modelfiles import SFACE, JudgeModelError, model_bytes

log = logging.getLogger(__name__)

#: OpenCV's cosine threshold for "same person" with SFace (opencv_zoo face_recognition_sface).
SAME_PERSON = 0.363
CHIP = 112
#: ArcFace's 5 points in a 112 x 112 chip: eyes, nose tip, mouth corners (image left first).
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]], np.float32
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2 x 3 least-squares similarity (rotation, uniform scale, shift) taking ``src`` to ``dst``
    (Umeyama 1991, no reflection); deterministic, unlike OpenCV's RANSAC estimators."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rot = u @ fix @ vt
    var = (s**2).sum() / len(src)
    scale = float((sig * np.diag(fix)).sum() / var) if var > 0 else 1.0
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def align_face(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 112 x 112 RGB chip of the face whose 5 points (YuNet order) are ``landmarks``."""
    points = np.asarray(landmarks, np.float32).reshape(5, 2)
    matrix = similarity_transform(points, TEMPLATE)
    return cv2.warpAffine(rgb, matrix, (CHIP, CHIP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def landmarks_from_68(shape68: np.ndarray) -> np.ndarray:
    """The 5 points SFace aligns on, from dlib's 68 (eye centres, nose tip, mouth corners)."""
    p = np.asarray(shape68, np.float32).reshape(68, 2)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of the angle between two descriptors (>= SAME_PERSON: likely the same person)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom > 0 else 0.0


def _session(data: bytes):
    """An onnxruntime session of the SFace graph, cleaned so onnxruntime accepts and optimises it."""
    # lazy: onnx takes ~1-2 s to import; only loading the model (once, on first use) needs it
    import onnx
    import onnxruntime as ort

    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError type
        raise JudgeModelError(f"cannot parse the SFace model: {exc}") from None
    graph = model.graph
    # The exported graph lists 29 weights as inputs that no node reads (their quantized copies are
    # used instead) and every initializer as an input too; onnxruntime then treats the weights as
    # overridable and cannot fold them. Only the image stays an input.
    initializers = {i.name for i in graph.initializer}
    used = {name for node in graph.node for name in node.input}
    keep = [i for i in graph.input if i.name not in initializers and i.name in used]
    del graph.input[:]
    graph.input.extend(keep)
    # Batch any number of faces per call (the export fixed the batch to 1).
    graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1  # one face at 112 px gains nothing from threads; the machine is shared
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


class SFaceRecognizer:
    """128-d SFace descriptors of faces in RGB photos, aligned on 5 landmarks."""

    def __init__(self, model_path: str | None = None) -> None:
        self._session = _session(model_bytes(SFACE, model_path))
        self._input = self._session.get_inputs()[0].name

    def embed_chips(self, chips: np.ndarray) -> np.ndarray:
        """N x 128 unit descriptors of N aligned RGB uint8 112 x 112 chips."""
        chips = np.asarray(chips)
        if chips.ndim == 3:
            chips = chips[None]
        if chips.shape[1:] != (CHIP, CHIP, 3):
            raise ValueError(f"SFace needs N x {CHIP} x {CHIP} x 3 chips, got {chips.shape}")
        if not len(chips):
            return np.zeros((0, 128), np.float32)
        # OpenCV's FaceRecognizerSF feeds the network RGB in 0..255, no mean or scale.
        blob = np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)
        out = self._session.run(None, {self._input: blob})[0].astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def embed(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Unit 128-d descriptor of the face in ``rgb`` (uint8 RGB) with 5 points ``landmarks``."""
        return self.embed_chips(align_face(rgb, landmarks)[None])[0]

    def embed_many(self, rgb: np.ndarray, landmarks: list[np.ndarray]) -> np.ndarray:
        """N x 128 descriptors of several faces of one photo, in one network call."""
        if not landmarks:
            return np.zeros((0, 128), np.float32)
        return self.embed_chips(np.stack([align_face(rgb, lm) for lm in landmarks]))
