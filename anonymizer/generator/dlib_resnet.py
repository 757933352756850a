"""dlib's 128-d face recognition ResNet, read into PyTorch from the model file dlib itself loads.

The evaluation (and the anonymizer's identity check) decide whether a face is still the same
person with ``dlib_face_recognition_resnet_model_v1.dat`` from ``face_recognition_models``. dlib
runs it in C++ only, so it cannot give a gradient. This module parses the same file (dlib's
binary serialization) into an equivalent ``torch.nn.Module``, so an identity loss can be taken
in exactly the space that is measured. ``tests/test_dlib_resnet.py`` checks that its
descriptors equal dlib's own on real faces.

Network (dlib's ``dnn_face_recognition_ex.cpp``): a 7x7/2 convolution and a 3x3/2 max pool,
then 14 residual blocks (3 x 32, 4 x 64, 3 x 128, 3 x 256 and one more 256 downsampling block),
a global average pool and a 256 -> 128 linear layer without bias. Batch norm was folded into
per-channel affine layers. Downsampling blocks add a 2x2 average pool of their input to their
output, zero-padded to the larger shape, as dlib's ``add_prev`` does.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import dlib
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fdf.annotate.landmarks import predict_shape
from fdf.errors import FdfError

MODEL_FILE = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150  # dlib's input_rgb_image_sized<150>
CHIP_PADDING = 0.25  # compute_face_descriptor's default padding around the landmarks
# Blocks per stage, in forward order: (channels, residual blocks after the downsampling one).
_STAGES = ((32, 3, False), (64, 3, True), (128, 2, True), (256, 2, True), (256, 0, True))


class DlibModelError(FdfError):
    """The dlib model file is missing or is not the face recognition ResNet."""


def default_model_path() -> Path:
    """Where ``face_recognition_models`` keeps dlib's face recognition ResNet."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise DlibModelError("face_recognition_models is not installed (pip install face_recognition_models)")
    return Path(spec.submodule_search_locations[0]) / "models" / MODEL_FILE


# --- dlib's serialization ---------------------------------------------------------------------


@dataclass
class _Reader:
    data: bytes
    pos: int = 0

    def int(self) -> int:
        # dlib packs an integer as one byte (bit 7: sign, low nibble: byte count), then the bytes.
        head = self.data[self.pos]
        count = head & 0x0F
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + count], "little")
        self.pos += 1 + count
        return -value if head & 0x80 else value

    def float(self) -> float:
        mantissa = self.int()
        return mantissa * 2.0 ** self.int()

    def string(self) -> str:
        n = self.int()
        text = self.data[self.pos : self.pos + n].decode("latin1")
        self.pos += n
        return text

    def tensor(self) -> np.ndarray:
        version = self.int()
        if version != 2:
            raise DlibModelError(f"unknown dlib tensor version {version} at byte {self.pos}")
        shape = tuple(self.int() for _ in range(4))
        n = int(np.prod(shape))
        values = np.frombuffer(self.data, "<f4", n, self.pos).reshape(shape)
        self.pos += 4 * n
        return values

    def seek_layer(self, pattern: re.Pattern) -> str | None:
        """Skip to the next layer record that ``pattern`` matches and read its name (None at the end).

        Between layer records dlib writes its wrappers' bookkeeping (flags and empty
        gradient tensors), which the weights do not need.
        """
        found = pattern.search(self.data, self.pos)
        if found is None:
            return None
        self.pos = found.start()
        return self.string()


_LAYERS = ("con_4", "affine_", "fc_2", "input_rgb_image_sized")
# A layer record starts with its name as a dlib string: length (one-byte integer), then the bytes.
# One alternation finds the nearest of them in a single pass over the 22 MB file.
_LAYER_RECORD = re.compile(b"|".join(re.escape(b"\x01" + bytes([len(n)]) + n.encode()) for n in _LAYERS))


def read_dlib_weights(path: str | Path) -> dict:
    """Convolutions, affine layers and the final linear layer of dlib's ResNet, in forward order."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DlibModelError(f"cannot read {path}: {exc.strerror}") from None
    r = _Reader(data)
    try:
        if r.int() != 1 or r.string() != "loss_metric_2":
            raise DlibModelError(f"{path} is not dlib's face recognition ResNet (no loss_metric_ header)")
        convs, affines, fc, mean = [], [], None, None
        while (name := r.seek_layer(_LAYER_RECORD)) is not None:
            if name == "input_rgb_image_sized":
                mean = np.array([r.float(), r.float(), r.float()], np.float32)
            elif name == "con_4":
                params = r.tensor().reshape(-1)
                n_out, kh, kw, sy, sx, py, px = (r.int() for _ in range(7))
                n_in = (params.size - n_out) // (n_out * kh * kw)
                weight = params[: n_out * n_in * kh * kw].reshape(n_out, n_in, kh, kw)
                convs.append({"weight": weight, "bias": params[-n_out:], "stride": (sy, sx), "padding": (py, px)})
            elif name == "affine_":
                params = r.tensor().reshape(-1)
                k = params.size // 2
                affines.append({"gamma": params[:k], "beta": params[k:]})
            else:  # fc_2: outputs, inputs, then the (inputs x outputs) matrix
                n_out, n_in = r.int(), r.int()
                fc = r.tensor().reshape(-1)[: n_in * n_out].reshape(n_in, n_out)
    except (IndexError, ValueError) as exc:
        raise DlibModelError(f"{path} is truncated or corrupt: {exc}") from None
    if mean is None or fc is None or len(convs) != 29 or len(affines) != 29:
        raise DlibModelError(f"{path}: expected dlib's ResNet-29 (29 convolutions), found {len(convs)}")
    return {"mean": mean, "convs": convs, "affines": affines, "fc": fc}


# --- the network -------------------------------------------------------------------------------


class _ConvAffine(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding)
        self.scale = nn.Parameter(torch.ones(cout))
        self.shift = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        return self.conv(x) * self.scale[:, None, None] + self.shift[:, None, None]


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: the sum over the larger shape, the smaller one zero-padded."""
    if a.shape == b.shape:
        return a + b
    shape = [max(s, t) for s, t in zip(a.shape, b.shape)]

    def pad(t):
        return F.pad(t, (0, shape[3] - t.shape[3], 0, shape[2] - t.shape[2], 0, shape[1] - t.shape[1]))

    return pad(a) + pad(b)


class _Residual(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.a = _ConvAffine(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.b = _ConvAffine(cout, cout, 3, 1, 1)

    def forward(self, x):
        y = self.b(F.relu(self.a(x)))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(_add_padded(y, skip))


class DlibResNet(nn.Module):
    """Aligned 150x150 RGB chips (N x 3 x 150 x 150, values 0-255) -> dlib's 128-d descriptors."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.zeros(3))
        self.stem = _ConvAffine(3, 32, 7, 2, 0)
        blocks, cin = [], 32
        for cout, repeats, down in _STAGES:
            if down:
                blocks.append(_Residual(cin, cout, True))
            blocks += [_Residual(cout, cout, False) for _ in range(repeats)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, 128, bias=False)

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips - self.mean[:, None, None]) / 256.0
        x = F.max_pool2d(F.relu(self.stem(x)), 3, 2)
        x = self.blocks(x).mean((2, 3))
        return self.fc(x)

    def conv_affines(self) -> list[_ConvAffine]:
        layers = [self.stem]
        for block in self.blocks:
            layers += [block.a, block.b]
        return layers

    def load_dlib(self, weights: dict) -> DlibResNet:
        with torch.no_grad():
            self.mean.copy_(torch.from_numpy(weights["mean"]))
            for layer, conv, aff in zip(self.conv_affines(), weights["convs"], weights["affines"]):
                if (
                    tuple(layer.conv.weight.shape) != conv["weight"].shape
                    or layer.conv.stride != conv["stride"]
                    or layer.conv.padding != conv["padding"]
                ):
                    raise DlibModelError(
                        f"dlib layer {conv['weight'].shape} stride {conv['stride']} does not fit "
                        f"{tuple(layer.conv.weight.shape)} stride {layer.conv.stride}"
                    )
                layer.conv.weight.copy_(torch.from_numpy(conv["weight"].copy()))
                layer.conv.bias.copy_(torch.from_numpy(conv["bias"].copy()))
                layer.scale.copy_(torch.from_numpy(aff["gamma"].copy()))
                layer.shift.copy_(torch.from_numpy(aff["beta"].copy()))
            self.fc.weight.copy_(torch.from_numpy(weights["fc"].T.copy()))
        return self


def load_dlib_resnet(path: str | Path | None = None, device: str | torch.device = "cpu") -> DlibResNet:
    """dlib's face recognition ResNet as a frozen PyTorch module (eval mode, no gradients to it)."""
    net = DlibResNet().load_dlib(read_dlib_weights(path or default_model_path()))
    net.eval().requires_grad_(False)
    return net.to(device)


# --- aligned chips, differentiably ---------------------------------------------------------------


def chip_transforms(shapes, upscale: float, image_side: int) -> torch.Tensor:
    """For each face, the affine map from chip pixels to normalised coordinates of its crop.

    ``shapes`` are dlib ``full_object_detection``s found on the crop upscaled by ``upscale`` (as
    the evaluation does); dlib's own ``get_face_chip_details`` places the 150 px chip. The result
    (N x 2 x 3) feeds ``affine_grid`` on the crop itself (``image_side`` px), so a generated crop
    can be chipped where the original's face was, with gradients.
    """

    out = []
    for shape in shapes:
        det = dlib.get_face_chip_details(shape, CHIP_SIZE, CHIP_PADDING)
        r = det.rect
        # dlib maps chip pixels 0 and C-1 to the rectangle's edges (its width() counts one more),
        # rotated by the angle about the exact centre (center() would round it to a pixel).
        scale = (r.right() - r.left()) / (CHIP_SIZE - 1)
        centre = ((r.left() + r.right()) / 2.0, (r.top() + r.bottom()) / 2.0)
        out.append(_chip_matrix(centre, scale, det.angle, upscale, image_side))
    return torch.tensor(np.stack(out), dtype=torch.float32)


def _chip_matrix(centre, scale, angle, upscale, side) -> np.ndarray:
    # affine_grid's normalised chip coordinate a (align_corners=False) is chip pixel
    # u = (a + 1) * C / 2 - 0.5, so u - (C - 1) / 2 = a * C / 2.
    cos, sin = np.cos(angle), np.sin(angle)
    lin = np.array([[cos, -sin], [sin, cos]]) * scale * (CHIP_SIZE / 2.0)  # upscaled px per unit of a
    # Upscaled pixel p -> normalised crop coordinate, with cv2.resize's pixel-centre convention:
    # n = 2 (p + 0.5) / (upscale * side) - 1.
    k = 2.0 / (upscale * side)
    offset = (np.asarray(centre) + 0.5) * k - 1.0
    return np.concatenate([lin * k, offset[:, None]], 1)


def chip(crops: torch.Tensor, transforms: torch.Tensor, upscale_to: int | None = None) -> torch.Tensor:
    """150x150 chips (0-255) from crops (N x 3 x R x R in [-1, 1]) at the given chip transforms.

    With ``upscale_to``, the crops are first resized to that side with bicubic interpolation
    (PyTorch's and OpenCV's cubic kernels are the same), as the evaluation resizes them with
    ``cv2.INTER_CUBIC`` before dlib chips them: sampling the chip straight from a 64 px crop
    gives a softer face and moves its descriptor by about 0.1. The transforms are in normalised
    coordinates, so they hold for either side.
    """
    if upscale_to is not None and upscale_to != crops.shape[-1]:
        crops = F.interpolate(crops, size=(upscale_to, upscale_to), mode="bicubic", align_corners=False).clamp(-1, 1)
    grid = F.affine_grid(transforms.to(crops), (crops.shape[0], 3, CHIP_SIZE, CHIP_SIZE), align_corners=False)
    rgb = F.grid_sample(crops, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (rgb + 1.0) * 127.5


class DlibIdentity(nn.Module):
    """dlib's descriptor of the face in a crop, as the evaluation measures it, differentiably.

    The evaluation upscales a crop to ``upscale_to`` px, finds the 68-point shape on the
    *original* face and computes dlib's descriptor from the 150 px chip at that shape, for the
    original and for its replacement alike. Here the shape is found the same way (dlib's
    predictor, on the original crop upscaled with cv2), and the chip is sampled from the crop
    with ``grid_sample``, so the generated crop's descriptor has a gradient.
    """

    def __init__(self, net: DlibResNet, upscale_to: int = 256, box_detector: str = "centerface"):
        super().__init__()
        self.net = net
        self.upscale_to = upscale_to
        self.box_detector = box_detector

    def transforms(self, real: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Chip transforms (N x 2 x 3) from the original crops (in [-1, 1]) and their face boxes."""

        side = real.shape[-1]
        scale = self.upscale_to / side
        images = ((real.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        shapes = []
        for image, box in zip(images.permute(0, 2, 3, 1).numpy(), boxes.detach().cpu().numpy()):
            big = cv2.resize(np.ascontiguousarray(image), (self.upscale_to,) * 2, interpolation=cv2.INTER_CUBIC)
            shapes.append(predict_shape(big, box * scale, self.box_detector))
        return chip_transforms(shapes, scale, side).to(real.device)

    def forward(self, crops: torch.Tensor, transforms: torch.Tensor) -> torch.Tensor:
        return self.net(chip(crops.float(), transforms, self.upscale_to))

    def describe_pair(self, fake: torch.Tensor, real: torch.Tensor, boxes: torch.Tensor | None):
        """(fake's descriptors, real's descriptors without gradient), both at the original's chips."""
        if boxes is None:
            raise ValueError("the dlib identity loss needs the face boxes")
        transforms = self.transforms(real, boxes)
        with torch.no_grad():
            target = self(real, transforms)
        return self(fake, transforms), target


def load_dlib_identity(device: str | torch.device = "cpu", path: str | Path | None = None) -> DlibIdentity:
    """The frozen identity measure for training: dlib's ResNet at the evaluation's chips."""
    return DlibIdentity(load_dlib_resnet(path, device)).eval().requires_grad_(False)
