"""`fdf anonymize --device auto|cpu|cuda[:N]` (deface#36): CenterFace runs on onnxruntime's CUDA
provider where there is one, the generator on a CUDA torch; asking for CUDA where there is none
is an error before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from fdf.annotate.models import DeviceError, centerface_session, onnx_providers, set_onnx_device

PHOTO = Path(__file__).parent / "data" / "anonymize" / "astronaut.jpg"
CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def test_providers_follow_the_device():
    with_cuda = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_providers("auto", with_cuda) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert onnx_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert onnx_providers("cpu", with_cuda) == ["CPUExecutionProvider"]
    assert onnx_providers("cuda:1", with_cuda) == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    with pytest.raises(DeviceError, match="onnxruntime-gpu"):
        onnx_providers("cuda", ["CPUExecutionProvider"])
    with pytest.raises(DeviceError, match="unknown device"):
        onnx_providers("gpu0", with_cuda)


def test_centerface_session_uses_the_chosen_providers():
    try:
        set_onnx_device("auto")
        used = centerface_session().get_providers()
        assert used[0] == ("CUDAExecutionProvider" if CUDA else "CPUExecutionProvider")
    finally:
        set_onnx_device("cpu")
    assert centerface_session().get_providers() == ["CPUExecutionProvider"]


def test_cli_device_auto_runs_and_cuda_without_cuda_is_refused(tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "anonymize",
            str(PHOTO),
            "--out",
            str(tmp_path / "a"),
            "--mode",
            "blur",
            "--device",
            "auto",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "a" / PHOTO.name).is_file()
    if CUDA:
        pytest.skip("onnxruntime has a CUDA provider here: --device cuda is allowed")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "anonymize",
            str(PHOTO),
            "--out",
            str(tmp_path / "c"),
            "--mode",
            "blur",
            "--device",
            "cuda",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2 and "no CUDA provider" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "c").exists()
