"""Inference API: load a trained generator and replace faces in batches of crops.

    from anonymizer.generator import load_generator
    gen = load_generator()                      # the bundled model in anonymizer/weights/
    out = gen.generate(crops, boxes, keypoints, seeds=[0, 1, 2])

Crops are uint8 N x R x R x 3 (R = ``gen.resolution``); boxes N x 4 and keypoints N x 7 x 3 in
crop pixels. The face box is masked out before the network runs. Each face's latent code is
drawn from its own seed, so a face's result does not depend on which other faces share its batch.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fdf.atomic import atomic_path
from fdf.errors import FdfError

from .conditioning import build_condition, check_inputs, to_float_image, to_uint8_image
from .networks import Generator, NetworkConfig, fill_hole
from .outline import outline_known

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
BUNDLED_WEIGHTS = WEIGHTS_DIR / "generator.safetensors"
EMA_PREFIX = "generator_ema."


class GeneratorError(FdfError):
    """No usable generator weights, or bad input to the generator."""


class GeneratorRunner:
    """A generator in eval mode on one device, with the batch API the anonymizer uses.

    ``truncation`` (0-1, 1: off) pulls each face's style towards the mapping's mean (StyleGAN's
    truncation trick): an undertrained generator draws fewer broken faces near the mean, at the
    cost of variety. It never sees the face, so it moves nothing towards the original person."""

    def __init__(
        self,
        generator: Generator,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
        source: str = "",
        truncation: float = 1.0,
    ):
        if not 0.0 <= truncation <= 1.0:
            raise GeneratorError(f"truncation must be between 0 and 1, got {truncation}")
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.batch_size = batch_size
        self.source = source
        self.truncation = float(truncation)
        self._w_avg = self.generator.mean_w() if self.truncation != 1.0 else None

    @property
    def resolution(self) -> int:
        return self.generator.config.resolution

    @property
    def mask_dilation(self) -> float:
        """How far the model's training holes reached past the face box (see NetworkConfig)."""
        return float(self.generator.config.mask_dilation)

    @property
    def hole(self) -> str:
        """ "box" or "outline": the hole shape the model was trained to fill (see NetworkConfig)."""
        return str(self.generator.config.hole)

    def outline_holes(self, face_boxes: np.ndarray, landmarks68: np.ndarray, limits: np.ndarray) -> np.ndarray:
        """Bool N x R x R holes of an outline model (True: generated), all in crop pixels: the face
        outline from ``landmarks68`` (N x 68 x 2; a face with non-finite points gets the ellipse
        through its box), grown as in training, with the face box, inside ``limits`` (N x 4)."""
        known = outline_known(
            face_boxes, landmarks68, limits, self.resolution, float(self.generator.config.outline_grow)
        )
        return known[:, 0] < 0.5

    @property
    def z_dim(self) -> int:
        return self.generator.config.z_dim

    def latents(self, seeds: Sequence[int]) -> torch.Tensor:
        """One latent code per seed (independent of batch composition)."""
        return torch.stack([torch.randn(self.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])

    @torch.no_grad()
    def generate(
        self,
        crops: np.ndarray,
        boxes: np.ndarray,
        keypoints: np.ndarray,
        seeds: Sequence[int],
        holes: np.ndarray | None = None,
    ) -> np.ndarray:
        """Generated crops, uint8 N x R x R x 3: known pixels kept, the box region generated.

        ``boxes`` are the regions to fill, in crop pixels. For a model trained with a
        ``mask_dilation``, grow face boxes first (``conditioning.grow_boxes``), as the anonymizer
        and the evaluation do. ``holes`` (bool N x R x R, True: generated), where given, is the
        region instead: an outline model's (:meth:`outline_holes`).
        """
        crops = np.asarray(crops)
        boxes = np.asarray(boxes, dtype=np.float32)
        keypoints = np.asarray(keypoints, dtype=np.float32)
        try:
            check_inputs(crops, boxes, keypoints, self.resolution)
        except ValueError as exc:
            raise GeneratorError(str(exc)) from None
        if len(seeds) != len(crops):
            raise GeneratorError(f"need one seed per crop: {len(seeds)} seeds for {len(crops)} crops")
        if holes is not None:
            holes = np.asarray(holes)
            if holes.dtype != bool or holes.shape != (len(crops), self.resolution, self.resolution):
                raise GeneratorError(
                    f"holes must be bool N x {self.resolution} x {self.resolution}, got {holes.dtype} {holes.shape}"
                )
        out = np.empty_like(crops)
        for start in range(0, len(crops), self.batch_size):
            part = slice(start, start + self.batch_size)
            images = to_float_image(torch.from_numpy(crops[part]).permute(0, 3, 1, 2)).to(self.device)
            known = None if holes is None else torch.from_numpy(~holes[part])[:, None]
            condition, _ = build_condition(
                images, torch.from_numpy(boxes[part]), torch.from_numpy(keypoints[part]), known
            )
            z = self.latents(seeds[part]).to(self.device)
            generated = self.generator(condition, z, self.truncation, self._w_avg)
            out[part] = to_uint8_image(fill_hole(generated.float(), condition)).cpu().numpy()
        return out


def _read(path: Path) -> tuple[dict, dict]:

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k[len(EMA_PREFIX) :]: fh.get_tensor(k) for k in fh.keys() if k.startswith(EMA_PREFIX)}
    except Exception as exc:  # safetensors' own error types for corrupt or foreign files
        raise GeneratorError(f"cannot read generator weights {path}: {exc}") from None
    if not tensors:
        raise GeneratorError(f"{path} holds no generator EMA weights ({EMA_PREFIX}*)")
    return tensors, meta


def network_config(meta: dict, path: Path) -> NetworkConfig:
    """The network config a weights file's metadata records (exported weights or a checkpoint)."""
    if "network" in meta:
        values = json.loads(meta["network"])
    elif "info" in meta:
        values = json.loads(meta["info"])["config"]["network"]
    else:
        raise GeneratorError(f"{path} does not say which network it holds (no 'network' metadata)")
    return NetworkConfig(**values)


def resolve_checkpoint(checkpoint: str | Path | None) -> Path:
    """A weights file from None (bundled), a run folder (its newest checkpoint) or a file path."""
    if checkpoint is None:
        if not BUNDLED_WEIGHTS.is_file():
            raise GeneratorError(f"the bundled generator weights are missing: {BUNDLED_WEIGHTS}")
        return BUNDLED_WEIGHTS
    path = Path(checkpoint)
    if path.is_dir():
        found = sorted(path.glob("checkpoint-*.safetensors"))
        found = [p for p in found if not p.name.startswith(".")]
        if not found:
            raise GeneratorError(f"{path} holds no checkpoint-*.safetensors")
        return found[-1]
    if not path.is_file():
        raise GeneratorError(f"generator checkpoint not found: {path}")
    return path


def load_generator(
    checkpoint: str | Path | None = None, device: str = "cpu", batch_size: int = 64, truncation: float = 1.0
) -> GeneratorRunner:
    """Load the EMA generator from a training checkpoint, a run folder, exported weights, or
    (``None``) the model bundled with the package. ``truncation``: see :class:`GeneratorRunner`."""
    path = resolve_checkpoint(checkpoint)
    tensors, meta = _read(path)
    config = network_config(meta, path)
    generator = Generator(config)
    try:
        generator.load_state_dict(tensors)
    except RuntimeError as exc:
        raise GeneratorError(f"{path} does not match its network config: {str(exc).splitlines()[0]}") from None
    log.debug("loaded generator from %s (%d px)", path, config.resolution)
    return GeneratorRunner(generator, device=device, batch_size=batch_size, source=str(path), truncation=truncation)


def export_generator(checkpoint: str | Path, out_path: str | Path, extra_metadata: dict | None = None) -> Path:
    """Write only the EMA generator of a checkpoint (what inference needs) to ``out_path``."""

    path = resolve_checkpoint(checkpoint)
    tensors, meta = _read(path)
    config = network_config(meta, path)
    metadata = {"network": json.dumps(config.to_dict()), "source": path.name, **(extra_metadata or {})}
    if "info" in meta:
        metadata["step"] = str(json.loads(meta["info"]).get("step", ""))
    with atomic_path(out_path) as tmp:
        save_file({EMA_PREFIX + k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    return Path(out_path)
