"""The identity loss: distilling dlib's descriptor into IdentityNet (`fdf distill-identity`, a real
subprocess on real MTFL faces), the hinge loss itself, and its wiring into training."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_data import build_face_shards
from test_train_resume import tiny_config

from anonymizer.generator.identity import (
    IdentityModelError,
    IdentityNet,
    IdentityNetConfig,
    identity_loss,
    load_identity_net,
    save_identity_net,
)
from anonymizer.generator.losses import LossConfig
from anonymizer.training import config_from_dict, train
from anonymizer.training.checkpoint import latest_checkpoint, read_checkpoint
from anonymizer.training.trainer import TrainError
from fdf.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """A 64 px tiny generator run and `fdf distill-identity` on the 32 test faces."""
    root = tmp_path_factory.mktemp("distil")
    data = build_face_shards(root / "ds", resolution=64)
    config = tiny_config(data)
    config["network"]["resolution"] = 64
    config["steps"] = 1
    train(config_from_dict(config), root / "gen")
    out = root / "identity"
    cmd = [
        sys.executable,
        "-m",
        "fdf",
        "distill-identity",
        "--data",
        str(data),
        "--generator",
        str(root / "gen"),
        "--out",
        str(out),
        "--epochs",
        "120",
        "--jobs",
        "1",
        "--json",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return {"root": root, "data": data, "out": out, "cmd": cmd, "report": json.loads(done.stdout)}


def test_targets_are_the_evaluations_descriptors(distilled):
    """The cached targets are what `fdf evaluate-generator` measures for the same face."""
    from anonymizer.evaluation import EvaluationConfig, _face_measures, _upscale
    from fdf.torch_data import FaceShardDataset

    with np.load(distilled["out"] / "targets-train.npz") as saved:
        original, generated = saved["original"], saved["generated0"]
    assert original.shape == generated.shape == (24, 128)
    item = FaceShardDataset(str(distilled["data"]), 64, "train")[5]
    config = EvaluationConfig()
    crop = item["image"].permute(1, 2, 0).numpy()
    measures = _face_measures({"original": _upscale(crop, config)}, item["bbox"].numpy() * 4, config)
    assert np.allclose(measures["original"]["descriptor"], original[5], atol=1e-5)
    # Generated faces are different crops, so different descriptors.
    assert np.linalg.norm(generated - original, axis=1).mean() > 0.05


def test_distilled_network_fits_its_targets(distilled):
    report = distilled["report"]
    assert report["train_faces"] == 24
    with np.load(distilled["out"] / "targets-train.npz") as saved:
        original = saved["original"]
    # A constant (the mean descriptor) is the baseline any real fit must beat.
    constant = float(np.sqrt(((original - original.mean(0)) ** 2).sum(1).mean()))
    assert report["train"]["descriptor_rmse"] < 0.8 * constant
    assert set(report["validation"]) == {"descriptor_rmse", "generated0"}
    net = load_identity_net(distilled["out"] / "identity.safetensors")
    assert net.config.resolution == 64 and not any(p.requires_grad for p in net.parameters())


def test_second_run_reuses_the_cached_targets(distilled):
    cached = (distilled["out"] / "targets-train.npz").stat().st_mtime_ns
    cmd = [*distilled["cmd"][:-5], "--epochs", "1", "--jobs", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "using cached train targets" in done.stderr
    assert (distilled["out"] / "targets-train.npz").stat().st_mtime_ns == cached
    assert "distance correlation" in done.stdout


def test_distill_errors_are_one_line(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "fdf",
        "distill-identity",
        "--data",
        str(tmp_path / "missing"),
        "--generator",
        "bundled",
        "--out",
        str(tmp_path / "o"),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    done = subprocess.run([*cmd, "--epochs", "0"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "--epochs" in done.stderr


def test_identity_loss_pushes_the_face_away():
    torch.manual_seed(0)
    net = IdentityNet(IdentityNetConfig(resolution=32)).eval().requires_grad_(False)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    fake = (real + 0.01 * torch.randn_like(real)).requires_grad_(True)
    first, dist0 = identity_loss(net, fake, real, margin=10.0)
    opt = torch.optim.SGD([fake], lr=0.5)
    for _ in range(20):
        loss, dist = identity_loss(net, fake, real, margin=10.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert dist.mean() > dist0.mean() * 2 and loss < first
    # Past the margin the hinge is flat: no gradient at all.
    far, _ = identity_loss(net, fake, real, margin=1e-6)
    assert far.item() == 0.0


def test_saved_network_round_trips_and_foreign_files_are_refused(tmp_path):
    net = IdentityNet(IdentityNetConfig(resolution=32))
    path = save_identity_net(net, tmp_path / "id.safetensors", {"note": "test"})
    again = load_identity_net(path)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(net.eval()(x), again(x))
    with pytest.raises(IdentityModelError, match="not found"):
        load_identity_net(tmp_path / "nope.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(IdentityModelError, match="not a safetensors"):
        load_identity_net(tmp_path / "junk.safetensors")


def test_training_with_the_identity_loss_logs_it_and_resumes_exactly(tmp_path):
    data = build_face_shards(tmp_path / "ds", resolution=32)
    save_identity_net(IdentityNet(IdentityNetConfig(resolution=32)), tmp_path / "id.safetensors")
    values = tiny_config(data)
    values["loss"].update(identity_weight=1.0, identity_margin=5.0, identity_model="id.safetensors")
    config_path = tmp_path / "train.yaml"
    import yaml

    config_path.write_text(yaml.safe_dump(values))
    from anonymizer.training import load_config

    config = load_config(config_path)
    assert config.loss.identity_model == str(tmp_path / "id.safetensors")  # relative to the config file
    train(config, tmp_path / "full")
    records = [json.loads(line) for line in (tmp_path / "full" / "log.jsonl").read_text().splitlines()]
    assert all(r["g_identity"] > 0 and r["g_identity_distance"] > 0 for r in records)
    train(load_config(config_path), tmp_path / "split", stop_at=3)
    train(None, tmp_path / "split", resume=True)
    a, _ = read_checkpoint(latest_checkpoint(tmp_path / "full"))
    b, _ = read_checkpoint(latest_checkpoint(tmp_path / "split"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_identity_loss_config_errors(tmp_path):
    data = build_face_shards(tmp_path / "ds", resolution=32)
    values = tiny_config(data)
    values["loss"].update(identity_weight=1.0)
    with pytest.raises(ConfigError, match="identity_model"):
        config_from_dict(values)
    values["loss"]["identity_model"] = str(tmp_path / "missing.safetensors")
    with pytest.raises(TrainError, match="not found"):
        train(config_from_dict(values), tmp_path / "run")
    save_identity_net(IdentityNet(IdentityNetConfig(resolution=64)), tmp_path / "id64.safetensors")
    values["loss"]["identity_model"] = str(tmp_path / "id64.safetensors")
    with pytest.raises(TrainError, match="64 px"):
        train(config_from_dict(values), tmp_path / "run2")
    with pytest.raises(ValueError):
        LossConfig(identity_weight=-1)


def test_lowpass_l1_sees_skin_tone_not_detail():
    from anonymizer.generator.conditioning import box_mask
    from anonymizer.generator.losses import lowpass_l1

    g = torch.Generator().manual_seed(0)
    real = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    mask = box_mask(torch.tensor([[16.0, 16, 48, 48]] * 2), 64)
    hole = 1 - mask
    assert lowpass_l1(real, real, mask, 8).item() == 0.0
    # Fine detail that averages out within 8x8 cells (a checkerboard) costs almost nothing ...
    checker = ((torch.arange(64)[:, None] + torch.arange(64)[None]) % 2 * 2 - 1).float() * 0.5
    detailed = real + checker * hole
    assert lowpass_l1(detailed, real, mask, 8).item() < 0.01
    # ... a darker face in the hole costs its shift; outside the hole nothing counts.
    darker = real - 0.3 * hole
    assert lowpass_l1(darker, real, mask, 8).item() == pytest.approx(0.3, rel=0.05)
    assert lowpass_l1(real - 0.3 * mask, real, mask, 8).item() < 1e-6  # cells align with this hole
    with pytest.raises(ValueError):
        LossConfig(lowpass_size=0)


def test_a_distilled_network_must_match_the_generators_resolution(distilled):
    from anonymizer.generator.identity import IdentityModelError, load_identity_model

    path = str(distilled["out"] / "identity.safetensors")
    assert load_identity_model(path, resolution=64).config.resolution == 64
    with pytest.raises(IdentityModelError, match="is for 64 px crops, the generator makes 32 px"):
        load_identity_model(path, resolution=32)
