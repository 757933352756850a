"""The top layer: orchestration of the dataset stages, and the ``fdf`` command.

* :mod:`.config` — build config dataclasses, loaded from YAML or TOML;
* :mod:`.backends` — where joblib runs the stages: local loky processes or a Dask cluster;
* :mod:`.build` — the orchestration (source → manifest → download → annotate → select → report);
* :mod:`.summary` — per-stage counts, failures by reason and times;
* :mod:`.demo` — the offline demo build against the loopback Flickr server;
* :mod:`.cli` — the ``fdf`` command, a thin layer over the Python API of all three packages.

See ARCHITECTURE.md for the layers.
"""

from __future__ import annotations

from fdf.lazy import lazy_getattr

# Exported names resolve on first use (PEP 562): `fdf --help` imports pipelines.cli, and an eager
# `from .build import run_build` here would load pandas and every stage first (~0.6 s).
_EXPORTS = {
    "run_build": ".build",
    "BuildConfig": ".config",
    "SourceConfig": ".config",
    "build_config_from_dict": ".config",
    "load_build_config": ".config",
    "BuildSummary": ".summary",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
