"""Starting a run from another run's weights (``--init-from``) and stopping on a time budget
(``--time-limit``): what scripts/device_train.py relies on for a lent GPU."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_train_data import build_face_shards
from test_train_resume import STEPS, tiny_config

from anonymizer.generator import export_generator
from anonymizer.training import config_from_dict, train
from anonymizer.training.checkpoint import latest_checkpoint, list_checkpoints, read_checkpoint
from anonymizer.training.trainer import Clock, TrainError, _build_state, init_weights, pick_device

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("init")
    data = build_face_shards(root / "ds", resolution=32)
    train(config_from_dict(tiny_config(data)), root / "source")
    return root, data


def _weights(module) -> dict:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_init_takes_all_three_networks_from_a_checkpoint(source_run):
    root, data = source_run
    config = config_from_dict(tiny_config(data))
    state = _build_state(config, pick_device("cpu"))
    ckpt = latest_checkpoint(root / "source")
    init_weights(state, ckpt)
    tensors, _ = read_checkpoint(ckpt)
    for name, module in (
        ("generator", state.generator),
        ("discriminator", state.discriminator),
        ("generator_ema", state.ema),
    ):
        for key, value in module.state_dict().items():
            assert torch.equal(value, tensors[f"{name}.{key}"]), f"{name}.{key}"


def test_init_from_exported_weights_keeps_a_fresh_discriminator(source_run, tmp_path):
    root, data = source_run
    exported = export_generator(root / "source", tmp_path / "gen.safetensors")
    config = config_from_dict(tiny_config(data))
    fresh = _weights(_build_state(config, pick_device("cpu")).discriminator)
    state = _build_state(config, pick_device("cpu"))
    init_weights(state, exported)
    tensors, _ = read_checkpoint(latest_checkpoint(root / "source"))
    assert all(torch.equal(v, fresh[k]) for k, v in state.discriminator.state_dict().items())
    for module in (state.generator, state.ema):  # both start as the exported EMA weights
        assert all(torch.equal(v, tensors[f"generator_ema.{k}"]) for k, v in module.state_dict().items())


def test_a_new_run_from_init_starts_at_step_zero_and_trains(source_run, tmp_path):
    root, data = source_run
    values = tiny_config(data)
    values["steps"] = 2
    summary = train(config_from_dict(values), tmp_path / "run", init_from=latest_checkpoint(root / "source"))
    assert (summary.start_step, summary.end_step) == (0, 2)
    with pytest.raises(TrainError, match="new run"):
        train(config_from_dict(values), tmp_path / "run", resume=True, init_from=latest_checkpoint(root / "source"))


def test_bad_init_files_are_train_errors(source_run, tmp_path):
    root, data = source_run
    (tmp_path / "junk.safetensors").write_bytes(b"junk")
    with pytest.raises(TrainError, match="--init-from"):
        train(config_from_dict(tiny_config(data)), tmp_path / "a", init_from=tmp_path / "junk.safetensors")
    other = tiny_config(data)
    other["network"]["base_channels"] = 8  # a different network than the checkpoint's
    with pytest.raises(TrainError, match="does not match"):
        train(config_from_dict(other), tmp_path / "b", init_from=latest_checkpoint(root / "source"))


def test_time_limit_checkpoints_and_the_resumed_run_is_exact(source_run, tmp_path):
    root, data = source_run
    config = config_from_dict(tiny_config(data))
    summary = train(config, tmp_path / "run", time_limit=1e-6)  # out of time after the first step
    assert summary.end_step == 1
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["checkpoint-00000001.safetensors"]
    assert json.loads((tmp_path / "run" / "log.jsonl").read_text().splitlines()[-1])["step"] == 1
    train(None, tmp_path / "run", resume=True)
    a, _ = read_checkpoint(latest_checkpoint(tmp_path / "run"))
    b, _ = read_checkpoint(latest_checkpoint(root / "source"))
    assert json.loads(read_checkpoint(latest_checkpoint(tmp_path / "run"))[1]["info"])["step"] == STEPS
    assert all(torch.equal(a[k], b[k]) for k in b if not k.startswith("rng."))


def test_one_clock_times_logs_checkpoints_and_the_time_limit(source_run, tmp_path):
    """A fake clock, 10 s per reading: every step is one reading, so each logged rate is one step's
    images over 10 s; checkpoint_every_seconds=15 checkpoints steps 2 and 4, and a 45 s limit stops
    (and checkpoints) step 5."""
    _, data = source_run
    values = {
        **tiny_config(data),
        "checkpoint_every": 100,
        "sample_every": 100,
        "keep_checkpoints": 10,
        "checkpoint_every_seconds": 15.0,
    }
    clock = Clock(monotonic=itertools.count(0.0, 10.0).__next__, wall_clock=itertools.count(1e9, 10.0).__next__)
    summary = train(config_from_dict(values), tmp_path / "run", time_limit=45, clock=clock)
    assert summary.end_step == 5 and summary.images_per_second == pytest.approx(5 * 8 / 60)
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == [
        f"checkpoint-{step:08d}.safetensors" for step in (2, 4, 5)
    ]
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert all(r["images_per_second"] == pytest.approx(0.8) for r in log)
    assert [r["time"] for r in log] == [1e9 + 10 * step for step in range(1, 6)]
    assert (tmp_path / "run" / "samples" / "step-00000005.png").is_file()


def test_cli_rejects_a_bad_time_limit(source_run, tmp_path):
    root, data = source_run
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_config(data)))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "train",
            str(tmp_path / "c.yaml"),
            "--out",
            str(tmp_path / "r"),
            "--time-limit",
            "0",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2 and "--time-limit" in done.stderr


def test_device_script_prepares_and_runs_on_the_cpu(source_run, tmp_path):
    """scripts/device_train.py as a lent GPU would run it, here with a tiny config on the CPU."""
    import numpy as np
    import yaml

    from anonymizer.generator import load_generator
    from fdf.torch_data import FaceShardDataset

    root, data = source_run
    dest, out = tmp_path / "device", tmp_path / "out"
    script = [sys.executable, str(ROOT / "scripts" / "device_train.py")]
    done = subprocess.run(
        [
            *script,
            "prepare",
            "--data",
            str(data),
            "--init",
            str(latest_checkpoint(root / "source")),
            "--dest",
            str(dest),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    packed, source = FaceShardDataset(str(dest / "faces"), 32, "train"), FaceShardDataset(str(data), 32, "train")
    assert len(packed) == len(source) == 24
    assert all(torch.equal(packed[i]["image"], source[i]["image"]) for i in range(len(packed)))  # lossless
    tensors, _ = read_checkpoint(dest / "init.safetensors")
    assert not any(k.startswith("optim") for k in tensors) and any(k.startswith("discriminator.") for k in tensors)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "tiny.yaml").write_text(
        yaml.safe_dump({**tiny_config(data), "checkpoint_every_seconds": 0.0})
    )
    # As on the device: --dest relative to the working folder, the config file in another folder.
    done = subprocess.run(
        [*script, "run", "--dest", "device", "--minutes", "0.02", "--out", "out", "--config", "configs/tiny.yaml"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert 1 <= summary["steps"] <= STEPS and summary["device"] == "cpu"
    gen = load_generator(out / summary["exported"][-1])
    crops = np.zeros((1, 32, 32, 3), np.uint8)
    assert (
        gen.generate(crops, np.array([[8, 8, 24, 24]], np.float32), np.zeros((1, 7, 3), np.float32), [0]).shape
        == crops.shape
    )
    assert (out / "log.jsonl").is_file() and (out / "samples-last.png").is_file()
    # The last checkpoint's three networks come back too, so the CPU campaign can go on from them.
    last, _ = read_checkpoint(out / "last.safetensors")
    assert "last.safetensors" in summary["exported"] and not any(k.startswith("optim") for k in last)
    assert {k.split(".")[0] for k in last} == {"generator", "generator_ema", "discriminator"}


def test_device_pack_keeps_only_faces_from_large_enough_crops(tmp_path):
    """pack_faces --min-source-px: the GPU pack holds the faces a min_source_px run trains on,
    with their crop sizes, so the run's own filter keeps every one of them."""
    from anonymizer.training.data import keep_sharp_faces
    from fdf.torch_data import FaceShardDataset

    sys.path.insert(0, str(ROOT / "scripts"))
    from pack_faces import pack

    data = build_face_shards(tmp_path / "ds", resolution=32, crop_side=lambda i: 60.0 + 10 * i)
    report = pack(data, tmp_path / "packed", ["train"], 32, min_source_px=128)
    packed, source = FaceShardDataset(str(tmp_path / "packed"), 32, "train"), FaceShardDataset(str(data), 32, "train")
    sharp = keep_sharp_faces(source, source.source_sides(), 128)
    assert report["faces"] == len(packed) == len(sharp) == 18
    assert {packed[i]["face_id"] for i in range(len(packed))} == {sharp[i]["face_id"] for i in range(len(sharp))}
    assert len(keep_sharp_faces(packed, packed.source_sides(), 128)) == 18
