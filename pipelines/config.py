"""Build configs: one YAML or TOML file describes a whole `fdf build` (source to selected faces).

    source:   {kind: flickr, query: {license_ids: [4, 5], text: portrait}, flickr: {api_url: ...}}
              {kind: fdf_metainfo, path: fdf_metainfo.json, options: {yfcc_dump: yfcc100m_dataset}}
              {kind: url_list | folder | manifest, path: ...}
    download: DownloadConfig fields      annotate: AnnotateConfig fields
    select:   SelectConfig fields (gates: {...}, balance: {...})
    backend:  loky | dask   scheduler: tcp://host:port   seed: 0   report: true   until: report

Relative paths in ``source`` are relative to the config file. Unknown keys are errors, so a
typo never silently falls back to a default, and every value's type is checked before any work,
with its full key in the message (:func:`fdf.config_file.check_fields`). Files are parsed within
fixed size and alias-expansion bounds (:func:`fdf.config_file.read_config_file`).
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

from fdf.annotate.stage import AnnotateConfig, AnnotateError
from fdf.config_file import check_fields, check_value, read_config_file
from fdf.download import DownloadConfig
from fdf.errors import ConfigError
from fdf.select import SelectConfig

SOURCE_KINDS = ("flickr", "fdf_metainfo", "url_list", "folder", "manifest")
BACKENDS = ("loky", "dask")
STAGES = ("source", "download", "annotate", "select", "report")


@dataclass
class SourceConfig:
    """Where photos come from. ``query``: SearchQuery fields; ``flickr``: FlickrConfig fields."""

    kind: str = "flickr"
    path: str | None = None
    query: dict = field(default_factory=dict)
    flickr: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ConfigError(f"source kind must be one of {', '.join(SOURCE_KINDS)}, got {self.kind!r}")
        if self.kind != "flickr" and not self.path:
            raise ConfigError(f"source kind {self.kind!r} needs a path")
        if self.kind == "flickr" and not self.query:
            raise ConfigError("a flickr source needs a query (e.g. license_ids, text, min_upload_date)")


@dataclass
class BuildConfig:
    """Everything one `fdf build` needs; ``seed`` also seeds selection."""

    source: SourceConfig
    download: DownloadConfig = field(default_factory=lambda: DownloadConfig(jobs=2, threads=8))
    annotate: AnnotateConfig = field(default_factory=lambda: AnnotateConfig(jobs=2))
    select: SelectConfig = field(default_factory=SelectConfig)
    backend: str = "loky"
    scheduler: str | None = None
    seed: int = 0
    report: bool = True
    until: str = "report"  # last stage to run (e.g. "download" to fetch photos only)

    def __post_init__(self) -> None:
        if self.until not in STAGES:
            raise ConfigError(f"until must be one of {', '.join(STAGES)}, got {self.until!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "dask" and not self.scheduler:
            raise ConfigError("the dask backend needs a scheduler address (e.g. tcp://127.0.0.1:8786)")
        self.select.seed = self.seed

    def to_dict(self) -> dict:
        """Plain values (for `_build/config.json`), secrets left out."""
        d = dataclasses.asdict(self)
        d["source"]["flickr"] = {k: v for k, v in d["source"]["flickr"].items() if k not in ("api_key", "api_secret")}
        return json.loads(json.dumps(d, default=str))


def _section(cls, values, name):
    try:
        obj = cls(**(values or {}))
    except TypeError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if isinstance(obj, AnnotateConfig):
        obj.resolutions = tuple(int(r) for r in obj.resolutions)
        try:
            obj.validate()
        except AnnotateError as exc:
            raise ConfigError(f"annotate: {exc}") from None
    return obj


def _check_types(values: dict) -> None:
    """Every value of a parsed build config against the field it fills (before any work)."""
    from fdf.flickr import FlickrConfig, SearchQuery

    hints = typing.get_type_hints(BuildConfig)
    for key in ("backend", "scheduler", "seed", "report", "until"):
        if key in values:
            check_value(hints[key], values[key], key)
    for key, cls in (("source", SourceConfig), ("download", DownloadConfig), ("annotate", AnnotateConfig),
                     ("select", SelectConfig)):
        check_fields(cls, values.get(key), key)
    source = values["source"]
    check_fields(FlickrConfig, source.get("flickr"), "source.flickr")
    if source.get("query"):
        try:  # dates and licences take several spellings: SearchQuery itself parses and checks them
            SearchQuery(**source["query"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"source.query: {str(exc).strip(chr(39))}") from None


def build_config_from_dict(values: dict, base_dir: str | Path = ".") -> BuildConfig:
    """Validate a parsed config mapping; paths in ``source`` are resolved against ``base_dir``."""
    if not isinstance(values, dict):
        raise ConfigError("a build config must be a mapping (sections source, download, annotate, select)")
    values = dict(values)
    known = {f.name for f in dataclasses.fields(BuildConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown build config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "source" not in values:
        raise ConfigError("a build config needs a 'source' section")
    _check_types(values)
    source = _section(SourceConfig, values.pop("source"), "source")
    if source.path and not Path(source.path).is_absolute():
        source.path = str((Path(base_dir) / source.path).resolve())
    dump = source.options.get("yfcc_dump")
    if dump and not Path(dump).is_absolute():
        source.options["yfcc_dump"] = str((Path(base_dir) / dump).resolve())
    download = _section(DownloadConfig, values.pop("download", None), "download") if "download" in values else None
    annotate = _section(AnnotateConfig, values.pop("annotate", None), "annotate") if "annotate" in values else None
    select = SelectConfig.from_dict(values.pop("select", None))
    kwargs = {k: v for k, v in (("download", download), ("annotate", annotate)) if v is not None}
    try:
        return BuildConfig(source=source, select=select, **kwargs, **values)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def load_build_config(path: str | Path) -> BuildConfig:
    """Read a build config from a ``.yaml``/``.yml`` or ``.toml`` file."""
    path = Path(path)
    return build_config_from_dict(read_config_file(path, "build config"), base_dir=path.parent)
