"""Exponential moving average of the generator's weights (what is shipped and sampled)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def ema_beta(batch_size: int, halflife_images: float) -> float:
    """Decay per step so that the average's half-life is ``halflife_images`` training images."""
    if halflife_images <= 0:
        return 0.0
    return 0.5 ** (batch_size / halflife_images)


def make_ema(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` to hold the average."""
    ema = copy.deepcopy(model).eval()
    ema.requires_grad_(False)
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """ema = beta * ema + (1 - beta) * model, for parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p.detach(), 1 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)
