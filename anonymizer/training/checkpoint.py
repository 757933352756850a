"""Checkpoints in safetensors: networks, EMA, optimizers, step, RNG states and data position.

One file per checkpoint, ``checkpoint-<step>.safetensors``, written atomically; non-tensor
state (step, optimizer hyper-parameters, config) goes in the file's string metadata as JSON.
The run's ``config.yaml`` lies beside the checkpoints.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from fdf.atomic import atomic_path
from fdf.errors import FdfError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^checkpoint-(\d+)\.safetensors$")


class CheckpointError(FdfError):
    """A checkpoint is missing, unreadable or does not match the model."""


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / f"checkpoint-{step:08d}.safetensors"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporaries of killed writes are skipped)."""
    found = [(int(m.group(1)), p) for p in Path(run_dir).glob("checkpoint-*.safetensors") if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _optimizer_tensors(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    state = optimizer.state_dict()
    tensors, meta = {}, {"param_groups": state["param_groups"], "state": {}}
    for pid, values in state["state"].items():
        meta["state"][str(pid)] = {}
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                meta["state"][str(pid)][key] = value
    return tensors, meta


def _optimizer_state(prefix: str, tensors: dict, meta: dict) -> dict:
    state = {}
    for pid, plain in meta["state"].items():
        values = dict(plain)
        head = f"{prefix}.{pid}."
        values.update({k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)})
        state[int(pid)] = values
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(path: str | Path, modules: dict, optimizers: dict, rng_states: dict, info: dict) -> Path:
    """Write ``modules`` (name -> nn.Module), ``optimizers``, ``rng_states`` (name -> uint8 tensor)
    and JSON-able ``info`` (step, config, ...) to one safetensors file, atomically."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous().clone()
    optim_meta = {}
    for name, optimizer in optimizers.items():
        t, m = _optimizer_tensors(f"optim_{name}", optimizer)
        tensors.update(t)
        optim_meta[name] = m
    for name, state in rng_states.items():
        tensors[f"rng.{name}"] = state.cpu().contiguous()
    metadata = {"info": json.dumps(info), "optimizers": json.dumps(optim_meta), "format": "fdf-generator-train-1"}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def read_checkpoint(path: str | Path) -> tuple[dict, dict]:
    """All tensors and the string metadata of a safetensors file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    return tensors, metadata


def module_state(tensors: dict, name: str) -> dict:
    """The state dict of module ``name`` inside a checkpoint's tensors."""
    head = f"{name}."
    state = {k[len(head) :]: v for k, v in tensors.items() if k.startswith(head)}
    if not state:
        raise CheckpointError(f"checkpoint holds no weights for {name!r}")
    return state


def restore_checkpoint(path: str | Path, modules: dict, optimizers: dict) -> tuple[dict, dict]:
    """Load weights and optimizer state in place; return (info, rng_states)."""
    tensors, metadata = read_checkpoint(path)
    try:
        for name, module in modules.items():
            module.load_state_dict(module_state(tensors, name))
    except RuntimeError as exc:
        raise CheckpointError(f"{path} does not match the configured network: {str(exc).splitlines()[0]}") from None
    optim_meta = json.loads(metadata.get("optimizers", "{}"))
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(_optimizer_state(f"optim_{name}", tensors, optim_meta[name]))
    rng = {k[len("rng.") :]: v for k, v in tensors.items() if k.startswith("rng.")}
    return json.loads(metadata.get("info", "{}")), rng


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    for old in list_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
        log.debug("removed old checkpoint %s", old)
