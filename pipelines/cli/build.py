"""`fdf build`, `fdf select`, `fdf report`: the whole pipeline, and its last two stages alone."""

from __future__ import annotations

import argparse
import json
import sys

from fdf.errors import ConfigError
from .search import add_flickr_args, add_query_args, flickr_overrides, query_from_args

QUERY_FLAGS = ("text", "tags", "license", "min_upload_date", "max_upload_date", "user_id")


def _progress(args) -> bool:
    return not getattr(args, "json", False) and sys.stderr.isatty()


def config_from_args(args: argparse.Namespace):
    """A BuildConfig from CONFIG, or from the search flags when no CONFIG is given."""
    from dataclasses import asdict

    from pipelines.config import BuildConfig, SourceConfig, load_build_config

    has_query = any(getattr(args, f) for f in QUERY_FLAGS)
    flickr = flickr_overrides(args)
    if args.config:
        if has_query:
            raise ConfigError("give a CONFIG file or search flags (--license, --text, ...), not both")
        config = load_build_config(args.config)
        config.source.flickr.update(flickr)
    elif has_query:
        query = query_from_args(args)
        config = BuildConfig(source=SourceConfig(kind="flickr", query=asdict(query), flickr=flickr))
    else:
        raise ConfigError("give a CONFIG file (see manifests/*.yaml) or search flags such as --license 4,5")
    if args.backend:
        config.backend = args.backend
    if args.scheduler:
        config.scheduler = args.scheduler
    if args.jobs is not None:
        if args.jobs < 1:
            raise ConfigError("--jobs must be at least 1")
        config.download.jobs = config.annotate.jobs = args.jobs
    if args.seed is not None:
        config.seed = config.select.seed = args.seed
    if args.no_report:
        config.report = False
    if args.until:
        config.until = args.until
    config.__post_init__()  # re-check the backend after the overrides
    return config


def run_build_cmd(args) -> int:
    from pipelines import run_build

    summary = run_build(config_from_args(args), args.out, progress=_progress(args))
    if args.json:
        print(json.dumps(summary.to_dict(), default=str))
    else:
        print(summary.format_text())
    return 0


def run_select(args) -> int:
    from fdf.select import SelectConfig, select_faces

    config = SelectConfig()
    if args.config:
        from pipelines.config import load_build_config

        config = load_build_config(args.config).select
    for name in ("identity_cap", "owner_cap", "seed"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if args.min_crop_px is not None:
        config.gates.min_crop_px = args.min_crop_px
    if args.min_face_px is not None:
        config.gates.min_face_px = args.min_face_px
    if args.download_dir:
        config.download_dir = args.download_dir
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
        "build", help="build a dataset end to end: source, download, annotate, select, report",
        description="Run every stage from a config file (manifests/*.yaml|toml) or from search flags. "
                    "Re-running the same command resumes a killed build.")
    p.add_argument("config", nargs="?", help="build config, YAML or TOML (omit to build from search flags)")
    p.add_argument("--out", required=True, help="build folder (manifest, download/, faces/, selected/, report/)")
    p.add_argument("--backend", choices=("loky", "dask"), default=None, help="joblib backend (default loky)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address for --backend dask, tcp://HOST:PORT")
    p.add_argument("--jobs", type=int, default=None, help="worker processes for download and annotate")
    p.add_argument("--seed", type=int, default=None, help="selection seed (default: the config's, else 0)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--until", choices=("source", "download", "annotate", "select", "report"), default=None,
                   help="stop after this stage (a later run with the same config continues)")
    p.add_argument("--json", action="store_true", help="print the build summary as JSON")
    add_query_args(p)
    add_flickr_args(p)
    p.set_defaults(func=run_build_cmd)

    s = subparsers.add_parser("select", help="choose faces for diversity from a face dataset",
                              description="Quality gates, duplicates, identity/owner caps and pose balance; "
                                          "writes the chosen faces as face shards plus _decisions.parquet.")
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

    r = subparsers.add_parser("report", help="write an HTML + PNG report of a build or a face dataset",
                              description="Write index.html and PNG figures: counts and failures per stage, "
                                          "licence mix, pose and expression histograms, face sizes and sample "
                                          "crops.")
    r.add_argument("path", help="build folder (fdf build --out) or face-shard dataset")
    r.add_argument("--out", required=True, help="report folder (index.html and PNG figures)")
    r.add_argument("--json", action="store_true", help="print where the report is, as JSON")
    r.set_defaults(func=run_report)
