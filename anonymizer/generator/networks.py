"""DeepPrivacy-style networks: a U-Net generator conditioned at every resolution and a
conditional discriminator.

The generator's encoder reads the condition (masked crop, mask, keypoint maps); the mask and
keypoint maps are pooled down and concatenated again at every resolution, in the encoder and
the decoder, so pose information is never lost in the bottleneck. The latent code goes through
a small mapping network and modulates every decoder convolution (per-channel scale and shift),
so the face varies with the seed while the surroundings stay fixed.

There is no batch normalisation and no cross-sample statistic anywhere: each sample's output
depends on that sample only, which is what makes multi-process training equal to one process
with the same global batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .conditioning import CONDITION_CHANNELS, NUM_KEYPOINTS

SUPPORTED_RESOLUTIONS = (32, 64, 128, 256)
HOLES = ("box", "outline")
MIN_RESOLUTION = 4
# Mask + keypoint maps, re-injected at every resolution.
_SIDE_CHANNELS = 1 + NUM_KEYPOINTS
UPSAMPLES = ("nearest", "bilinear")


@dataclass
class NetworkConfig:
    """Sizes of the generator and discriminator (the discriminator reuses the channel plan)."""

    resolution: int = 64
    base_channels: int = 32
    max_channels: int = 256
    z_dim: int = 64
    w_dim: int = 128
    # The mask covers the face box grown by this fraction on each side (0: the box itself). A
    # larger hole leaves less of the face outline (jaw, cheeks, brows) for dlib-style recognisers
    # to match; callers with face boxes grow them (conditioning.grow_boxes) before generating.
    mask_dilation: float = 0.0
    # "box": the hole is the (grown) face box. "outline": only the face itself, the outline of
    # the 68 landmarks grown by ``outline_grow`` of the face size, within the grown box
    # (anonymizer.generator.outline); the generator then sees the hair, ears and neck the
    # anonymizer keeps from the photo anyway.
    hole: str = "box"
    outline_grow: float = 0.15
    # Channels at full resolution (0: the plan's own, base_channels). A grown generator keeps
    # the smaller model's plan below full resolution (base_channels halved) and widens the new
    # top level with this.
    top_channels: int = 0
    # A second stem and RGB output at half resolution, as in a progressively grown GAN (ProGAN,
    # DeepPrivacy v1; StyleGAN2's skip generator): the image is the half-resolution RGB,
    # upsampled, plus the full-resolution RGB. anonymizer.generator.grow makes such a generator
    # from a trained one of half the resolution, computing exactly that model's output at step 0;
    # training then learns what the top level adds.
    half_skip: bool = False
    # How the decoder's features reach full resolution: "nearest" (every level, as trained since
    # session 1) or "bilinear". Nearest-neighbour features through one 3x3 convolution show as 2x2
    # blocks where the top level is narrow (a grown generator's 16 channels); bilinear features
    # have no block edges to draw. Only the top level changes, so the levels a grown generator
    # takes from the smaller model see what they were trained on.
    top_upsample: str = "nearest"

    def __post_init__(self) -> None:
        if self.resolution not in SUPPORTED_RESOLUTIONS:
            raise ValueError(f"resolution must be one of {SUPPORTED_RESOLUTIONS}, got {self.resolution}")
        if self.base_channels < 4 or self.max_channels < self.base_channels:
            raise ValueError("need base_channels >= 4 and max_channels >= base_channels")
        if self.z_dim < 1 or self.w_dim < 1:
            raise ValueError("z_dim and w_dim must be positive")
        if not 0.0 <= self.mask_dilation <= 1.0:
            raise ValueError(f"mask_dilation must be between 0 and 1, got {self.mask_dilation}")
        if self.hole not in HOLES:
            raise ValueError(f"hole must be one of {', '.join(HOLES)}, got {self.hole!r}")
        if not 0.0 <= self.outline_grow <= 1.0:
            raise ValueError(f"outline_grow must be between 0 and 1, got {self.outline_grow}")
        if self.top_channels < 0 or (self.top_channels and self.top_channels < 4):
            raise ValueError(f"top_channels must be 0 (the plan's own) or at least 4, got {self.top_channels}")
        if self.top_upsample not in UPSAMPLES:
            raise ValueError(f"top_upsample must be one of {', '.join(UPSAMPLES)}, got {self.top_upsample!r}")

    def channels(self) -> list[int]:
        """Feature channels per level, from full resolution down to 4 x 4."""
        levels = int(math.log2(self.resolution // MIN_RESOLUTION)) + 1
        plan = [min(self.base_channels * 2**i, self.max_channels) for i in range(levels)]
        if self.top_channels:
            plan[0] = self.top_channels
        return plan

    def to_dict(self) -> dict:
        return asdict(self)


def side_inputs(condition: torch.Tensor, size: int) -> torch.Tensor:
    """Mask and keypoint maps pooled to ``size``: max-pooling keeps a single-pixel keypoint."""
    side = condition[:, 3:CONDITION_CHANNELS]
    if side.shape[-1] == size:
        return side
    factor = side.shape[-1] // size
    mask = F.avg_pool2d(side[:, :1], factor)  # fraction of known pixels
    points = F.max_pool2d(side[:, 1:], factor)
    return torch.cat([mask, points], dim=1)


def half_condition(condition: torch.Tensor) -> torch.Tensor:
    """The condition at half resolution: RGB and mask averaged (as the data's area shrink does),
    keypoints max-pooled (a keypoint stays one pixel)."""
    return torch.cat([F.avg_pool2d(condition[:, :3], 2), side_inputs(condition, condition.shape[-1] // 2)], 1)


def _upsample(x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "bilinear":
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class ModulatedConv(nn.Module):
    """3x3 convolution followed by a per-channel scale and shift predicted from w."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.style = nn.Linear(w_dim, 2 * out_ch)
        # Small but non-zero: the latent must matter from the first step, yet not swamp the condition.
        nn.init.normal_(self.style.weight, std=0.1 / w_dim**0.5 * 4)
        nn.init.zeros_(self.style.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, shift = self.style(w)[:, :, None, None].chunk(2, dim=1)
        return _act(self.conv(x) * (1 + scale) + shift)


class Generator(nn.Module):
    """U-Net: condition (N x 11 x R x R) and latent z (N x z_dim) -> image N x 3 x R x R in about [-1, 1]."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        ch = config.channels()
        self.mapping = nn.Sequential(
            nn.Linear(config.z_dim, config.w_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(config.w_dim, config.w_dim),
            nn.LeakyReLU(0.2),
        )
        self.stem = nn.Conv2d(CONDITION_CHANNELS, ch[0], 3, padding=1)
        self.down = nn.ModuleList(
            nn.Conv2d(ch[i] + _SIDE_CHANNELS, ch[i + 1], 3, stride=2, padding=1) for i in range(len(ch) - 1)
        )
        self.bottleneck = ModulatedConv(ch[-1] + _SIDE_CHANNELS, ch[-1], config.w_dim)
        # Decoder level i (from 4x4 up): upsampled features + encoder skip + side inputs.
        self.up = nn.ModuleList(
            ModulatedConv(ch[i + 1] + ch[i] + _SIDE_CHANNELS, ch[i], config.w_dim) for i in reversed(range(len(ch) - 1))
        )
        self.refine = ModulatedConv(ch[0] + _SIDE_CHANNELS, ch[0], config.w_dim)
        self.to_rgb = nn.Conv2d(ch[0], 3, 1)
        if config.half_skip:
            self.stem_half = nn.Conv2d(CONDITION_CHANNELS, ch[1], 3, padding=1)
            self.refine_half = ModulatedConv(ch[1] + _SIDE_CHANNELS, ch[1], config.w_dim)
            self.to_rgb_half = nn.Conv2d(ch[1], 3, 1)

    @torch.no_grad()
    def mean_w(self, samples: int = 10_000) -> torch.Tensor:
        """The mapping's mean output over a fixed set of latents (StyleGAN's w_avg)."""
        device = next(self.parameters()).device
        z = torch.randn(samples, self.config.z_dim, generator=torch.Generator().manual_seed(0)).to(device)
        return self.mapping(z).mean(0)

    def forward(
        self, condition: torch.Tensor, z: torch.Tensor, truncation: float = 1.0, w_avg: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``truncation`` < 1 (with ``w_avg`` from :meth:`mean_w`) pulls the style towards the
        mean (StyleGAN's truncation trick): fewer artefacts, less variety."""
        w = self.mapping(z)
        if truncation != 1.0:
            if w_avg is None:
                raise ValueError("truncation needs w_avg (Generator.mean_w)")
            w = w_avg + truncation * (w - w_avg)
        half = self.config.half_skip
        x = _act(self.stem(condition))
        skips = []
        for i, conv in enumerate(self.down):
            skips.append(x)
            x = _act(conv(torch.cat([x, side_inputs(condition, x.shape[-1])], 1)))
            if half and i == 0:
                x = x + _act(self.stem_half(half_condition(condition)))
        x = self.bottleneck(torch.cat([x, side_inputs(condition, x.shape[-1])], 1), w)
        rgb_half = None
        last = len(self.up) - 1
        for i, (conv, skip) in enumerate(zip(self.up, reversed(skips))):
            if half and i == last:  # x is at half resolution: the smaller model's output head
                h = self.refine_half(torch.cat([x, side_inputs(condition, x.shape[-1])], 1), w)
                rgb_half = self.to_rgb_half(h)
            x = _upsample(x, self.config.top_upsample if i == last else "nearest")
            x = conv(torch.cat([x, skip, side_inputs(condition, x.shape[-1])], 1), w)
        x = self.refine(torch.cat([x, side_inputs(condition, x.shape[-1])], 1), w)
        rgb = self.to_rgb(x)
        if rgb_half is not None:
            rgb = rgb + F.interpolate(rgb_half, scale_factor=2, mode="bilinear", align_corners=False)
        return rgb


class Discriminator(nn.Module):
    """Conditional critic: (image, condition) -> one score per sample."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        ch = config.channels()
        self.stem = nn.Conv2d(3 + CONDITION_CHANNELS, ch[0], 3, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(ch[i], ch[i], 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(ch[i], ch[i + 1], 3, stride=2, padding=1),
                nn.LeakyReLU(0.2),
            )
            for i in range(len(ch) - 1)
        )
        if config.half_skip:  # the grown discriminator's second input: the pair at half resolution
            self.stem_half = nn.Conv2d(3 + CONDITION_CHANNELS, ch[1], 3, padding=1)
        self.head = nn.Sequential(
            nn.Conv2d(ch[-1], ch[-1], 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(ch[-1] * MIN_RESOLUTION**2, ch[-1]),
            nn.LeakyReLU(0.2),
            nn.Linear(ch[-1], 1),
        )
        _init_variance_preserving(self)

    def forward(self, image: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        x = _act(self.stem(torch.cat([image, condition], 1)))
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == 0 and self.config.half_skip:
                half = torch.cat([F.avg_pool2d(image, 2), half_condition(condition)], 1)
                x = x + _act(self.stem_half(half))
        return self.head(x).squeeze(1)


def _init_variance_preserving(module: nn.Module) -> None:
    """He initialisation for leaky-ReLU layers, zero biases.

    PyTorch's default (kaiming_uniform with a=sqrt(5)) shrinks the signal about threefold in
    variance per layer; through the discriminator's ~12 layers its scores start near 1e-3 and
    stay flat for hundreds of steps, and with an R1 penalty it never leaves 2 ln 2 (the
    bundled model's first run). Variance-preserving weights give it scores of order one at once.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)


def fill_hole(generated: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Known pixels from the condition, generated pixels inside the mask (what D and users see).
    Not :func:`anonymizer.inference.composite.composite`, which blends patches into a photo."""
    mask = condition[:, 3:4]
    return condition[:, :3] * mask + generated * (1 - mask)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
