"""The command line's conventions (issue 17): `fdf --version`, a description for every subcommand
and help for every flag, example configs inside the wheel and printed by `fdf config`, and a CLI
that starts without fcntl (as on Windows): locks use filelock, imported where they are used."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipelines.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent


def _fdf(*args, pre: str = "", timeout=120):
    code = f"import sys\n{pre}\nfrom pipelines.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _commands(parser, path=("fdf",)):
    """(path, parser, help in the parent's list) of every subcommand, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from _commands(sub, (*path, name))


def test_every_subcommand_has_a_description_and_every_flag_help():
    missing = []
    for path, parser, listed_help in _commands(build_parser()):
        name = " ".join(path)
        if not listed_help:
            missing.append(f"{name}: no help in its parent's list")
        if not parser.description:
            missing.append(f"{name}: no description")
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
    assert not missing, "\n".join(missing)


def _pyproject_version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def test_version():
    res = _fdf("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"fdf {_pyproject_version()}"


def test_the_cli_starts_without_fcntl():
    block = "sys.modules['fcntl'] = None  # as on Windows: importing it fails"
    names = [list(path[1:]) for path, _, _ in _commands(build_parser())]
    every_help = f"""
import contextlib, io, sys
{block}
from pipelines.cli import build_parser
for words in [[]] + {names!r}:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args(words + ["--help"])
    assert out.getvalue().startswith("usage: fdf"), words
print("ok")
"""
    res = subprocess.run([sys.executable, "-c", every_help], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
    res = _fdf("config", "list", pre=block)
    assert res.returncode == 0 and "fdf_like_flickr.yaml" in res.stdout
    # and none of our modules imports it (the standard library's subprocess does, on POSIX only)
    users = [
        str(p.relative_to(ROOT))
        for d in ("fdf", "anonymizer", "pipelines")
        for p in (ROOT / d).rglob("*.py")
        if re.search(r"^\s*(import fcntl|from fcntl import)", p.read_text(encoding="utf-8"), re.M)
    ]
    assert users == []


def test_config_list_and_show_print_the_example_configs():
    shipped = sorted(p.name for p in (ROOT / "manifests").iterdir() if p.suffix in (".yaml", ".yml", ".toml"))
    res = _fdf("config", "list")
    assert res.returncode == 0
    assert [line.split()[0] for line in res.stdout.splitlines()] == shipped
    assert "An FDF-like build from Flickr" in res.stdout
    for name, file in (("fdf_like_flickr", "fdf_like_flickr.yaml"), ("fdf_rebuild.toml", "fdf_rebuild.toml")):
        res = _fdf("config", "show", name)
        assert res.returncode == 0 and res.stdout == (ROOT / "manifests" / file).read_text()
    res = _fdf("config", "show", "nope")
    assert res.returncode == 2 and "fdf config list" in res.stderr


@pytest.mark.slow
def test_the_wheel_carries_the_example_configs(tmp_path):
    from importlib.metadata import version

    if int(version("setuptools").split(".")[0]) < 77:
        pytest.skip("building needs setuptools>=77 (pyproject's build-system.requires) in this environment")
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PIP_NO_INDEX="1"),
    )
    assert res.returncode == 0, res.stderr[-3000:]
    wheel = next(tmp_path.glob("fdf_toolkit-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        tracked = subprocess.run(
            ["git", "ls-files", "manifests"], cwd=ROOT, capture_output=True, text=True
        ).stdout.split()
        for path in tracked:
            if path.endswith((".yaml", ".toml")):
                inside = "fdf/examples/" + Path(path).name
                assert inside in names, inside
                assert zf.read(inside) == (ROOT / path).read_bytes()
