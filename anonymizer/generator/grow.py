"""Grow a trained generator to twice its resolution, keeping what it computes.

Progressive growing (ProGAN; DeepPrivacy v1 was trained this way) adds a level at the top of a
trained network instead of training the larger one from nothing. Here the grown generator
(``NetworkConfig.half_skip``) holds the trained one whole, one level down: its stem reads the
condition pooled to half resolution, its encoder and decoder levels are the trained ones, and
its half-resolution RGB head is the trained output head. The new top level (stem, first down
convolution, last up convolution, refine, RGB) is added with its first down convolution and RGB
output at zero, so at step 0 the grown generator outputs the trained one's image, bilinearly
upsampled: training starts from a working face and learns the detail the top level adds.

The discriminator grows the same way (:func:`grow_discriminator_state`): the trained one reads
the image and condition pooled to half resolution, and a new top level, whose stride-2
convolution starts at zero, adds what it learns to see at full resolution. Growing both keeps
the pair in the balance it was trained to; a fresh discriminator against the grown generator
first pushes the new level towards coloured grids and streaks (runs/grown128, step 1,000).
"""

from __future__ import annotations

import re

import torch

from .networks import Discriminator, Generator, NetworkConfig

# Settings that must agree between the trained generator and the grown one.
_SAME = ("z_dim", "w_dim", "mask_dilation", "hole", "outline_grow")


class GrowError(ValueError):
    """The two networks cannot be matched (resolution, channel plan or settings differ)."""


def check_growable(small: NetworkConfig, large: NetworkConfig) -> None:
    """Raise GrowError saying why ``large`` cannot be grown from ``small``."""
    if not large.half_skip:
        raise GrowError("the grown network needs network.half_skip: true")
    if small.half_skip:
        raise GrowError("growing a generator that was itself grown is not supported")
    if small.top_upsample != "nearest":
        # One level down in the grown network, the trained top level would get nearest features.
        raise GrowError("the trained network's top_upsample must be 'nearest' to grow it")
    if large.resolution != 2 * small.resolution:
        raise GrowError(f"can grow {small.resolution} px only to {2 * small.resolution} px, not {large.resolution} px")
    if large.channels()[1:] != small.channels():
        raise GrowError(
            f"below full resolution the grown network needs the trained channel plan {small.channels()}, "
            f"got {large.channels()[1:]} (set base_channels {small.base_channels // 2}, "
            f"max_channels {small.max_channels}; widen the top level with top_channels)"
        )
    for name in _SAME:
        if getattr(small, name) != getattr(large, name):
            raise GrowError(f"network.{name} differs: {getattr(small, name)!r} trained, {getattr(large, name)!r} grown")


def _rename(key: str) -> str:
    """A trained generator's parameter name in the grown generator."""
    head, _, rest = key.partition(".")
    if head == "stem":
        return f"stem_half.{rest}"
    if head == "refine":
        return f"refine_half.{rest}"
    if head == "to_rgb":
        return f"to_rgb_half.{rest}"
    match = re.fullmatch(r"down\.(\d+)\.(.+)", key)
    if match:  # encoder level i of the trained network is level i + 1 here
        return f"down.{int(match[1]) + 1}.{match[2]}"
    return key  # mapping, bottleneck and up.i (up is counted from 4 x 4, so the indices agree)


def _place(
    small_state: dict, large: NetworkConfig, network: type, rename, zeroed: tuple, new: tuple, seed: int
) -> dict:
    """``network(large)``'s fresh state (from ``seed``) with each trained weight at its renamed
    place and the ``zeroed`` weights at zero; every weight not taken must start with one of ``new``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = network(large).state_dict()
    what = network.__name__.lower()
    taken = set()
    for key, value in small_state.items():
        name = rename(key)
        if name not in grown or grown[name].shape != value.shape:
            raise GrowError(f"trained weight {key} {tuple(value.shape)} has no place in the grown {what}")
        grown[name] = value.detach().clone()
        taken.add(name)
    for name in zeroed:
        grown[name] = torch.zeros_like(grown[name])
    stray = [k for k in sorted(set(grown) - taken) if not k.startswith(new)]
    if stray:
        raise GrowError(f"the trained {what} has no weights for {', '.join(stray[:4])}")
    return grown


def grow_state_dict(small_state: dict, small: NetworkConfig, large: NetworkConfig, seed: int = 0) -> dict:
    """A state dict for ``Generator(large)`` that computes ``Generator(small)``'s output, upsampled.

    New layers are initialised as in a fresh network (from ``seed``), then the first down
    convolution and the full-resolution RGB layer are set to zero.
    """
    check_growable(small, large)
    zeroed = ("down.0.weight", "down.0.bias", "to_rgb.weight", "to_rgb.bias")
    new = ("stem.", "down.0.", f"up.{len(large.channels()) - 2}.", "refine.", "to_rgb.")
    return _place(small_state, large, Generator, _rename, zeroed, new, seed)


def _rename_discriminator(key: str) -> str:
    head, _, rest = key.partition(".")
    if head == "stem":
        return f"stem_half.{rest}"
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if match:
        return f"blocks.{int(match[1]) + 1}.{match[2]}"
    return key  # the head


def grow_discriminator_state(small_state: dict, small: NetworkConfig, large: NetworkConfig, seed: int = 0) -> dict:
    """A state dict for ``Discriminator(large)`` that scores a pair as ``Discriminator(small)``
    scores the pair pooled to half resolution; the new level's stride-2 convolution is zero."""
    check_growable(small, large)
    zeroed = ("blocks.0.2.weight", "blocks.0.2.bias")  # the new level's stride-2 convolution
    return _place(small_state, large, Discriminator, _rename_discriminator, zeroed, ("stem.", "blocks.0."), seed)
