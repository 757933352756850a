"""Config files: parsed within fixed bounds, and checked against the dataclasses they fill.

Parsing is bounded whatever the file holds: at most :data:`MAX_CONFIG_BYTES`, YAML aliases may
not expand the document past :data:`MAX_EXPANDED_NODES` nodes (a "billion laughs" file is a few
hundred bytes of anchors that expand to 10^9 nodes when walked), and nesting deeper than the
parser's stack is an error, not a crash.

:func:`check_fields` checks every value's type against the dataclass field it fills before any
work starts, and names the key in full (``select.identity_cap must be an integer, got 'twenty'``):
a string where a number belongs would otherwise run three stages and fail in numpy, and
``report: "no"`` would be true.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path

from .errors import ConfigError

MAX_CONFIG_BYTES = 1 << 20  # the example configs are about 2 KB
MAX_EXPANDED_NODES = 100_000

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package
    import tomli as tomllib


def read_config_file(path: str | Path, what: str = "config") -> dict:
    """The mapping in a ``.yaml``/``.yml`` or ``.toml`` file, parsed within the bounds above."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: a {what} ends in .yaml, .yml or .toml")
    with open(path, "rb") as fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: a {what} is at most {MAX_CONFIG_BYTES // 1024} KiB; this file is larger")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    try:
        values = tomllib.loads(text) if path.suffix == ".toml" else _load_yaml(text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a {what}") from None
    except Exception as exc:  # noqa: BLE001 - yaml.YAMLError, TOMLDecodeError
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise ConfigError(f"{path} is not valid {kind}: {exc}") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: a {what} must be a mapping of sections, got a {type(values).__name__}")
    return values


def _load_yaml(text: str):
    """Safe YAML whose composed document, with every alias expanded, has at most MAX_EXPANDED_NODES nodes."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {})
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded_size(node, memo: dict) -> int:
    """Nodes in ``node`` once aliases are expanded (each shared node is measured once: linear time)."""
    import yaml

    key = id(node)
    if key in memo:
        if memo[key] < 0:
            raise ConfigError("a YAML alias refers to a node that contains it (a recursive document)")
        return memo[key]
    memo[key] = -1
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(v, memo) for v in node.value)
    if size > MAX_EXPANDED_NODES:
        raise ConfigError(f"its aliases expand to more than {MAX_EXPANDED_NODES:,} values; refused")
    memo[key] = size
    return size


def check_fields(cls, values, name: str) -> None:
    """Raise ConfigError when ``values`` (a config section) does not fit dataclass ``cls``:
    a mapping, only known keys, each value of its field's type; nested dataclasses are checked
    in turn. ``name`` is the section's full key (e.g. ``select`` or ``select.gates``)."""
    if values is None:
        return
    if not isinstance(values, dict):
        raise ConfigError(f"{name} must be a mapping of settings, got {_shown(values)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {name} keys: {', '.join(map(str, unknown))} (known: {', '.join(sorted(fields))})")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        check_value(hints[key], value, f"{name}.{key}")


def check_value(hint, value, name: str) -> None:
    """Raise ConfigError unless ``value`` fits type ``hint`` (the subset of types configs use)."""
    if dataclasses.is_dataclass(hint):
        check_fields(hint, value, name)
        return
    if not _fits(hint, value):
        raise ConfigError(f"{name} must be {_describe(hint)}, got {_shown(value)}")


def _fits(hint, value) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(a, value) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        item = args[0] if args else typing.Any
        return all(_fits(item, v) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True  # a type configs do not use: left to the dataclass itself


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", type(None): "null",
          dict: "a mapping", list: "a list", tuple: "a list"}


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in (list, tuple):
        item = args[0] if args else None
        if item is None or item is typing.Any:
            return "a list"
        plural = {int: "integers", float: "numbers", str: "strings"}.get(item, _describe(item))
        return f"a list of {plural}"
    return _NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
