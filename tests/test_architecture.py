"""The layers of ARCHITECTURE.md and the code's habits, checked on every run of the suite:
import-linter's contracts (pyproject.toml), `ruff check` and `ruff format --check`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = BIN / name if (BIN / name).exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: it is in the test extras (pip install -e '.[test]')")
    return str(found)


def _run(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_contracts_hold():
    res = _run(_tool("lint-imports"), "--no-cache")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "0 broken" in res.stdout


def test_ruff_check_passes():
    res = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_ruff_format_check_passes():
    res = _run(_tool("ruff"), "format", "--check", "--no-cache", ".")
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


def test_the_contracts_catch_a_layer_violation(tmp_path):
    """The layers contract is not vacuous: a copy of the tree where fdf imports anonymizer fails."""
    copy = tmp_path / "tree"
    for name in ("fdf", "anonymizer", "pipelines"):
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__", "weights", "models", "data")
        )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    (copy / "fdf" / "boxes.py").write_text((ROOT / "fdf" / "boxes.py").read_text() + "\nimport anonymizer.media\n")
    res = subprocess.run(
        [_tool("lint-imports"), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(copy), "PATH": str(BIN)},
    )
    assert res.returncode != 0 and "fdf.boxes -> anonymizer.media" in res.stdout, res.stdout[-3000:]
