"""``fdf annotate``, ``fdf export``, ``fdf import`` and ``fdf migrate``: face shards in and out."""

from __future__ import annotations

import argparse
import dataclasses
import json


def _resolutions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolutions must be comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one resolution")
    return values


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "annotate",
        help="detect and analyse faces in downloaded photos; write face shards",
        description="Detect every face in a download folder's photos, measure it (landmarks, "
        "pose, expression, sharpness, identity descriptor) and write FDF crops "
        "as Parquet face shards, split into train and validation by photo. "
        "Resumable.",
    )
    p.add_argument("download_dir", help="folder written by `fdf download`")
    p.add_argument("--out", required=True, help="dataset folder for the face shards (resumable)")
    p.add_argument("--resolutions", type=_resolutions, default=(128, 256), help="crop sizes (default 128,256)")
    p.add_argument("--jobs", type=int, default=1, help="parallel worker processes")
    p.add_argument("--detector", default="centerface", help="face detector (centerface, hog, mmod)")
    p.add_argument("--val-fraction", type=float, default=0.05, help="share of photos in the validation split")
    p.add_argument(
        "--photos-per-shard",
        type=int,
        default=32,
        help="photos per face shard; a killed run redoes at most the shards in flight (default 32)",
    )
    p.add_argument(
        "--no-embeddings",
        action="store_true",
        help="skip the 128-d identity descriptor (3/4 of the time on small photos; training "
        "data needs none; selection by identity then has nothing to cluster)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_annotate)

    p = subparsers.add_parser(
        "export",
        help="write a face-shard dataset in another layout",
        description="Write a face-shard dataset in FDF's own layout (images/{res}/{idx}.png, "
        "landmarks.npy, bounding_box/, ...), as DeepPrivacy v1 reads it.",
    )
    p.add_argument("dataset_dir", help="face-shard dataset (fdf annotate or fdf select output)")
    p.add_argument("--format", choices=["fdf"], default="fdf", help="output layout (FDF: DeepPrivacy v1)")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--resolutions", type=_resolutions, default=None, help="default: all present")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_export)

    p = subparsers.add_parser(
        "import",
        help="read an FDF folder into face shards",
        description="Read a folder in FDF's layout (one split, or train/ and val/) into face shards.",
    )
    p.add_argument("fdf_dir", help="FDF folder (images/, landmarks.npy, ... or train/ and val/)")
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_import)

    p = subparsers.add_parser(
        "migrate",
        help="move a dataset of the old layout under data/ (Hub layout)",
        description="Move face shards written before the data/ layout (part-*.parquet at "
        "the top) to data/<resolution>/<split>/, and write README.md with one "
        "config per resolution, so datasets.load_dataset, DuckDB, pandas and "
        "pyarrow read exactly the face rows. Rows, status tables and the "
        "removal log are unchanged. Resumable; a no-op on a migrated dataset.",
    )
    p.add_argument("dataset_dir", help="face-shard dataset folder")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_migrate)


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


def run_annotate(args) -> int:
    from fdf.annotate.stage import AnnotateConfig, annotate

    config = AnnotateConfig(
        resolutions=args.resolutions,
        detector=args.detector,
        val_fraction=args.val_fraction,
        photos_per_shard=args.photos_per_shard,
        jobs=args.jobs,
        analyzer_options={"embeddings": False} if args.no_embeddings else {},
    )
    summary = annotate(args.download_dir, args.out, config)
    _print(dataclasses.asdict(summary), args.json)
    return 0


def run_export(args) -> int:
    from fdf.fdf_layout import export_fdf

    summary = export_fdf(args.dataset_dir, args.out, list(args.resolutions) if args.resolutions else None)
    _print(dataclasses.asdict(summary), args.json)
    return 0


def run_import(args) -> int:
    from fdf.fdf_layout import import_fdf

    _print(import_fdf(args.fdf_dir, args.out), args.json)
    return 0


def run_migrate(args) -> int:
    from fdf.shards.migrate import migrate_dataset

    _print(migrate_dataset(args.dataset_dir).to_dict(), args.json)
    return 0
