"""The one config loader (fdf.config_file): base chains, overrides, typed building with full
keys in errors, and --print-config, on real files and the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from anonymizer.settings import load_anonymize_settings
from anonymizer.training.config import load_config
from fdf.config_file import NULL, build_config, read_config, with_overrides
from fdf.errors import ConfigError
from fdf.select import SelectConfig
from pipelines.config import load_build_config

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "manifests"


def run_fdf(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "fdf", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_a_config_lists_only_what_differs_from_its_base(tmp_path):
    (tmp_path / "base.yaml").write_text("network: {resolution: 64, base_channels: 16}\nsteps: 100\nseed: 1\n")
    (tmp_path / "mid.yaml").write_text("base: base.yaml\nnetwork: {resolution: 128}\nsteps: 200\n")
    (tmp_path / "top.toml").write_text('base = "mid.yaml"\nseed = 7\n[loss]\nl1_weight = 0.5\n')
    values = read_config(tmp_path / "top.toml")
    assert values == {
        "network": {"resolution": 128, "base_channels": 16},
        "steps": 200,
        "seed": 7,
        "loss": {"l1_weight": 0.5},
    }
    config = load_config(tmp_path / "top.toml")
    assert (config.network.resolution, config.network.base_channels, config.steps, config.seed) == (128, 16, 200, 7)
    assert config.loss.l1_weight == 0.5


def test_base_loops_and_missing_bases_are_named(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"loop \(a.yaml -> b.yaml -> a.yaml\)"):
        read_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="not found.*nowhere.yaml"):
        read_config(tmp_path / "c.yaml")
    (tmp_path / "d.yaml").write_text("base: [1, 2]\n")
    with pytest.raises(ConfigError, match="base must name a config file"):
        read_config(tmp_path / "d.yaml")


def test_the_shipped_train_manifests_are_deltas_on_a_base():
    for name in (
        "train_mtfl64_gpu.yaml",
        "train_mtfl64_identity.yaml",
        "train_faces128.yaml",
        "train_faces128_gpu.yaml",
        "train_fdf128.yaml",
    ):
        text = yaml.safe_load((MANIFESTS / name).read_text())
        assert "base" in text and len(text) < 20, name
    gpu, cpu = load_config(MANIFESTS / "train_faces128_gpu.yaml"), load_config(MANIFESTS / "train_faces128.yaml")
    assert gpu.network == cpu.network  # a GPU burst continues the CPU campaign's checkpoints
    assert (gpu.data.batch_size, cpu.data.batch_size) == (64, 16)


def test_overrides_apply_before_validation_and_do_not_touch_the_input():
    values = {"select": {"seed": 1}}
    out = with_overrides(values, {"select.gates.min_face_px": 32, "select.seed": None, "x": NULL})
    assert out == {"select": {"seed": 1, "gates": {"min_face_px": 32}}, "x": None}
    assert values == {"select": {"seed": 1}}
    with pytest.raises(ConfigError, match="select must be a mapping"):
        with_overrides({"select": 3}, {"select.seed": 1})


@pytest.mark.parametrize(
    "values, message",
    [
        ({"gates": {"min_face_px": "big"}}, r"select\.gates\.min_face_px must be a number"),
        ({"gates": {"min_fcae_px": 3}}, r"unknown select\.gates keys: min_fcae_px"),
        ({"identity_cap": -1}, r"identity_cap and owner_cap >= 0"),
        ({"balance": []}, r"select\.balance must be a mapping"),
    ],
)
def test_errors_name_the_full_key(values, message):
    with pytest.raises(ConfigError, match=message):
        build_config(SelectConfig, values, "select")


def test_a_built_config_is_a_new_object_each_time_and_the_build_seed_seeds_selection(tmp_path):
    path = tmp_path / "b.yaml"
    path.write_text("source: {kind: folder, path: photos}\nseed: 5\nselect: {seed: 1}\n")
    config = load_build_config(path, {"download.jobs": 3})
    assert config.select.seed == 5 and config.download.jobs == 3
    assert config.source.path == str((tmp_path / "photos").resolve())
    again = load_build_config(path, {"seed": 9})
    assert again.select.seed == 9 and config.select.seed == 5


def test_anonymize_settings_from_a_file_with_flags_on_top(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("anonymize: {mode: blur, detect: {threshold: 0.4}}\nvideo: {crf: 23, tracker: {hold_frames: 4}}\n")
    settings = load_anonymize_settings(path, {"anonymize.seed": 3, "anonymize.detect.max_side": NULL})
    assert settings.anonymize.mode == "blur" and settings.anonymize.seed == 3
    assert settings.anonymize.detect.threshold == 0.4 and settings.anonymize.detect.max_side is None
    assert settings.video.crf == 23 and settings.video.tracker.hold_frames == 4
    with pytest.raises(ConfigError, match=r"video: crf must be between 0 and 63"):
        load_anonymize_settings(path, {"video.crf": 99})


def test_print_config_shows_the_resolved_config(tmp_path):
    res = run_fdf("train", MANIFESTS / "train_faces128_gpu.yaml", "--print-config", "--steps", "12")
    assert res.returncode == 0, res.stderr
    printed = yaml.safe_load(res.stdout)
    assert printed["steps"] == 12 and printed["network"]["resolution"] == 128 and printed["data"]["batch_size"] == 64
    assert printed == json.loads(
        json.dumps(load_config(MANIFESTS / "train_faces128_gpu.yaml", {"steps": 12}).to_dict())
    )

    build = tmp_path / "build.yaml"
    build.write_text(
        f"base: {MANIFESTS / 'fdf_like_flickr.yaml'}\nsource: {{flickr: {{api_key: k-secret, api_secret: s-secret}}}}\n"
    )
    res = run_fdf("build", build, "--print-config", "--seed", "4", "--jobs", "1")
    assert res.returncode == 0, res.stderr
    printed = yaml.safe_load(res.stdout)
    assert printed["seed"] == 4 and printed["select"]["seed"] == 4 and printed["download"]["jobs"] == 1
    assert printed["source"]["query"] == load_build_config(MANIFESTS / "fdf_like_flickr.yaml").source.query
    assert "k-secret" not in res.stdout and "s-secret" not in res.stdout

    config = tmp_path / "anon.yaml"
    config.write_text("anonymize: {mode: pixelate}\nvideo: {detect_every: 3}\n")
    res = run_fdf(
        "anonymize", "--config", config, "--seed", "2", "--max-side", "0", "--fallback-mask", "box", "--print-config"
    )
    assert res.returncode == 0, res.stderr
    printed = yaml.safe_load(res.stdout)
    assert printed["anonymize"]["mode"] == "pixelate" and printed["anonymize"]["seed"] == 2
    assert printed["anonymize"]["fallback_mask"] == "box"
    assert printed["anonymize"]["detect"]["max_side"] is None and printed["video"]["detect_every"] == 3

    bad = run_fdf("anonymize", "--config", config, "--crf", "99", "--print-config")
    assert bad.returncode == 2 and "crf must be between 0 and 63" in bad.stderr


def test_the_example_anonymize_config_states_the_defaults():
    assert load_anonymize_settings(MANIFESTS / "anonymize_video.yaml") == load_anonymize_settings()
