"""GAN losses: DeepPrivacy's WGAN-GP with the epsilon penalty, and DeepPrivacy2's
non-saturating loss with the R1 penalty.

Every term is a mean over the batch of per-sample values, so averaging gradients over
processes equals one process with the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .identity import identity_loss

LOSS_KINDS = ("wgan-gp", "nsgan-r1")


@dataclass
class LossConfig:
    """Which loss and its penalty weights."""

    kind: str = "nsgan-r1"
    gp_lambda: float = 10.0  # WGAN-GP gradient penalty weight
    epsilon: float = 0.001  # WGAN-GP drift penalty on real scores (DeepPrivacy, after ProGAN)
    r1_gamma: float = 1.0  # R1 weight (the penalty is gamma / 2 * |grad|^2)
    r1_every: int = 4  # lazy R1: apply every k discriminator steps, scaled by k
    l1_weight: float = 0.0  # optional L1 to the real face inside the mask (0: pure GAN)
    # L1 between low-passed crops (average-pooled to lowpass_size x lowpass_size) inside the
    # hole: keeps the face's skin tone and light, which carry little identity (blurred faces
    # are re-identified at about chance), while the full-resolution L1 pulls to the person.
    lowpass_l1_weight: float = 0.0
    lowpass_size: int = 8
    # Identity loss: push the generated face's dlib descriptor at least identity_margin from the
    # original's. identity_model "dlib": dlib's own ResNet, ported (generator.dlib_resnet), at the
    # chips the evaluation uses; a path: a network `fdf distill-identity` wrote (relative paths
    # are from the config file).
    identity_weight: float = 0.0
    identity_margin: float = 0.8
    identity_model: str = ""

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise ValueError(f"loss kind must be one of {LOSS_KINDS}, got {self.kind!r}")
        if self.r1_every < 1:
            raise ValueError("r1_every must be >= 1")
        if self.lowpass_l1_weight < 0 or self.lowpass_size < 1:
            raise ValueError("lowpass_l1_weight must be >= 0 and lowpass_size >= 1")
        if self.identity_weight < 0 or self.identity_margin <= 0:
            raise ValueError("identity_weight must be >= 0 and identity_margin > 0")
        if self.identity_weight > 0 and not self.identity_model:
            raise ValueError("identity_weight > 0 needs identity_model: dlib, or a network from `fdf distill-identity`")


Critic = Callable[[torch.Tensor], torch.Tensor]


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: mean of (|grad D(x_hat)| - 1)^2 on points between real and fake (``alpha``: N x 1 x 1 x 1)."""
    x_hat = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(critic: Critic, real: torch.Tensor) -> torch.Tensor:
    """R1: mean squared gradient norm of D at real samples."""
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(real).sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def discriminator_loss(
    config: LossConfig,
    critic: Critic,
    real: torch.Tensor,
    fake: torch.Tensor,
    step: int,
    alpha: torch.Tensor,
    penalty_critic: Critic | None = None,
) -> tuple[torch.Tensor, dict]:
    """Discriminator loss and its parts (floats) for logging.

    ``penalty_critic`` (default: ``critic``) scores the gradient penalty's inputs. The penalty
    needs a second backward pass, which a ``torch.compile``d critic cannot give, and its squared
    gradients are safest in float32, so a trainer passes the plain module without autocast.
    """
    penalty_critic = penalty_critic or critic
    real_score, fake_score = critic(real), critic(fake.detach())
    parts: dict[str, float] = {"d_real": real_score.mean().item(), "d_fake": fake_score.mean().item()}
    if config.kind == "wgan-gp":
        loss = fake_score.mean() - real_score.mean() + config.epsilon * (real_score**2).mean()
        gp = gradient_penalty(penalty_critic, real, fake, alpha)
        loss = loss + config.gp_lambda * gp
        parts["gp"] = gp.item()
    else:
        loss = F.softplus(fake_score).mean() + F.softplus(-real_score).mean()
        if step % config.r1_every == 0 and config.r1_gamma > 0:
            r1 = r1_penalty(penalty_critic, real)
            loss = loss + config.r1_gamma / 2 * r1 * config.r1_every
            parts["r1"] = r1.item()
    parts["d_loss"] = loss.item()
    return loss, parts


def lowpass_l1(fake: torch.Tensor, real: torch.Tensor, mask: torch.Tensor, size: int) -> torch.Tensor:
    """Mean L1 between ``size`` x ``size`` average-pooled crops, over cells that overlap the hole."""
    hole = F.adaptive_avg_pool2d(1 - mask, size)
    diff = (F.adaptive_avg_pool2d(fake, size) - F.adaptive_avg_pool2d(real, size)).abs().mean(1, keepdim=True)
    weight = (hole > 0).float()
    return ((diff * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp(min=1)).mean()


def generator_loss(
    config: LossConfig,
    critic: Critic,
    fake: torch.Tensor,
    real: torch.Tensor,
    mask: torch.Tensor,
    identity_net: torch.nn.Module | None = None,
    boxes: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict]:
    """Generator loss and its parts for logging.

    ``identity_net`` is needed when identity_weight > 0; the dlib identity also needs the face
    ``boxes`` (N x 4, crop pixels) to place its chips.
    """
    score = critic(fake)
    loss = -score.mean() if config.kind == "wgan-gp" else F.softplus(-score).mean()
    parts = {"g_adv": loss.item()}
    if config.l1_weight > 0:
        hole = 1 - mask
        l1 = ((fake - real).abs() * hole).flatten(1).sum(1) / hole.flatten(1).sum(1).clamp(min=1) / 3
        loss = loss + config.l1_weight * l1.mean()
        parts["g_l1"] = l1.mean().item()
    if config.lowpass_l1_weight > 0:
        low = lowpass_l1(fake, real, mask, config.lowpass_size)
        loss = loss + config.lowpass_l1_weight * low
        parts["g_lowpass_l1"] = low.item()
    if config.identity_weight > 0:
        if identity_net is None:
            raise ValueError("identity_weight > 0 but no identity network was given")
        ident, dist = identity_loss(identity_net, fake, real, config.identity_margin, boxes)
        loss = loss + config.identity_weight * ident
        parts["g_identity"] = ident.item()
        parts["g_identity_distance"] = dist.mean().item()
    parts["g_loss"] = loss.item()
    return loss, parts
