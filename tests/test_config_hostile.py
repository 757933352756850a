"""Build and select configs with wrong types or hostile content (issue 17, items 23 and 24):
every value's type is checked before any work, with its full key, and parsing is bounded in
time and memory whatever the file holds."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import pytest
import yaml

from fdf.config_file import MAX_CONFIG_BYTES, read_config_file
from fdf.errors import ConfigError
from pipelines.config import load_build_config

BASE = """
source: {kind: folder, path: photos}
download: {jobs: 1}
annotate: {resolutions: [128], jobs: 1}
select: {identity_cap: 20, gates: {min_crop_px: 128}}
seed: 0
report: true
"""


def _config(tmp_path, text: str, name: str = "build.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ("select: {identity_cap: twenty}", "select.identity_cap must be an integer, got 'twenty'"),
        ("select: {gates: {min_crop_px: big}}", "select.gates.min_crop_px must be a number, got 'big'"),
        ("select: {balance: {yaw_edges: 5}}", "select.balance.yaw_edges must be a list of numbers, got 5"),
        ("annotate: {resolutions: 128}", "annotate.resolutions must be a list of integers, got 128"),
        ("annotate: {resolutions: [128, x]}", "annotate.resolutions must be a list of integers"),
        ("seed: abc", "seed must be an integer, got 'abc'"),
        ('report: "no"', "report must be true or false, got 'no'"),
        ("download: {jobs: '4'}", "download.jobs must be an integer, got '4'"),
        ("download: {total_timeout: [1]}", "download.total_timeout must be a number"),
        (
            "source: {kind: flickr, query: {text: x}, flickr: {calls_per_hour: fast}}",
            "source.flickr.calls_per_hour must be a number, got 'fast'",
        ),
        ("source: {kind: flickr, query: {text: x, per_page: lots}}", "source.query:"),
        ("source: {kind: flickr, query: {text: x, colour: red}}", "source.query:"),
        ("select: [1, 2]", "select must be a mapping of settings"),
        ("until: 3", "until must be a string, got 3"),
    ],
)
def test_wrong_types_are_refused_with_the_full_key(tmp_path, change, message):
    with pytest.raises(ConfigError) as err:
        load_build_config(_config(tmp_path, BASE + change + "\n"))
    assert message in str(err.value)


def test_the_same_checks_in_toml(tmp_path):
    text = 'seed = 0\n[source]\nkind = "folder"\npath = "p"\n[select]\nidentity_cap = "twenty"\n'
    with pytest.raises(ConfigError, match="select.identity_cap must be an integer, got 'twenty'"):
        load_build_config(_config(tmp_path, text, "build.toml"))


def test_cli_build_refuses_before_any_work(tmp_path):
    (tmp_path / "photos").mkdir()
    config = _config(tmp_path, BASE + "select: {identity_cap: twenty}\n")
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "fdf", "build", str(config), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2
    assert "select.identity_cap must be an integer" in res.stderr and "Traceback" not in res.stderr
    assert not out.exists()  # no stage ran


LAUGHS = (
    "\n".join(
        ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    )
    + "\n"
)


def _bounded(fn, seconds: float = 5.0, megabytes: int = 200):
    """Run ``fn``; assert it took under ``seconds`` and grew the peak RSS under ``megabytes``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    try:
        return fn()
    finally:
        assert time.monotonic() - t0 < seconds
        assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < megabytes


def test_a_billion_laughs_yaml_is_refused_quickly(tmp_path):
    path = _config(tmp_path, LAUGHS)
    assert len(path.read_bytes()) < 1000 and yaml.safe_load(LAUGHS)  # PyYAML alone accepts it
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        _bounded(lambda: read_config_file(path))
    res = subprocess.run(
        [sys.executable, "-m", "fdf", "build", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2 and "aliases expand" in res.stderr


def test_modest_aliases_are_still_allowed(tmp_path):
    text = BASE + "x_defaults: &gates {min_crop_px: 64}\n"
    path = _config(tmp_path, "base: &b {jobs: 1}\ndownload: *b\nannotate: {jobs: 1}\n")
    assert read_config_file(path)["download"] == {"jobs": 1}
    assert "x_defaults" in read_config_file(_config(tmp_path, text, "t.yaml"))


@pytest.mark.parametrize(
    "name, text",
    [
        ("big.yaml", "# " + "x" * (MAX_CONFIG_BYTES + 10) + "\n"),
        ("big.toml", "# " + "x" * (MAX_CONFIG_BYTES + 10) + "\n"),
        ("deep.yaml", "a: " + "[" * 50_000 + "]" * 50_000 + "\n"),
        ("deep.toml", "a = " + "[" * 50_000 + "]" * 50_000 + "\n"),
        ("recursive.yaml", "a: &a [1, *a]\n"),
        ("list.yaml", "- 1\n- 2\n"),
        ("binary.yaml", "\udcff"),
    ],
)
def test_hostile_files_are_clear_errors(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError):
        _bounded(lambda: read_config_file(path), seconds=20)
