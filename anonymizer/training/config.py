"""Training configuration: dataclasses read from and written to YAML.

An experiment is one YAML file (see ``manifests/train_*.yaml``), usually a few values on a
``base:`` config, read by the project's one loader (:mod:`fdf.config_file`); unknown keys are
errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from fdf.atomic import atomic_write_text
from fdf.config_file import build_config, read_config, with_overrides
from fdf.errors import ConfigError

from ..generator.augment import AugmentConfig
from ..generator.identity import DLIB
from ..generator.losses import LossConfig
from ..generator.networks import NetworkConfig


@dataclass
class DataConfig:
    path: str = ""  # face-shard dataset or FDF folder; relative paths are from the config file
    batch_size: int = 32  # global batch, split over processes
    workers: int = 2
    # Decode every face once up front (then no workers). The decoded faces are also kept in the run
    # folder (faces-train-<resolution>.npy, 3 x R x R bytes a face) so a resumed run starts in seconds.
    cache_in_memory: bool = False
    # Read the faces stored at this size and shrink them to the network's (0: the network's own
    # size): a 64 px model from 128 px shards. Must be a whole multiple of the network's size.
    source_resolution: int = 0
    # Train only on faces whose crop covers at least this many pixels of the source photo (0: all).
    # A stored face cut from a smaller crop was upscaled: blurred targets teach the generator, and
    # the discriminator, that a soft face is a real one (MTFL's 80 px photos: 28% of the 128 px set).
    min_source_px: int = 0


@dataclass
class OptimConfig:
    lr_g: float = 0.002
    lr_d: float = 0.002
    beta1: float = 0.0
    beta2: float = 0.99


@dataclass
class TrainConfig:
    """Everything a run needs; saved beside every checkpoint.

    Speed options (measured per option in ``benchmarks/bench_train_speed.py``; the CPU numbers
    are in BENCHMARKS.md). None of them changes what is trained, only how the arithmetic runs:

    - ``amp``: bf16 autocast on CUDA. ``cpu_amp``: the same on the CPU. It pays only where the
      CPU has native bf16 (AVX512-BF16, AMX); on an AVX2-only CPU (the project's 2-core EPYC)
      PyTorch has no fast bf16 convolution and a training step is about ten times slower. The
      gradient penalty (R1, WGAN-GP) is always computed in float32, outside autocast.
    - ``channels_last``: networks, optimizer state and inputs in NHWC memory format (oneDNN's
      native layout on the CPU, tensor-core friendly on CUDA). Checkpoints are written in the
      usual layout, so runs with and without it resume each other.
    - ``compile``: ``torch.compile`` the generator's and discriminator's forward passes (the
      penalty uses the plain discriminator: compiled graphs give no double backward). The first
      steps pay the compilation (minutes on a busy CPU) in every process, at every start.
    - ``threads``: torch CPU threads per process; ``data.cache_in_memory``: decode every face
      once at start-up instead of per batch.
    """

    network: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 10000
    seed: int = 0
    ema_halflife_images: float = 10000.0
    log_every: int = 20
    sample_every: int = 500
    checkpoint_every: int = 500  # steps
    checkpoint_every_seconds: float = 0.0  # also checkpoint after this much wall time (0: off)
    keep_checkpoints: int = 3
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # bf16 autocast on CUDA
    cpu_amp: bool = False  # bf16 autocast on the CPU too (only with native bf16: see above)
    channels_last: bool = False  # NHWC memory format for networks and inputs
    compile: bool = False  # torch.compile the forward passes (not the gradient penalty)
    threads: int = 0  # torch CPU threads per process (0: torch's default)
    tensorboard: bool = True  # used only when the tensorboard package is installed

    def __post_init__(self) -> None:
        if self.data.batch_size < 1 or self.steps < 1 or self.data.workers < 0:
            raise ConfigError("batch_size and steps must be >= 1, workers >= 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.checkpoint_every < 1 or self.log_every < 1 or self.sample_every < 1 or self.keep_checkpoints < 1:
            raise ConfigError("checkpoint_every, log_every, sample_every and keep_checkpoints must be >= 1")
        if self.threads < 0 or self.checkpoint_every_seconds < 0:
            raise ConfigError("threads and checkpoint_every_seconds must be >= 0")
        source = self.data.source_resolution
        if source < 0 or (source and source % self.network.resolution):
            raise ConfigError(
                f"data.source_resolution must be 0 or a whole multiple of network.resolution "
                f"({self.network.resolution}), got {source}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def _resolve_paths(values: dict, base_dir: Path) -> dict:
    """Relative ``data.path`` and ``loss.identity_model`` against the config file's folder."""
    data, loss = values.get("data"), values.get("loss")
    overrides = {}
    if (
        isinstance(data, dict)
        and isinstance(data.get("path"), str)
        and data["path"]
        and not Path(data["path"]).is_absolute()
    ):
        overrides["data.path"] = str((base_dir / data["path"]).resolve())
    model = loss.get("identity_model") if isinstance(loss, dict) else None
    if isinstance(model, str) and model not in ("", DLIB) and not Path(model).is_absolute():
        overrides["loss.identity_model"] = str((base_dir / model).resolve())
    return with_overrides(values, overrides)


def config_from_dict(values: dict, base_dir: str | Path | None = None) -> TrainConfig:
    """Build and validate a TrainConfig; a relative ``data.path`` is resolved against ``base_dir``."""
    values = values or {}
    if base_dir is not None and isinstance(values, dict):
        values = _resolve_paths(values, Path(base_dir))
    return build_config(TrainConfig, values, "train config")


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    """Read a training config (YAML or TOML, with its ``base:`` chain) and apply ``overrides``
    (dotted keys, e.g. ``{"steps": 2000}``); raise ConfigError saying what is wrong."""
    path = Path(path)
    values = with_overrides(read_config(path, "training config"), overrides or {})
    return config_from_dict(values, base_dir=path.parent)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the config as YAML, atomically."""
    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
