"""``fdf config list`` and ``fdf config show NAME``: the example configs that ship with fdf; and
``--print-config``, shared by ``fdf build``, ``fdf train`` and ``fdf anonymize``.

In a source checkout they are the files of ``manifests/``; an installed wheel carries the same
files as the package ``fdf.examples`` (setup.py maps it onto ``manifests/``).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from fdf.config_file import config_yaml
from fdf.errors import FdfError

SUFFIXES = (".yaml", ".yml", ".toml")


def examples_dir():
    """The folder (a Traversable) holding the example configs."""
    try:
        return resources.files("fdf.examples")
    except ModuleNotFoundError:  # a source checkout that is not installed
        return Path(__file__).resolve().parents[2] / "manifests"


def example_configs() -> dict:
    """name -> Traversable of every example config, sorted by name."""
    found = {f.name: f for f in examples_dir().iterdir() if f.name.endswith(SUFFIXES) and not f.name.startswith(".")}
    return dict(sorted(found.items()))


def summary_line(text: str) -> str:
    """The first comment line of a config, without its '#'."""
    for line in text.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if line.strip():
            break
    return ""


def find_example(name: str):
    configs = example_configs()
    for candidate in (name, *(name + s for s in SUFFIXES)):
        if candidate in configs:
            return configs[candidate]
    raise FdfError(f"no example config {name!r}; `fdf config list` names them: {', '.join(configs)}")


def print_config(config) -> int:
    """``--print-config`` of build, train and anonymize: the resolved config (its ``to_dict()``,
    secrets left out) as YAML on stdout."""
    print(config_yaml(config.to_dict()), end="")
    return 0


def run_list(args) -> int:
    configs = {name: summary_line(f.read_text(encoding="utf-8")) for name, f in example_configs().items()}
    if args.json:
        print(json.dumps(configs, indent=2))
    else:
        width = max(map(len, configs), default=0)
        for name, line in configs.items():
            print(f"{name:<{width}}  {line}".rstrip())
    return 0


def run_show(args) -> int:
    print(find_example(args.name).read_text(encoding="utf-8"), end="")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "config",
        help="list and print the example configs that ship with fdf",
        description="The example build and training configs (manifests/ in the "
        "source tree, fdf.examples in an installed wheel). Copy one with "
        "`fdf config show NAME > my.yaml` and edit it.",
    )
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION")
    sub.required = True
    p = sub.add_parser(
        "list",
        help="name and first comment line of each example config",
        description="List the example configs: file name and the first line of its comment.",
    )
    p.add_argument("--json", action="store_true", help="print {name: summary} as JSON")
    p.set_defaults(func=run_list)
    p = sub.add_parser(
        "show", help="print one example config", description="Print an example config's text, comments included."
    )
    p.add_argument("name", help="config name as `fdf config list` shows it (the suffix may be left out)")
    p.set_defaults(func=run_show)
