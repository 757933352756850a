"""Training configs: the shipped YAML files load; typos and wrong types are clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from anonymizer.training import load_config
from fdf.cli import main
from fdf.errors import ConfigError

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"


@pytest.mark.parametrize("name", ["train_mtfl64.yaml", "train_fdf128.yaml", "train_mtfl64_gpu.yaml", "train_mtfl64_identity.yaml"])
def test_shipped_configs_load(name):
    config = load_config(MANIFESTS / name)
    assert Path(config.data.path).is_absolute(), "data.path is resolved against the config's folder"
    assert config.network.resolution in (64, 128) and config.steps > 0


@pytest.mark.parametrize(
    "change, message",
    [
        ({"network": {"base_chanels": 8}}, "unknown key.*base_chanels"),
        ({"amp": "false"}, "amp must be true or false"),
        ({"steps": "many"}, "steps must be a number"),
        ({"loss": {"kind": "hinge"}}, "loss kind must be one of"),
        ({"network": {"resolution": 48}}, "resolution must be one of"),
        ({"device": "tpu"}, "device must be"),
    ],
)
def test_bad_configs_say_what_is_wrong(tmp_path, change, message):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(change))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "run")]) == 2
    assert "config file not found" in capsys.readouterr().err
    empty = tmp_path / "empty.yaml"
    empty.write_text("steps: 2\n")
    assert main(["train", str(empty), "--out", str(tmp_path / "run")]) == 2
    assert "data.path is empty" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "fresh"), "--resume"]) == 2
    assert "no config.yaml" in capsys.readouterr().err
