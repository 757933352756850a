"""The one config loader: files parsed within fixed bounds, layered on a base, overridden by
flags, checked against the dataclasses they fill, and built into validated configs.

Every config kind (build, select, annotate, download, anonymize, train) goes the same way::

    values = read_config(path)                        # the file, its ``base:`` chain applied
    values = with_overrides(values, {"seed": 3})      # CLI flags, as dotted keys
    config = build_config(BuildConfig, values, "build config")

:func:`read_config` follows ``base: other.yaml`` (relative to the file): a config lists only what
differs from its base; mappings merge key by key, anything else is replaced.
:func:`build_config` checks every value's type first (:func:`check_fields`), builds nested
config dataclasses from their sub-mappings, and lets each class validate itself in its
``__post_init__``; every error names the full key. A built config is not changed afterwards:
overrides go into the mapping, before validation (:func:`dataclasses.replace` makes variants).

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

import copy
import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path

import yaml

from .errors import ConfigError, FdfError

MAX_CONFIG_BYTES = 1 << 20  # the example configs are about 2 KB
MAX_EXPANDED_NODES = 100_000
BASE_KEY = "base"
MAX_BASE_DEPTH = 8  # base files a config may stack

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


def read_config(path: str | Path, what: str = "config") -> dict:
    """The mapping in a config file with its ``base:`` chain applied (see the module docstring)."""
    return _read_layered(Path(path), what, ())


def _read_layered(path: Path, what: str, chain: tuple[Path, ...]) -> dict:
    values = read_config_file(path, what)
    base = values.pop(BASE_KEY, None)
    if base is None:
        return values
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: {BASE_KEY} must name a config file (relative to this one), got {_shown(base)}")
    here = path.resolve()
    base_path = (path.parent / base).resolve()
    if base_path in (*chain, here):
        loop = " -> ".join(p.name for p in (*chain, here, base_path))
        raise ConfigError(f"{path}: base configs form a loop ({loop})")
    if len(chain) + 1 >= MAX_BASE_DEPTH:
        raise ConfigError(f"{path}: more than {MAX_BASE_DEPTH} base configs stacked")
    return merged(_read_layered(base_path, what, (*chain, here)), values)


def merged(base: Mapping, over: Mapping) -> dict:
    """``base`` with ``over`` laid on it: mappings merge key by key, any other value is replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


class _Null:
    """:data:`NULL`: an override that sets a key to None (a plain None means "flag not given")."""

    def __repr__(self) -> str:
        return "NULL"


NULL = _Null()


def with_overrides(values: Mapping, overrides: Mapping[str, typing.Any]) -> dict:
    """A copy of ``values`` with each dotted key set (``{"select.gates.min_face_px": 32}``);
    keys whose value is None are left alone (a flag that was not given); :data:`NULL` sets None."""
    out = copy.deepcopy(dict(values))
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, last = dotted.split(".")
        node = out
        for i, key in enumerate(parents):
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            elif not isinstance(child, dict):
                raise ConfigError(f"{'.'.join(parents[: i + 1])} must be a mapping of settings, got {_shown(child)}")
            node = child
        node[last] = None if value is NULL else copy.deepcopy(value)
    return out


def build_config(cls, values, name: str):
    """A validated ``cls`` (a config dataclass) from a parsed mapping.

    Types are checked before anything is built, nested config dataclasses are built from their
    sub-mappings (lists become tuples where the field is a tuple), and each class validates
    itself in ``__post_init__``. Errors are :class:`ConfigError` naming the full key."""
    check_fields(cls, values, name)
    return _build(cls, values or {}, name)


def _build(cls, values: dict, name: str):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        hint = hints[key]
        inner = _config_class(hint)
        if inner is not None and isinstance(value, dict):
            kwargs[key] = _build(inner, value, _key(name, key))
        elif isinstance(value, list) and (typing.get_origin(hint) is tuple or hint is tuple):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    try:
        return cls(**kwargs)
    except (FdfError, ValueError, TypeError) as exc:  # each class's own checks (ConfigError and kin)
        raise ConfigError(_named(name, exc)) from None


def _config_class(hint):
    """The dataclass a field holds (also inside ``X | None``), else None."""
    if dataclasses.is_dataclass(hint):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _key(name: str, key: str) -> str:
    """The full key of ``key`` inside section ``name`` (a whole file's name, e.g. "build config",
    is not part of it)."""
    return key if " " in name else f"{name}.{key}"


def _named(name: str, exc: Exception) -> str:
    text = str(exc).strip("'\"")
    return text if " " in name or text.startswith(name) else f"{name}: {text}"


def config_dict(config) -> dict:
    """A config as plain values (tuples as lists), for ``--print-config`` and run folders."""
    return _plain(dataclasses.asdict(config))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def config_yaml(values: Mapping) -> str:
    """YAML text of a resolved config mapping, keys in field order."""
    return yaml.safe_dump(_plain(dict(values)), sort_keys=False, allow_unicode=True)


def _load_yaml(text: str):
    """Safe YAML whose composed document, with every alias expanded, has at most MAX_EXPANDED_NODES nodes."""
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
        check_value(hints[key], value, _key(name, key))


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


_NAMES = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a string",
    type(None): "null",
    dict: "a mapping",
    list: "a list",
    tuple: "a list",
}


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
