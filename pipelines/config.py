"""Build configs: one YAML or TOML file describes a whole `fdf build` (source to selected faces).

    source:   {kind: flickr, query: {license_ids: [4, 5], text: portrait}, flickr: {api_url: ...}}
              {kind: fdf_metainfo, path: fdf_metainfo.json, options: {yfcc_dump: yfcc100m_dataset}}
              {kind: url_list | folder | manifest, path: ...}
    download: DownloadConfig fields      annotate: AnnotateConfig fields
    select:   SelectConfig fields (gates: {...}, balance: {...})
    backend:  loky | dask   scheduler: tcp://host:port   seed: 0   report: true   until: report

Relative paths in ``source`` are relative to the config file. A file may be a few values on a
``base:`` config. Read by the project's one loader (:mod:`fdf.config_file`): unknown keys are
errors, so a typo never silently falls back to a default; every value's type is checked before
any work, with its full key in the message; files are parsed within fixed size and
alias-expansion bounds.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from fdf.annotate.stage import AnnotateConfig
from fdf.config_file import build_config, check_fields, read_config, with_overrides
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
        if self.select.seed != self.seed:  # the build's seed seeds selection: a new SelectConfig, the caller's is kept
            self.select = dataclasses.replace(self.select, seed=self.seed)

    def to_dict(self) -> dict:
        """Plain values (for `_build/config.json`), secrets left out."""
        d = dataclasses.asdict(self)
        d["source"]["flickr"] = {k: v for k, v in d["source"]["flickr"].items() if k not in ("api_key", "api_secret")}
        return json.loads(json.dumps(d, default=str))


def _check_query(values: dict) -> None:
    """Dates and licences take several spellings: SearchQuery itself parses and checks them."""
    # lazy: fdf.flickr loads in ~0.13 s (flickrapi, requests) and only reading a config needs it; the
    # spawned build children import this module through pipelines.build
    from fdf.flickr import FlickrConfig, SearchQuery

    source = values.get("source")
    if not isinstance(source, dict):
        return
    check_fields(FlickrConfig, source.get("flickr"), "source.flickr")
    if source.get("query"):
        try:
            SearchQuery(**source["query"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigError(f"source.query: {str(exc).strip(chr(39))}") from None


def _resolve_paths(values: dict, base_dir: Path) -> dict:
    """``source.path`` and ``source.options.yfcc_dump`` relative to the config file's folder."""
    source = values.get("source")
    overrides = {}
    if isinstance(source, dict):
        path = source.get("path")
        if isinstance(path, str) and path and not Path(path).is_absolute():
            overrides["source.path"] = str((base_dir / path).resolve())
        options = source.get("options")
        dump = options.get("yfcc_dump") if isinstance(options, dict) else None
        if isinstance(dump, str) and dump and not Path(dump).is_absolute():
            overrides["source.options.yfcc_dump"] = str((base_dir / dump).resolve())
    return with_overrides(values, overrides)


def build_config_from_dict(values: dict, base_dir: str | Path = ".", overrides: dict | None = None) -> BuildConfig:
    """Validate a parsed config mapping, with ``overrides`` (dotted keys: CLI flags) applied first;
    paths in ``source`` are resolved against ``base_dir``."""
    if not isinstance(values, dict):
        raise ConfigError("a build config must be a mapping (sections source, download, annotate, select)")
    values = with_overrides(values, overrides or {})
    if "source" not in values:
        raise ConfigError("a build config needs a 'source' section")
    check_fields(BuildConfig, values, "build config")
    _check_query(values)
    # The build's seed seeds selection: BuildConfig.__post_init__ gives the select section its seed.
    return build_config(BuildConfig, _resolve_paths(values, Path(base_dir)), "build config")


def load_build_config(path: str | Path, overrides: dict | None = None) -> BuildConfig:
    """Read a build config from a ``.yaml``/``.yml`` or ``.toml`` file (with its ``base:`` chain),
    with ``overrides`` (dotted keys) applied before validation."""
    path = Path(path)
    return build_config_from_dict(read_config(path, "build config"), base_dir=path.parent, overrides=overrides)
