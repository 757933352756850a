"""Training configs: the shipped YAML files load; typos and wrong types are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anonymizer.training import load_config
from fdf.errors import ConfigError
from pipelines.cli import main

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


TRAIN_CONFIGS = sorted(p.name for p in MANIFESTS.glob("train_*.yaml"))


def test_every_training_config_is_tested():
    assert {
        "train_mtfl64.yaml",
        "train_fdf128.yaml",
        "train_mtfl64_gpu.yaml",
        "train_mtfl64_identity.yaml",
        "train_faces128.yaml",
        "train_outline64.yaml",
    } <= set(TRAIN_CONFIGS)


@pytest.mark.parametrize("name", TRAIN_CONFIGS)
def test_shipped_configs_load(name):
    config = load_config(MANIFESTS / name)
    assert Path(config.data.path).is_absolute(), "data.path is resolved against the config's folder"
    assert config.network.resolution in (64, 128) and config.steps > 0


def test_the_128px_cpu_config():
    """The CPU campaign's config: bigger than the 1 M-parameter 64 px model, the bundled model's
    hole, no identity loss, and the speed options measured in benchmarks/bench_train_speed.py."""
    from anonymizer.generator.networks import Generator, count_parameters

    config = load_config(MANIFESTS / "train_faces128.yaml")
    bundled = load_config(MANIFESTS / "train_mtfl64.yaml")
    assert config.network.resolution == 128 and config.network.mask_dilation == bundled.network.mask_dilation
    outline = load_config(MANIFESTS / "train_outline64.yaml")
    assert config.network.hole == outline.network.hole == "outline"
    assert config.network.outline_grow == outline.network.outline_grow
    assert count_parameters(Generator(config.network)) > 2 * count_parameters(Generator(bundled.network))
    assert config.loss.kind == "nsgan-r1" and config.loss.identity_weight == 0 and 0 < config.loss.l1_weight <= 0.1
    assert config.data.cache_in_memory and config.data.path.endswith("faces128-shards")
    assert config.channels_last and not config.cpu_amp and config.threads == 1
    assert 0 < config.checkpoint_every_seconds <= 600


@pytest.mark.parametrize(
    "change, message",
    [
        ({"network": {"base_chanels": 8}}, "unknown network keys: base_chanels"),
        ({"amp": "false"}, "amp must be true or false"),
        ({"channels_last": "yes"}, "channels_last must be true or false"),
        ({"compile": 1}, "compile must be true or false"),
        ({"threads": -1}, "threads and checkpoint_every_seconds must be >= 0"),
        ({"steps": "many"}, "steps must be an integer"),
        ({"loss": {"r1_gamma": "big"}}, "loss.r1_gamma must be a number"),
        ({"loss": {"kind": "hinge"}}, "loss kind must be one of"),
        ({"network": {"resolution": 48}}, "resolution must be one of"),
        ({"device": "tpu"}, "device must be"),
        ({"network": {"hole": "square"}}, "hole must be one of box, outline"),
        ({"augment": {"ellipse_probability": 2}}, "ellipse_probability must be between 0 and 1"),
        ({"data": {"source_resolution": 100}}, "source_resolution must be 0 or a whole multiple"),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path, change, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(change))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "training config not found" in capsys.readouterr().err
    empty = tmp_path / "empty.yaml"
    empty.write_text("steps: 2\n")
    assert main(["train", str(empty), "--out", str(tmp_path / "run")]) == 2
    assert "data.path is empty" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "fresh"), "--resume"]) == 2
    assert "no config.yaml" in capsys.readouterr().err
