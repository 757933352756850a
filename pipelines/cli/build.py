"""`fdf build`, `fdf select`, `fdf report`: the whole pipeline, and its last two stages alone."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fdf.errors import ConfigError

from .search import add_flickr_args, add_query_args, flickr_overrides, query_from_args

QUERY_FLAGS = ("text", "tags", "license", "min_upload_date", "max_upload_date", "user_id")


def _progress(args) -> bool:
    return not getattr(args, "json", False) and sys.stderr.isatty()


def build_overrides(args: argparse.Namespace) -> dict:
    """The build flags as dotted config keys (None: not given)."""
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError("--jobs must be at least 1")
    return {
        "backend": args.backend,
        "scheduler": args.scheduler,
        "download.jobs": args.jobs,
        "annotate.jobs": args.jobs,
        "seed": args.seed,
        "report": False if args.no_report else None,
        "until": args.until,
    }


def config_from_args(args: argparse.Namespace):
    """A BuildConfig from CONFIG, or from the search flags when no CONFIG is given; the other
    flags are overrides, applied before the config is validated."""
    from dataclasses import asdict

    from fdf.config_file import read_config
    from pipelines.config import build_config_from_dict

    has_query = any(getattr(args, f) for f in QUERY_FLAGS)
    overrides = build_overrides(args)
    for key, value in flickr_overrides(args).items():
        overrides[f"source.flickr.{key}"] = value
    if args.config:
        if has_query:
            raise ConfigError("give a CONFIG file or search flags (--license, --text, ...), not both")
        path = Path(args.config)
        return build_config_from_dict(read_config(path, "build config"), base_dir=path.parent, overrides=overrides)
    if has_query:
        values = {"source": {"kind": "flickr", "query": asdict(query_from_args(args))}}
        return build_config_from_dict(values, overrides=overrides)
    raise ConfigError("give a CONFIG file (see manifests/*.yaml) or search flags such as --license 4,5")


def run_build_cmd(args) -> int:
    from pipelines import run_build

    config = config_from_args(args)
    if args.print_config:
        from .config import print_config

        return print_config(config)
    if not args.out:
        raise ConfigError("--out is required (the build folder)")
    summary = run_build(config, args.out, progress=_progress(args))
    if args.json:
        print(json.dumps(summary.to_dict(), default=str))
    else:
        print(summary.format_text())
    return 0


def select_config_from_args(args: argparse.Namespace):
    """The SelectConfig of ``--config`` (a build config's select section, seeded by its seed) with
    the select flags applied as overrides."""
    from fdf.config_file import read_config, with_overrides
    from fdf.select import SelectConfig

    values = {}
    if args.config:
        build = read_config(args.config, "build config")
        values = build.get("select") or {}
        if not isinstance(values, dict):
            raise ConfigError(f"select must be a mapping of settings, got {type(values).__name__}")
        values = with_overrides(values, {"seed": build.get("seed", 0)})
    values = with_overrides(
        values,
        {
            "identity_cap": args.identity_cap,
            "owner_cap": args.owner_cap,
            "seed": args.seed,
            "gates.min_crop_px": args.min_crop_px,
            "gates.min_face_px": args.min_face_px,
            "download_dir": args.download_dir,
        },
    )
    return SelectConfig.from_dict(values)


def run_select(args) -> int:
    from fdf.select import select_faces

    config = select_config_from_args(args)
    summary = select_faces(args.dataset, args.out, config, progress=_progress(args))
    print(json.dumps(summary.to_dict()) if args.json else summary.format_text())
    return 0


def run_report(args) -> int:
    from fdf.report import make_report

    result = make_report(args.path, args.out)
    if args.json:
        print(json.dumps({"index_html": result.index_html, "figures": result.figures, "counts": result.counts}))
    else:
        print(f"report: {result.index_html} ({len(result.figures)} figures)")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build",
        help="build a dataset end to end: source, download, annotate, select, report",
        description="Run every stage from a config file (manifests/*.yaml|toml) or from search flags. "
        "Re-running the same command resumes a killed build.",
    )
    p.add_argument("config", nargs="?", help="build config, YAML or TOML (omit to build from search flags)")
    p.add_argument(
        "--out",
        default=None,
        help="build folder (manifest, download/, faces/, selected/, report/); required unless --print-config",
    )
    p.add_argument("--backend", choices=("loky", "dask"), default=None, help="joblib backend (default loky)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address for --backend dask, tcp://HOST:PORT")
    p.add_argument("--jobs", type=int, default=None, help="worker processes for download and annotate")
    p.add_argument("--seed", type=int, default=None, help="selection seed (default: the config's, else 0)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument(
        "--until",
        choices=("source", "download", "annotate", "select", "report"),
        default=None,
        help="stop after this stage (a later run with the same config continues)",
    )
    p.add_argument("--json", action="store_true", help="print the build summary as JSON")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (file, base and flags; secrets left out) as YAML and exit",
    )
    add_query_args(p)
    add_flickr_args(p)
    p.set_defaults(func=run_build_cmd)

    s = subparsers.add_parser(
        "select",
        help="choose faces for diversity from a face dataset",
        description="Quality gates, duplicates, identity/owner caps and pose balance; "
        "writes the chosen faces as face shards plus _decisions.parquet.",
    )
    s.add_argument("dataset", help="face-shard dataset (fdf annotate output)")
    s.add_argument("--out", required=True, help="folder for the selected face shards")
    s.add_argument("--config", help="build config whose 'select' section to use")
    s.add_argument("--identity-cap", type=int, default=None, help="faces per identity cluster (0: no cap)")
    s.add_argument("--owner-cap", type=int, default=None, help="faces per Flickr owner (0: no cap)")
    s.add_argument("--min-crop-px", type=float, default=None, help="minimum expanded crop side (FDF: 128)")
    s.add_argument("--min-face-px", type=float, default=None, help="minimum face size (FDF256: 64)")
    s.add_argument("--seed", type=int, default=None, help="seed breaking ties between equal faces (default 0)")
    s.add_argument("--download-dir", default=None, help="download folder for photo sha256 (default: from the dataset)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=run_select)

    r = subparsers.add_parser(
        "report",
        help="write an HTML + PNG report of a build or a face dataset",
        description="Write index.html and PNG figures: counts and failures per stage, "
        "licence mix, pose and expression histograms, face sizes and sample "
        "crops.",
    )
    r.add_argument("path", help="build folder (fdf build --out) or face-shard dataset")
    r.add_argument("--out", required=True, help="report folder (index.html and PNG figures)")
    r.add_argument("--json", action="store_true", help="print where the report is, as JSON")
    r.set_defaults(func=run_report)
