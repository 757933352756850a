"""The training loop: ``train(config, run_dir)`` for one process or one of many under torchrun.

A run folder holds ``config.yaml``, ``checkpoint-<step>.safetensors`` (the newest few),
``log.jsonl`` (one JSON object per logged step), ``samples/step-<step>.png`` and, when the
tensorboard package is installed, ``tensorboard/``. Every random number of a step is drawn
for the whole global batch from one generator whose state is checkpointed, so a resumed run
and a multi-process run reproduce an uninterrupted single-process run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fdf.atomic import atomic_path
from fdf.errors import FdfError

from ..generator.augment import augment_batch, draw_augmentation
from ..generator.conditioning import build_condition, grow_boxes, to_float_image, to_uint8_image
from ..generator.ema import ema_beta, make_ema, update_ema
from ..generator.grow import GrowError, grow_discriminator_state, grow_state_dict
from ..generator.identity import IdentityModelError, load_identity_model
from ..generator.losses import discriminator_loss, generator_loss
from ..generator.networks import Discriminator, Generator, NetworkConfig, count_parameters, fill_hole
from ..generator.outline import outline_known
from ..generator.runner import GeneratorError, network_config
from . import ddp
from .checkpoint import (
    CheckpointError,
    checkpoint_path,
    latest_checkpoint,
    module_state,
    prune_checkpoints,
    read_checkpoint,
    restore_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig, load_config, save_config
from .data import CachedFaces, collate_faces, keep_sharp_faces, open_faces, training_batches

log = logging.getLogger(__name__)

CONFIG_NAME = "config.yaml"
LOG_NAME = "log.jsonl"
SAMPLE_FACES = 8
SAMPLE_SEEDS = (0, 1, 2)


class TrainError(FdfError):
    """The run folder or config does not allow the requested training."""


@dataclass
class TrainSummary:
    run_dir: str
    start_step: int
    end_step: int
    images_per_second: float
    checkpoint: str


@dataclass
class _State:
    generator: Generator
    discriminator: Discriminator
    ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rng: torch.Generator
    step: int = 0
    identity: torch.nn.Module | None = None  # frozen, for the identity loss
    # What a step calls: the modules themselves, or their torch.compile wrappers (config.compile).
    # The modules above stay plain, so state dicts, EMA and checkpoints never see a wrapper.
    run_generator: Callable | None = None
    run_discriminator: Callable | None = None

    def __post_init__(self):
        if self.run_generator is None:
            self.run_generator = self.generator
        if self.run_discriminator is None:
            self.run_discriminator = self.discriminator


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("device 'cuda' requested but no CUDA device is available")
    return torch.device(name)


def _build_state(config: TrainConfig, device: torch.device) -> _State:
    torch.manual_seed(config.seed)  # same initial weights in every process
    generator = Generator(config.network).to(device)
    discriminator = Discriminator(config.network).to(device)
    betas = (config.optim.beta1, config.optim.beta2)
    identity = None
    if config.loss.identity_weight > 0:
        try:
            identity = load_identity_model(config.loss.identity_model, device, config.network.resolution)
        except IdentityModelError as exc:
            raise TrainError(f"loss.identity_model: {exc}") from None
    if config.channels_last:  # before the optimizers, so their state takes the same layout
        for module in (generator, discriminator):
            module.to(memory_format=torch.channels_last)
    return _State(
        identity=identity,
        generator=generator,
        discriminator=discriminator,
        ema=make_ema(generator),
        opt_g=torch.optim.Adam(generator.parameters(), lr=config.optim.lr_g, betas=betas),
        opt_d=torch.optim.Adam(discriminator.parameters(), lr=config.optim.lr_d, betas=betas),
        rng=torch.Generator().manual_seed(config.seed + 1),
        run_generator=torch.compile(generator) if config.compile else None,
        run_discriminator=torch.compile(discriminator) if config.compile else None,
    )


def _apply_optim_config(state: _State, config: TrainConfig) -> None:
    """The config, not the checkpoint, sets learning rates and betas: a resumed run may change them."""
    for optimizer, lr in ((state.opt_g, config.optim.lr_g), (state.opt_d, config.optim.lr_d)):
        for group in optimizer.param_groups:
            group["lr"], group["betas"] = lr, (config.optim.beta1, config.optim.beta2)


def _modules(state: _State) -> dict:
    return {"generator": state.generator, "discriminator": state.discriminator, "generator_ema": state.ema}


def _autocast(device: torch.device, config: TrainConfig):
    # bf16 needs no loss scaling. On the CPU only by request (config.cpu_amp): without native
    # bf16 (AVX2 CPUs) convolutions fall back to a path about ten times slower than float32.
    if (config.amp and device.type == "cuda") or (config.cpu_amp and device.type == "cpu"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _memory_format(tensor: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    return tensor.contiguous(memory_format=torch.channels_last) if config.channels_last else tensor


def _slice(tensor: torch.Tensor, info: ddp.DistInfo) -> torch.Tensor:
    local = tensor.shape[0] // info.world_size
    return tensor[info.rank * local : (info.rank + 1) * local]


def train_step(state: _State, config: TrainConfig, batch: dict, info: ddp.DistInfo, device: torch.device) -> dict:
    """One discriminator and one generator update on this process's slice of the global batch."""
    n_global = config.data.batch_size
    z_dim = config.network.z_dim
    # Draw for the global batch, keep this process's rows: identical numbers for any world size.
    outline = config.network.hole == "outline"
    draws = _slice(draw_augmentation(n_global, state.rng, outline), info)
    z_d = _slice(torch.randn(n_global, z_dim, generator=state.rng), info).to(device)
    z_g = _slice(torch.randn(n_global, z_dim, generator=state.rng), info).to(device)
    alpha = _slice(torch.rand(n_global, 1, 1, 1, generator=state.rng), info).to(device)

    batch = augment_batch({**batch, "image": to_float_image(batch["image"])}, config.augment, draws)
    real = _memory_format(batch["image"].to(device), config)
    ellipse = draws[:, 5] < config.augment.ellipse_probability if outline else None
    holes, known = training_holes(batch, config.network, real.shape[-1], ellipse)
    condition, mask = build_condition(real, holes.to(device), batch["keypoints"].to(device), known)
    condition = _memory_format(condition, config)
    amp = _autocast(device, config)

    def critic(image):
        with amp:
            return state.run_discriminator(image, condition).float()

    def penalty_critic(image):  # double backward: the plain module, in float32
        return state.discriminator(image, condition)

    with torch.no_grad(), amp:
        fake = fill_hole(state.run_generator(condition, z_d).float(), condition)
    state.discriminator.requires_grad_(True)
    d_loss, parts = discriminator_loss(config.loss, critic, real, fake, state.step, alpha, penalty_critic)
    state.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    ddp.average_gradients(state.discriminator, info)
    state.opt_d.step()

    state.discriminator.requires_grad_(False)  # no D gradients needed for the G step
    with amp:
        fake = fill_hole(state.run_generator(condition, z_g).float(), condition)
    g_loss, g_parts = generator_loss(config.loss, critic, fake, real, mask, state.identity, batch["bbox"])
    state.opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    ddp.average_gradients(state.generator, info)
    state.opt_g.step()
    update_ema(state.ema, state.generator, ema_beta(n_global, config.ema_halflife_images))
    return {**parts, **g_parts}


def training_holes(
    batch: dict, network: NetworkConfig, resolution: int, ellipse: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The holes of a batch: the face boxes grown by ``mask_dilation`` (N x 4), and for an
    outline model the mask inside them (N x 1 x R x R, 0 on the hole; else None). A face gets the
    ellipse through its box where ``ellipse`` says so, where it has no landmarks, or where its yaw
    is past what the anonymizer outlines by landmarks (as :func:`~anonymizer.inference.face_mask.masked_region`)."""
    holes = grow_boxes(batch["bbox"], network.mask_dilation, resolution)
    if network.hole != "outline":
        return holes, None
    landmarks = batch["landmarks68"].clone()
    if ellipse is not None:
        landmarks[ellipse] = float("nan")
    known = outline_known(
        batch["bbox"].numpy(),
        landmarks.numpy(),
        holes.numpy(),
        resolution,
        network.outline_grow,
        yaws=batch["yaw"].numpy(),
    )
    return holes, torch.from_numpy(known)


@torch.no_grad()
def sample_grid(ema: Generator, faces: dict, device: torch.device, seeds=SAMPLE_SEEDS) -> np.ndarray:
    """Rows: original, masked input, then one generated crop per seed; one column per face."""
    real = to_float_image(faces["image"]).to(device)
    holes, known = training_holes(faces, ema.config, real.shape[-1])
    condition, _ = build_condition(real, holes.to(device), faces["keypoints"].to(device), known)
    rows = [real, condition[:, :3]]
    for seed in seeds:
        z = torch.randn(real.shape[0], ema.config.z_dim, generator=torch.Generator().manual_seed(seed)).to(device)
        rows.append(fill_hole(ema(condition, z), condition))
    tiles = [to_uint8_image(r).cpu().numpy() for r in rows]
    return np.concatenate([np.concatenate(list(row), axis=1) for row in tiles], axis=0)


def _sample_faces(config: TrainConfig) -> dict:

    for split in ("validation", "train"):
        try:
            dataset = open_faces(config.data.path, config.network.resolution, split, config.data.source_resolution)
            if config.data.min_source_px:
                dataset = keep_sharp_faces(dataset, dataset.source_sides(), config.data.min_source_px)
        except FdfError:
            continue
        return collate_faces([dataset[i] for i in range(min(SAMPLE_FACES, len(dataset)))])
    raise TrainError(f"no faces in {config.data.path}")


def _save_png(image: np.ndarray, path: Path) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


def _prepare_run(config: TrainConfig | None, run_dir: Path, resume: bool) -> tuple[TrainConfig, Path | None]:
    saved = run_dir / CONFIG_NAME
    existing = latest_checkpoint(run_dir) if run_dir.is_dir() else None
    if existing and not resume:
        raise TrainError(f"{run_dir} already holds {existing.name}; pass --resume to continue it or pick a new --out")
    if resume and saved.is_file():
        run_config = load_config(saved)
        if config is not None:
            for part in ("network", "loss"):
                if getattr(config, part) != getattr(run_config, part):
                    raise TrainError(f"config.{part} differs from the run's {saved}; resume with the same model")
            run_config = dataclasses.replace(run_config, steps=config.steps)  # extending (or shortening) is allowed
        config = run_config
    if config is None:
        raise TrainError(f"{run_dir} has no {CONFIG_NAME}: give a config to start a new run")
    return config, existing if resume else None


class _Logger:
    """JSON lines (and TensorBoard when available) on the main process."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool):
        self.enabled = enabled
        self.path = run_dir / LOG_NAME
        self.writer = None
        if enabled and tensorboard:
            try:
                # lazy: optional (tensorboard may not be installed), and only a run with tensorboard on needs it
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                log.debug("tensorboard not installed; logging to %s only", self.path)

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.writer:
            for key, value in record.items():
                if isinstance(value, float):
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.writer:
            self.writer.close()


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines past a resumed checkpoint's step, so the log tells one history."""
    if not path.is_file():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(line + "\n" for line in keep))


def _rng_states(state: _State) -> dict:
    # Every random number of training comes from this generator (torch's global one is only
    # used for weight initialisation and by the DataLoader, which draws no training randomness).
    return {"train": state.rng.get_state()}


def init_weights(state: _State, path: str | Path) -> None:
    """Load the generator, discriminator and EMA weights of a checkpoint into a new run.

    Optimizer states, RNG and step are not taken: the run starts at step 0 with its own config
    (a new loss, batch size or learning rate). A file without discriminator weights (exported
    generator weights) leaves the discriminator freshly initialised; without EMA weights, the
    EMA starts as a copy of the generator.
    """

    try:
        tensors, meta = read_checkpoint(path)
        names = {
            name
            for name in ("generator", "discriminator", "generator_ema")
            if any(k.startswith(name + ".") for k in tensors)
        }
        if not names & {"generator", "generator_ema"}:
            raise CheckpointError(f"{path} holds no generator weights")
        ema = module_state(tensors, "generator_ema" if "generator_ema" in names else "generator")
        generator = module_state(tensors, "generator") if "generator" in names else ema
        critic = module_state(tensors, "discriminator") if "discriminator" in names else None
        large = state.generator.config
        if large.half_skip:
            small = _source_network(meta, path)
            if small.resolution * 2 == large.resolution:
                generator, ema, critic = _grown(generator, ema, critic, small, large, path)
        state.generator.load_state_dict(generator)
        state.ema.load_state_dict(ema)
        if critic is not None:
            state.discriminator.load_state_dict(critic)
        else:
            log.warning("%s has no discriminator weights: the discriminator starts fresh", path)
    except CheckpointError as exc:
        raise TrainError(f"--init-from: {exc}") from None
    except RuntimeError as exc:
        raise TrainError(
            f"--init-from: {path} does not match the configured network: {str(exc).splitlines()[0]}"
        ) from None
    log.info("initialised from %s (%s)", path, ", ".join(sorted(names)))


def _source_network(meta: dict, path: str | Path) -> NetworkConfig:
    try:
        return network_config(meta, Path(path))
    except GeneratorError as exc:
        raise CheckpointError(str(exc)) from None


def _grown(
    generator: dict, ema: dict, critic: dict | None, small: NetworkConfig, large: NetworkConfig, path: str | Path
) -> tuple[dict, dict, dict | None]:
    """The three networks of a run at half the resolution, grown for a half_skip run
    (anonymizer.generator.grow); a missing discriminator stays missing."""
    try:
        grown = grow_state_dict(generator, small, large), grow_state_dict(ema, small, large)
        grown_critic = None if critic is None else grow_discriminator_state(critic, small, large)
    except GrowError as exc:
        raise TrainError(f"--init-from: cannot grow {path}: {exc}") from None
    log.info("grew the %d px networks of %s to %d px", small.resolution, path, large.resolution)
    return *grown, grown_critic


@dataclass
class Clock:
    """The training loop's one clock: each step takes one reading (``tick``) and everything timed reads it.

    Intervals (log rate, ``checkpoint_every_seconds``, the time limit) use the monotonic source, so a
    change of the system clock cannot fire or starve them; ``wall`` is the same reading's wall-clock
    time, for the log's ``time`` field. Both sources can be replaced (tests pass fake ones).
    """

    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    now: float = field(init=False)
    wall: float = field(init=False)
    started: float = field(init=False)
    last_log: float = field(init=False)
    last_log_step: int = field(init=False, default=0)
    last_checkpoint: float = field(init=False)

    def start(self, step: int) -> None:
        """Start timing a run that continues from ``step``."""
        self.tick()
        self.started = self.last_log = self.last_checkpoint = self.now
        self.last_log_step = step

    def tick(self) -> None:
        """Take this step's reading."""
        self.now, self.wall = self.monotonic(), self.wall_clock()

    @property
    def elapsed(self) -> float:
        """Seconds from ``start`` to the latest reading."""
        return self.now - self.started


@dataclass
class _Loop:
    """What the per-step hooks share besides the training state."""

    run_dir: Path
    config: TrainConfig
    info: ddp.DistInfo
    device: torch.device
    logger: _Logger
    sample_faces: dict | None
    end: int  # the last step; the time limit can make it earlier
    clock: Clock
    last_checkpoint: Path | None = None


def _due(step: int, every: int, end: int) -> bool:
    return step % every == 0 or step == end


def _out_of_time(clock: Clock, limit: float, info: ddp.DistInfo, device: torch.device) -> bool:
    over = clock.elapsed >= limit
    if info.world_size == 1:
        return over
    flag = torch.tensor([float(over)], device=device)
    torch.distributed.broadcast(flag, src=0)  # every process stops at the same step
    return bool(flag.item())


def _maybe_stop(loop: _Loop, step: int, time_limit: float | None) -> None:
    """Out of time: this step becomes the last, so it is logged, sampled and checkpointed."""
    if time_limit is None:
        return
    # Under several processes the check is a broadcast (a sync point): only every tenth step.
    if (loop.info.world_size == 1 or step % 10 == 0) and _out_of_time(loop.clock, time_limit, loop.info, loop.device):
        loop.end = step


def _maybe_log(loop: _Loop, step: int, parts: dict) -> None:
    config, clock = loop.config, loop.clock
    if not (loop.info.is_main and _due(step, config.log_every, loop.end)):
        return
    images = (step - clock.last_log_step) * config.data.batch_size
    rate = images / max(clock.now - clock.last_log, 1e-9)
    loop.logger.write(
        {"step": step, "images": step * config.data.batch_size, "images_per_second": rate, "time": clock.wall, **parts}
    )
    log.info(
        "step %d/%d  %.1f images/s  d_loss %.3f  g_loss %.3f",
        step,
        config.steps,
        rate,
        parts["d_loss"],
        parts["g_loss"],
    )
    clock.last_log, clock.last_log_step = clock.now, step


def _maybe_sample(loop: _Loop, state: _State) -> None:
    if loop.info.is_main and _due(state.step, loop.config.sample_every, loop.end):
        grid = sample_grid(state.ema, loop.sample_faces, loop.device)
        _save_png(grid, loop.run_dir / "samples" / f"step-{state.step:08d}.png")


def _maybe_checkpoint(loop: _Loop, state: _State) -> None:
    config, clock = loop.config, loop.clock
    seconds = config.checkpoint_every_seconds
    by_time = seconds > 0 and clock.now - clock.last_checkpoint >= seconds
    if not (loop.info.is_main and (_due(state.step, config.checkpoint_every, loop.end) or by_time)):
        return
    loop.last_checkpoint = save_checkpoint(
        checkpoint_path(loop.run_dir, state.step),
        _modules(state),
        {"g": state.opt_g, "d": state.opt_d},
        _rng_states(state),
        {"step": state.step, "images": state.step * config.data.batch_size, "config": config.to_dict()},
    )
    prune_checkpoints(loop.run_dir, config.keep_checkpoints)
    clock.last_checkpoint = clock.now
    log.info("checkpoint %s", loop.last_checkpoint.name)


def _run_steps(loop: _Loop, state: _State, batches, time_limit: float | None) -> None:
    """The tick loop: one training step, one clock reading, then the hooks that read it."""
    while state.step < loop.end:
        batch = next(batches)
        for module in (state.generator, state.discriminator):
            module.train()
        parts = train_step(state, loop.config, batch, loop.info, loop.device)
        state.step += 1
        loop.clock.tick()
        _maybe_stop(loop, state.step, time_limit)
        _maybe_log(loop, state.step, parts)
        _maybe_sample(loop, state)
        _maybe_checkpoint(loop, state)


def train(
    config: TrainConfig | None,
    run_dir: str | Path,
    resume: bool = False,
    stop_at: int | None = None,
    time_limit: float | None = None,
    init_from: str | Path | None = None,
    *,
    clock: Clock | None = None,
) -> TrainSummary:
    """Train (or, with ``resume``, continue) a run in ``run_dir`` up to ``config.steps``.

    ``stop_at`` stops early at that step (after checkpointing), e.g. to split a run in two;
    ``time_limit`` (seconds of training) stops and checkpoints once that much time has passed,
    for a machine lent for a fixed time. Under torchrun every process calls this; rank 0 writes
    files, and every process stops at the same step (rank 0's clock decides). ``init_from``
    starts a new run from another run's weights (see ``init_weights``) with fresh optimizers.
    ``clock`` times logging, checkpoints and the time limit (default: the real clocks).
    """
    run_dir = Path(run_dir)
    config, resume_from = _prepare_run(config, run_dir, resume)
    device = pick_device(config.device)
    info = ddp.init_distributed(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.cpu_amp and device.type == "cpu" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        log.warning("cpu_amp: this CPU has no native bf16; training steps will be several times slower")
    state = _build_state(config, device)
    if resume_from is not None:
        run_info, rng = restore_checkpoint(resume_from, _modules(state), {"g": state.opt_g, "d": state.opt_d})
        state.step = int(run_info["step"])
        state.rng.set_state(rng["train"])
        _apply_optim_config(state, config)
        log.info("resuming %s at step %d", resume_from.name, state.step)
    if init_from is not None:
        if resume_from is not None:
            raise TrainError("--init-from starts a new run; it cannot be combined with resuming one")
        init_weights(state, init_from)
    ddp.broadcast_parameters(state.generator, info)
    ddp.broadcast_parameters(state.discriminator, info)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / CONFIG_NAME)
        _truncate_log(run_dir / LOG_NAME, state.step)
        log.info(
            "generator %d params, discriminator %d params, device %s, %d process(es)",
            count_parameters(state.generator),
            count_parameters(state.discriminator),
            device,
            info.world_size,
        )
    resolution = config.network.resolution
    source = config.data.source_resolution or resolution
    workers = config.data.workers
    if config.data.cache_in_memory:  # decoded once per run: later starts load the run's own store
        shards = open_faces(config.data.path, source, "train")
        dataset, workers = CachedFaces(shards, run_dir / f"faces-train-{source}", resolution), 0
    else:
        dataset = shards = open_faces(config.data.path, resolution, "train", source)
    if config.data.min_source_px:  # after caching: the store holds every face and serves any threshold
        dataset = keep_sharp_faces(dataset, shards.source_sides(), config.data.min_source_px)
    batches = training_batches(
        dataset, config.data.batch_size, config.seed, state.step, workers, info.rank, info.world_size
    )
    sample_faces = _sample_faces(config) if info.is_main else None
    logger = _Logger(run_dir, info.is_main, config.tensorboard)
    end = min(config.steps, stop_at) if stop_at is not None else config.steps
    clock = Clock() if clock is None else clock
    clock.start(state.step)
    start_step = state.step
    loop = _Loop(run_dir, config, info, device, logger, sample_faces, end, clock, last_checkpoint=resume_from)
    try:
        _run_steps(loop, state, batches, time_limit)
    finally:
        logger.close()
        ddp.barrier(info)
        ddp.shutdown(info)
    clock.tick()
    total = (state.step - start_step) * config.data.batch_size / max(clock.elapsed, 1e-9)
    return TrainSummary(str(run_dir), start_step, state.step, total, str(loop.last_checkpoint or ""))
