"""Exactness of training: a resumed run and a 2-process gloo run (torchrun, real subprocesses)
end with the same weights as one uninterrupted single-process run of the same steps."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from test_train_data import build_face_shards

from anonymizer.training import config_from_dict, train
from anonymizer.training.checkpoint import latest_checkpoint, read_checkpoint
from anonymizer.training.trainer import TrainError

STEPS = 6


def tiny_config(data: Path, kind: str = "nsgan-r1") -> dict:
    return {
        "network": {"resolution": 32, "base_channels": 4, "max_channels": 16, "z_dim": 8, "w_dim": 16},
        "loss": {"kind": kind, "r1_every": 2},
        "data": {"path": str(data), "batch_size": 8, "workers": 0},
        "steps": STEPS,
        "log_every": 1,
        "sample_every": 3,
        "checkpoint_every": 3,
        "threads": 1,
        "tensorboard": False,
    }


def one_step_run(root: Path, resolution: int = 32, **network) -> tuple[Path, Path]:
    """Face shards at ``resolution`` and a 1-step training run on them: (run folder, shards)."""
    data = build_face_shards(root / "ds", resolution=resolution)
    config = tiny_config(data)
    config["network"].update(resolution=resolution, **network)
    config["steps"] = 1
    train(config_from_dict(config), root / "run")
    return root / "run", data


def final_tensors(run: Path) -> dict:
    tensors, metadata = read_checkpoint(latest_checkpoint(run))
    assert json.loads(metadata["info"])["step"] == STEPS
    return tensors


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return build_face_shards(tmp_path_factory.mktemp("faces") / "ds", resolution=32)


@pytest.fixture(scope="module")
def uninterrupted(shards, tmp_path_factory):
    run = tmp_path_factory.mktemp("full") / "run"
    summary = train(config_from_dict(tiny_config(shards)), run)
    assert summary.end_step == STEPS and summary.images_per_second > 0
    return run


@pytest.mark.parametrize("kind", ["nsgan-r1", "wgan-gp"])
def test_resumed_run_equals_uninterrupted_run(shards, tmp_path, kind, uninterrupted):
    full = uninterrupted
    if kind != "nsgan-r1":
        full = tmp_path / "full"
        train(config_from_dict(tiny_config(shards, kind)), full)
    split = tmp_path / "split"
    first = train(config_from_dict(tiny_config(shards, kind)), split, stop_at=STEPS // 2)
    assert first.end_step == STEPS // 2
    second = train(None, split, resume=True)
    assert (second.start_step, second.end_step) == (STEPS // 2, STEPS)
    a, b = final_tensors(full), final_tensors(split)
    assert a.keys() == b.keys() and any(k.startswith("optim_g.") for k in a) and "rng.train" in a
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"resume changed {different[:5]}"
    log = [json.loads(line) for line in (split / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, STEPS + 1)), "one log line per step, none repeated"
    assert (split / "samples" / f"step-{STEPS:08d}.png").is_file()


def test_channels_last_resumes_exactly_and_trains_as_nchw(shards, tmp_path, uninterrupted):
    """NHWC memory format changes only the order of float sums: a split run equals an unsplit
    one exactly (checkpoints are written in the usual layout), and both stay close to NCHW.
    The faces are cached in memory, so the resumed half reads the run's stored decoded faces."""
    values = {**tiny_config(shards), "channels_last": True}
    values["data"] = {**values["data"], "cache_in_memory": True}
    full, split = tmp_path / "full", tmp_path / "split"
    train(config_from_dict(values), full)
    train(config_from_dict(values), split, stop_at=STEPS // 2)
    assert (split / "faces-train-32.npy").is_file()
    train(None, split, resume=True)
    a, b = final_tensors(full), final_tensors(split)
    assert not [k for k in a if not torch.equal(a[k], b[k])], "resume is exact under channels_last"
    assert all(v.is_contiguous() for v in a.values())
    nchw = final_tensors(uninterrupted)
    for key in nchw:
        if key.startswith(("generator", "discriminator")):
            assert torch.allclose(nchw[key], a[key], rtol=1e-4, atol=1e-5), key


@pytest.mark.slow
def test_compiled_run_trains_as_eager(shards, tmp_path, uninterrupted):
    """torch.compile (forward passes; the R1 penalty runs on the plain module) trains the same
    weights as eager, up to float rounding. Compiling takes most of this test's minute."""
    run = tmp_path / "compiled"
    train(config_from_dict({**tiny_config(shards), "compile": True}), run)
    a, b = final_tensors(uninterrupted), final_tensors(run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert sum("r1" in r for r in log) == STEPS // 2, "the lazy R1 steps ran"
    for key in a:
        if key.startswith(("generator", "discriminator")):
            assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key


def test_cpu_bf16_autocast_keeps_losses_finite(shards, tmp_path):
    """cpu_amp: bf16 autocast on the CPU (slow without native bf16, so only two steps here);
    the R1 penalty is computed in float32 outside autocast and every logged loss is finite."""
    values = {**tiny_config(shards), "cpu_amp": True, "steps": 2}
    values["loss"] = {**values["loss"], "r1_every": 1}
    run = tmp_path / "bf16"
    train(config_from_dict(values), run)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all("r1" in r for r in log)
    assert all(math.isfinite(v) for r in log for k, v in r.items() if isinstance(v, float))


def test_training_changes_the_weights(uninterrupted):
    tensors, _ = read_checkpoint(latest_checkpoint(uninterrupted))
    ema, raw = tensors["generator_ema.to_rgb.weight"], tensors["generator.to_rgb.weight"]
    assert not torch.equal(ema, raw), "the EMA lags the trained weights"
    from anonymizer.training.trainer import _build_state

    fresh = _build_state(config_from_dict(tiny_config(Path("."))), torch.device("cpu"))
    assert not torch.equal(fresh.generator.to_rgb.weight, raw), "training moved the weights"


def test_new_run_refuses_a_folder_with_checkpoints(shards, uninterrupted):
    with pytest.raises(TrainError, match="--resume"):
        train(config_from_dict(tiny_config(shards)), uninterrupted)


def test_two_gloo_processes_equal_one_process(shards, uninterrupted, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config(shards)))
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "fdf",
        "train",
        str(config),
        "--out",
        str(run),
        "--json",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    for rank in (0, 1):
        assert f"rank {rank}/2 left the process group" in done.stderr, "every process reached the end"
    assert json.loads(done.stdout)["end_step"] == STEPS, "only rank 0 prints its summary"
    a, b = final_tensors(uninterrupted), final_tensors(run)
    for key in a:
        if key.startswith(("generator", "discriminator")):
            # Gradient sums are added in another order across processes: equal up to float rounding.
            assert torch.allclose(a[key], b[key], rtol=1e-4, atol=1e-5), key
    assert torch.equal(a["rng.train"], b["rng.train"]), "the same random numbers were drawn"


def test_resume_takes_learning_rates_from_the_run_config(shards, tmp_path):
    """The run's config.yaml, not the optimizer state in the checkpoint, sets the learning rates."""
    from anonymizer.training.checkpoint import restore_checkpoint
    from anonymizer.training.trainer import _build_state

    run = tmp_path / "run"
    train(config_from_dict(tiny_config(shards)), run, stop_at=2)
    values = yaml.safe_load((run / "config.yaml").read_text())
    values["optim"].update(lr_g=0.0001, lr_d=0.0003)
    (run / "config.yaml").write_text(yaml.safe_dump(values))
    assert train(None, run, resume=True, stop_at=3).end_step == 3
    state = _build_state(config_from_dict(values), torch.device("cpu"))
    restore_checkpoint(latest_checkpoint(run), {"generator": state.generator}, {"g": state.opt_g, "d": state.opt_d})
    assert state.opt_g.param_groups[0]["lr"] == 0.0001 and state.opt_d.param_groups[0]["lr"] == 0.0003


def test_min_source_px_trains_on_the_kept_faces_and_resumes_exactly(tmp_path, caplog):
    """A run that leaves out faces from small source crops (on top of the in-memory cache, which
    keeps every face) resumes exactly, and says how many faces it kept."""
    data = build_face_shards(tmp_path / "ds", resolution=32, crop_side=lambda i: 60.0 + 10 * i)
    values = tiny_config(data)
    values["data"] = {**values["data"], "cache_in_memory": True, "min_source_px": 128}
    full, split = tmp_path / "full", tmp_path / "split"
    with caplog.at_level("INFO", logger="anonymizer.training.data"):
        train(config_from_dict(values), full)
    assert "min_source_px 128: 18 of 24 faces kept" in caplog.text
    train(config_from_dict(values), split, stop_at=STEPS // 2)
    train(None, split, resume=True)
    a, b = final_tensors(full), final_tensors(split)
    assert not [k for k in a if not torch.equal(a[k], b[k])], "resume is exact with the filter"
