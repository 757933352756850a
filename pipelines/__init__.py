"""`fdf build`: one dependable pipeline from a config file (or a search) to selected face shards.

* :mod:`.config` — build config dataclasses, loaded from YAML or TOML;
* :mod:`.backends` — where joblib runs the stages: local loky processes or a Dask cluster;
* :mod:`.build` — the orchestration (source → manifest → download → annotate → select → report);
* :mod:`.summary` — per-stage counts, failures by reason and times.
"""

from .build import run_build
from .config import BuildConfig, SourceConfig, build_config_from_dict, load_build_config
from .summary import BuildSummary

__all__ = ["BuildConfig", "BuildSummary", "SourceConfig", "build_config_from_dict", "load_build_config", "run_build"]
