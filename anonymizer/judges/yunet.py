"""YuNet: a second face detector, independent of the CenterFace detector the anonymizer uses.

A replaced face that only CenterFace still takes for a face might be a face in CenterFace's eyes
alone; YuNet (libfacedetection, OpenCV Zoo, 2023mar int8 build) was trained elsewhere, on other
data, and gives the five landmarks SFace's alignment needs.

    detector = YuNetDetector()
    faces = detector.detect(rgb)            # [YuNetFace(bbox=(x0, y0, x1, y1), landmarks=5x2, score)]

It runs through ``cv2.FaceDetectorYN``, OpenCV's own decoder for this network (onnxruntime 1.32
refuses the int8 block-quantized graph: a per-tensor DequantizeLinear carries a block size).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .modelfiles import YUNET, JudgeModelError, model_bytes

log = logging.getLogger(__name__)

#: OpenCV Zoo's demo default: the score at which YuNet is deployed.
DEFAULT_SCORE = 0.9
NMS_IOU = 0.3


@dataclass
class YuNetFace:
    """One YuNet detection in photo pixels.

    ``landmarks`` (5 x 2): eye on the image left, eye on the image right, nose tip, mouth corner
    on the image left, mouth corner on the image right: the order of the ArcFace template.
    """

    bbox: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float


class YuNetDetector:
    """YuNet on whole photos; ``max_side`` caps the working copy's longer side (None: full size).

    YuNet's strides (8 to 32 px) were trained for faces up to a few hundred pixels; on a 2000 px
    photo a face that fills it is easier found on a smaller copy, as CenterFace does here.
    """

    def __init__(
        self, score_threshold: float = DEFAULT_SCORE, max_side: int | None = 1600, model_path: str | None = None
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise JudgeModelError(f"YuNet score threshold must be between 0 and 1, got {score_threshold}")
        self.score_threshold = score_threshold
        self.max_side = max_side
        data = np.frombuffer(model_bytes(YUNET, model_path), np.uint8)
        try:
            self._net = cv2.FaceDetectorYN.create(
                "onnx", data, np.zeros(0, np.uint8), (320, 320), score_threshold, NMS_IOU, 5000
            )
        except cv2.error as exc:
            raise JudgeModelError(f"OpenCV {cv2.__version__} cannot load YuNet: {exc}") from None

    def detect(self, rgb: np.ndarray) -> list[YuNetFace]:
        """Faces in an RGB uint8 photo (H x W x 3), boxes and landmarks in its pixels."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"YuNet needs an RGB uint8 H x W x 3 image, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        scale = 1.0
        if self.max_side and max(h, w) > self.max_side:
            scale = self.max_side / max(h, w)
        small = (
            rgb
            if scale == 1.0
            else cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        )
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        self._net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, rows = self._net.detect(bgr)
        if rows is None:
            return []
        sx, sy = w / bgr.shape[1], h / bgr.shape[0]  # exact per-axis factors of the resize
        faces = []
        for r in rows:
            x, y, bw, bh = (float(v) for v in r[:4])
            landmarks = r[4:14].reshape(5, 2).astype(np.float32) * np.array([sx, sy], np.float32)
            faces.append(YuNetFace((x * sx, y * sy, (x + bw) * sx, (y + bh) * sy), landmarks, float(r[14])))
        return faces
