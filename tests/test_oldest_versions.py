"""The claims in pyproject.toml hold: the fast part of the suite passes in a second venv with the
oldest Python and the oldest versions of the dependencies that pyproject declares.

The venv is built once under ``.venv-oldest/`` (git-ignored; about 3 minutes and 300 MB the first
time) and rebuilt when the pins change. Every ``name>=X`` in ``[project].dependencies`` is
installed as ``name==X`` (markers kept), except torch: PyPI's torch wheels are the CUDA builds
(gigabytes; the CPU build lives on PyTorch's own index) and nothing in the fast part imports it.
Python is the oldest that ``requires-python`` allows when it is installed (python3.10 on PATH or
under pyenv), else this interpreter. ``FDF_OFFLINE=1`` skips the test; so does a package index
that cannot be reached.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-oldest"
#: Not installed at its oldest version (see the module doc).
LEFT_OUT = {"torch"}
#: The fast part: every stage's reading, limits and refusals, on real files, sockets and subprocesses.
FAST_TESTS = [
    "tests/test_ratelimit.py",
    "tests/test_config_hostile.py",
    "tests/test_credits_injection.py",
    "tests/test_download_validate.py",
    "tests/test_download_hostile.py",
    "tests/test_download_run.py",
    "tests/test_flickr_hostile.py",
    "tests/test_sources_folder.py",
    "tests/test_takedown.py",
    "tests/test_select.py",
    "tests/test_video_truncated.py",
    "tests/test_cli_conventions.py",
]
_NETWORK_TROUBLE = (
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Max retries exceeded",
    "Connection refused",
    "NewConnectionError",
    "ConnectTimeout",
    "No route to host",
)


def oldest_pins() -> tuple[str, list[str]]:
    """(oldest Python version, pip requirement pins) from pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    python = re.fullmatch(r">=\s*(\d+\.\d+)", project["requires-python"].strip()).group(1)
    pins = []
    for dep in project["dependencies"]:
        spec, _, marker = dep.partition(";")
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(?:>=\s*([0-9][^,\s]*))?\s*", spec)
        assert m, f"cannot read the dependency {dep!r}"
        name, extras, low = m.group(1), m.group(2) or "", m.group(3)
        if name.lower() in LEFT_OUT:
            continue
        pin = f"{name}{extras}=={low}" if low else f"{name}{extras}"
        pins.append(f"{pin}; {marker.strip()}" if marker.strip() else pin)
    return python, pins


def find_python(version: str) -> str:
    """An interpreter of ``version`` (e.g. "3.10") that runs, or this one when none is installed."""
    candidates = [
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python"))),
        shutil.which(f"python{version}"),
    ]
    for exe in filter(None, candidates):
        res = subprocess.run(
            [exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60
        )
        if res.returncode == 0 and res.stdout.strip() == version:  # a pyenv shim may not run
            return exe
    return sys.executable


def _build_venv(python: str, pins: list[str]) -> Path:
    stamp_text = "\n".join([python, *pins, "pytest", "markdown-it-py"]) + "\n"
    stamp = VENV / "fdf-pins.txt"
    exe = VENV / "bin" / "python"
    if exe.exists() and stamp.exists() and stamp.read_text() == stamp_text:
        return exe
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([python, "-m", "venv", str(VENV)], check=True, timeout=300)
    res = subprocess.run(
        [str(exe), "-m", "pip", "install", "-q", *pins, "pytest", "markdown-it-py"],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if res.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        if any(sign in res.stdout + res.stderr for sign in _NETWORK_TROUBLE):
            pytest.skip("the package index cannot be reached: " + res.stderr.strip().splitlines()[-1])
        pytest.fail(f"the oldest declared versions do not install together:\n{res.stderr[-4000:]}")
    stamp.write_text(stamp_text)  # written last: a killed build is rebuilt
    return exe


def test_pins_are_read_from_pyproject():
    python, pins = oldest_pins()
    assert python == "3.10"
    assert "numpy==1.24" in pins and "pandas==2.0" in pins and "pyarrow==14" in pins
    assert "tomli==2.0.1; python_version < '3.11'" in pins
    assert not any(p.startswith("torch") for p in pins)


@pytest.mark.slow
@pytest.mark.oldest_versions
@pytest.mark.skipif(os.environ.get("FDF_OFFLINE") == "1", reason="FDF_OFFLINE=1: no package index")
@pytest.mark.skipif(os.environ.get("FDF_OLDEST_INNER") == "1", reason="already inside the oldest venv")
def test_fast_suite_passes_with_the_oldest_declared_versions():
    from filelock import FileLock

    version, pins = oldest_pins()
    python = find_python(version)
    lock = Path(tempfile.gettempdir()) / f"fdf-venv-oldest-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:16]}.lock"
    with FileLock(str(lock)):
        exe = _build_venv(python, pins)
    used = subprocess.run(
        [
            str(exe),
            "-c",
            "import sys, numpy, pandas, pyarrow; print(sys.version.split()[0], "
            "numpy.__version__, pandas.__version__, pyarrow.__version__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    env = dict(os.environ, PYTHONPATH=str(ROOT), FDF_OLDEST_INNER="1")
    res = subprocess.run(
        [str(exe), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *FAST_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert res.returncode == 0, f"under Python/numpy/pandas/pyarrow {used}:\n{res.stdout[-6000:]}\n{res.stderr[-2000:]}"
    if python != sys.executable:
        assert used[0].startswith(version + "."), used
    assert used[1:4] == ["1.24.0", "2.0.0", "14.0.0"], used
