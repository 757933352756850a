"""A differentiable stand-in for dlib's face descriptor, for an identity loss while training.

dlib's 128-d ResNet is what the evaluation (and the anonymizer's identity check) uses to decide
whether a generated face is still the original person, but it is not differentiable. This small
network is distilled from it on FDF crops (``anonymizer.training.distill``): given a crop, it
predicts the dlib descriptor that the evaluation would compute for the face in it. The
generator's identity loss then pushes the generated face's predicted descriptor away from the
original's. The generator still never sees the face; only its loss does, during training.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from fdf.atomic import atomic_path
from fdf.errors import FdfError


class IdentityModelError(FdfError):
    """The identity network file is missing or not one of ours."""


@dataclass
class IdentityNetConfig:
    resolution: int = 64
    width: int = 16  # channels of the first stage; doubled at every downsampling
    stages: int = 4
    blocks: int = 1  # residual blocks per stage
    dim: int = 128  # dlib's descriptor size


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.skip = (
            None
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.skip is None else self.skip(x)))


class IdentityNet(nn.Module):
    """Crop (N x 3 x R x R, values in [-1, 1]) -> predicted dlib descriptor (N x 128)."""

    def __init__(self, config: IdentityNetConfig | None = None):
        super().__init__()
        self.config = config or IdentityNetConfig()
        w = self.config.width
        # A strided stem: the face fills about half the crop, so 32 px of it carry the identity.
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU())
        blocks, cin = [], w
        for s in range(self.config.stages):
            cout = w * 2**s
            blocks.append(_Block(cin, cout, 1 if s == 0 else 2))
            blocks += [_Block(cout, cout, 1) for _ in range(self.config.blocks - 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        # Position matters (where the eyes are), so a flattened small map rather than global pooling.
        side = self.config.resolution // 2**self.config.stages
        self.head = nn.Sequential(
            nn.Conv2d(cin, 32, 1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * side * side, self.config.dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def describe_pair(self, fake: torch.Tensor, real: torch.Tensor, boxes: torch.Tensor | None = None):
        """(fake's predicted descriptors, real's without gradient); the crop alone places the face."""
        with torch.no_grad():
            target = self(real)
        return self(fake), target


def identity_loss(
    net: nn.Module, fake: torch.Tensor, real: torch.Tensor, margin: float, boxes: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hinge on the predicted descriptor distance: mean of max(0, margin - |net(fake) - net(real)|).

    Returns the loss and the per-sample distances (detached). The real crop's descriptor is a
    constant target; faces already farther than ``margin`` from their original add nothing, so
    the loss only acts on the generated faces that still look like the person. ``net`` is an
    :class:`IdentityNet` or a :class:`~anonymizer.generator.dlib_resnet.DlibIdentity`, which
    also needs the face ``boxes`` to place its chips where the original's face is.
    """
    described, target = net.describe_pair(fake, real, boxes)
    dist = (described - target).norm(dim=1)
    return F.relu(margin - dist).mean(), dist.detach()


DLIB = "dlib"  # loss.identity_model naming dlib's own ResNet rather than a distilled network's file


def load_identity_model(name: str, device: str | torch.device = "cpu", resolution: int | None = None) -> nn.Module:
    """The frozen identity measure ``loss.identity_model`` names: "dlib" or a distilled network's
    file. ``resolution``: the generator's crops, which a distilled network must have been made
    for (dlib's chips are resampled from any crop)."""
    if name == DLIB:
        # lazy: dlib's ResNet port brings dlib, OpenCV and the landmark models; only the identity loss 'dlib' needs it
        from .dlib_resnet import DlibModelError, load_dlib_identity

        try:
            return load_dlib_identity(device)
        except DlibModelError as exc:
            raise IdentityModelError(str(exc)) from None
    net = load_identity_net(name, device)
    if resolution is not None and net.config.resolution != resolution:
        raise IdentityModelError(f"{name} is for {net.config.resolution} px crops, the generator makes {resolution} px")
    return net


def save_identity_net(net: IdentityNet, path: str | Path, metadata: dict | None = None) -> Path:
    """Weights as safetensors with the config (and any report) in the header, written atomically."""
    path = Path(path)
    meta = {
        "format": "fdf-identity-net",
        "config": json.dumps(asdict(net.config)),
        **{k: json.dumps(v) for k, v in (metadata or {}).items()},
    }
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_identity_net(path: str | Path, device: str | torch.device = "cpu") -> IdentityNet:
    """A frozen identity network in eval mode; IdentityModelError when the file is not one."""

    path = Path(path)
    if not path.is_file():
        raise IdentityModelError(f"identity network not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except Exception as exc:  # safetensors raises several types for foreign or truncated files
        raise IdentityModelError(f"{path} is not a safetensors file: {exc}") from None
    if meta.get("format") != "fdf-identity-net":
        raise IdentityModelError(f"{path} is not an identity network (made by `fdf distill-identity`)")
    net = IdentityNet(IdentityNetConfig(**json.loads(meta["config"])))
    try:
        net.load_state_dict(tensors)
    except RuntimeError as exc:
        raise IdentityModelError(f"{path} does not match its config: {exc}") from None
    net.requires_grad_(False)
    return net.to(device).eval()
