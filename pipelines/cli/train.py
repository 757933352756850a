"""``fdf train``, ``fdf evaluate-generator``, ``fdf export-generator`` and ``fdf distill-identity``:
the face generator and the identity network its identity loss uses.

Multi-GPU (or multi-process CPU) training: ``torchrun --nproc_per_node N -m fdf train CONFIG --out RUN``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the DeepPrivacy-style face generator on face shards",
        description="Train the generator from a config file; checkpoints, samples and a log "
        "go to --out, and --resume continues exactly. Under torchrun, "
        "DistributedDataParallel.",
    )
    p.add_argument(
        "config", nargs="?", help="training config YAML (see manifests/train_*.yaml); optional with --resume"
    )
    p.add_argument(
        "--out",
        default=None,
        help="run folder: checkpoints, config.yaml, log.jsonl, samples/ (required unless --print-config)",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--steps", type=int, default=None, help="override the config's total steps")
    p.add_argument("--data", default=None, help="override the config's data.path")
    p.add_argument("--stop-at", type=int, default=None, help="stop (and checkpoint) at this step")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="CHECKPOINT",
        help="start a new run from this checkpoint's weights (fresh optimizers, step 0)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="MINUTES",
        help="stop (and checkpoint) after this many minutes of training; --resume continues",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (CONFIG or the run's, its base and the flags) as YAML and exit",
    )
    p.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "evaluate-generator",
        help="re-identification, detection and realism of a generator",
        description="Replace the faces of a dataset split with a generator and measure how "
        "often dlib still recognises the person, how often a detector still "
        "finds a face, and how real the faces look.",
    )
    p.add_argument("run", help="run folder, checkpoint or exported weights; 'bundled' for the packaged model")
    p.add_argument("--data", required=True, help="face-shard dataset (or FDF folder) with a validation split")
    p.add_argument(
        "--split",
        default="validation",
        choices=["validation", "train"],
        help="which split's faces to replace (default validation)",
    )
    p.add_argument("--limit", type=int, default=500, help="evaluate at most this many faces (default 500)")
    p.add_argument("--seed", type=int, default=0, help="first latent seed (default 0)")
    p.add_argument("--inception", default=None, help="local Inception-v3 weights for FID (skipped without)")
    p.add_argument(
        "--check-tries",
        type=int,
        default=1,
        help="also report fdf anonymize's identity check: regenerate faces still under 0.6 "
        "up to N generations, then blur (default 1: off)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="latent seeds per face; > 1 pools re-identification over them, with a 95%% interval",
    )
    p.add_argument(
        "--attacker-views",
        action="store_true",
        help="also describe each replaced face as an attacker would: at its own 68-point shape "
        "and mirrored; a face counts as re-identified when any view is under 0.6",
    )
    p.add_argument(
        "--dlib-only",
        action="store_true",
        help="skip the second judges (YuNet, SFace) and the realism measures (detail ratio, border)",
    )
    p.add_argument(
        "--truncation",
        type=float,
        default=1.0,
        help="pull each face's style towards the generator's mean, 0-1 (default 1: the raw generator; "
        "fdf anonymize uses 0.85)",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser(
        "export-generator",
        help="write a checkpoint's EMA generator as a small weights file",
        description="Write the EMA generator of a run or checkpoint as a .safetensors file "
        "that fdf anonymize --checkpoint loads.",
    )
    p.add_argument("run", help="run folder or checkpoint")
    p.add_argument("--out", required=True, help="output .safetensors")
    p.set_defaults(func=run_export_generator)

    p = subparsers.add_parser(
        "distill-identity",
        help="distil dlib's face descriptor into a small network for the identity loss",
        description="Train a small network to predict dlib's 128-d descriptor of real and "
        "generated faces, for loss.identity_model in training configs.",
    )
    p.add_argument("--data", required=True, help="face-shard dataset with train and validation splits")
    p.add_argument(
        "--generator",
        action="append",
        required=True,
        dest="generators",
        help="a generator checkpoint whose outputs the network also learns (repeatable)",
    )
    p.add_argument(
        "--check-generator",
        action="append",
        default=[],
        dest="check_generators",
        help="a generator used only in the validation report (repeatable)",
    )
    p.add_argument("--out", required=True, help="folder for identity.safetensors and the cached dlib targets")
    p.add_argument("--epochs", type=int, default=30, help="passes over the training faces (default 30)")
    p.add_argument("--jobs", type=int, default=2, help="processes computing dlib descriptors")
    p.add_argument("--limit", type=int, default=0, help="faces per split (default 0: all)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run_distill_identity)


def run_train(args) -> int:
    from anonymizer.training import load_config, train
    from fdf.errors import ConfigError

    # --steps and --data are overrides of the config, applied before it is validated.
    overrides = {"steps": args.steps, "data.path": str(Path(args.data).resolve()) if args.data is not None else None}
    config = None
    if not args.out and not (args.print_config and args.config):
        raise ConfigError("--out is required (the run folder)")
    if args.config:
        config = load_config(args.config, overrides)
    elif args.resume and (Path(args.out) / "config.yaml").is_file():
        config = load_config(Path(args.out) / "config.yaml", overrides)  # the run's own config, so overrides apply
    elif args.steps is not None or args.data is not None or args.print_config:
        raise ConfigError("--steps, --data and --print-config need a CONFIG or a run to resume")
    if args.print_config:
        from .config import print_config

        return print_config(config)
    if args.time_limit is not None and args.time_limit <= 0:
        raise ConfigError(f"--time-limit must be a positive number of minutes, got {args.time_limit}")
    summary = train(
        config,
        args.out,
        resume=args.resume,
        stop_at=args.stop_at,
        init_from=args.init_from,
        time_limit=args.time_limit * 60 if args.time_limit is not None else None,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun only the first process reports
        if args.json:
            print(json.dumps(dataclasses.asdict(summary), indent=2))
        else:
            print(
                f"trained {summary.start_step} -> {summary.end_step} steps at {summary.images_per_second:.1f} "
                f"images/s; checkpoint {summary.checkpoint}"
            )
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _exit_worker_process()
    return 0


def _exit_worker_process() -> None:
    """End a torchrun worker now that its work is done, skipping the interpreter's teardown.

    Arrow's native thread pools (the Parquet reads of the face shards) can abort the process in
    their static destructors ("terminate called without an active exception", SIGABRT;
    apache/arrow#34314). In one process that is a wrong exit status after a finished run; under
    torchrun the launcher takes it as a failed worker and kills the others. Everything the run
    wrote is already on disk (checkpoints are written atomically before the final barrier), so
    only the standard streams and log handlers need flushing.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_evaluate(args) -> int:
    from anonymizer.evaluation import EvaluationConfig, evaluate_generator, format_report

    config = EvaluationConfig(
        split=args.split,
        limit=args.limit,
        seed=args.seed,
        inception=args.inception,
        check_tries=args.check_tries,
        seeds=args.seeds,
        attacker_views=args.attacker_views,
        second_judges=not args.dlib_only,
        truncation=args.truncation,
    )
    checkpoint = None if args.run == "bundled" else args.run
    report = evaluate_generator(checkpoint, args.data, config)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def run_export_generator(args) -> int:
    from anonymizer.generator import export_generator

    print(export_generator(args.run, args.out))
    return 0


def run_distill_identity(args) -> int:
    from anonymizer.training.distill import DistillConfig, distill_identity
    from fdf.errors import ConfigError

    if args.epochs < 1 or args.jobs < 1 or args.limit < 0:
        raise ConfigError("--epochs and --jobs must be >= 1, --limit >= 0")
    config = DistillConfig(
        data=args.data,
        generators=args.generators,
        check_generators=args.check_generators,
        epochs=args.epochs,
        jobs=args.jobs,
        limit=args.limit,
    )
    report = distill_identity(config, args.out)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    val = report["validation"]
    print(f"identity network: {Path(args.out) / 'identity.safetensors'}; {report['train_faces']} training faces")
    for name, path in report["variants"].items():
        r = val[name]
        print(
            f"validation {name} ({path}): dlib re-id {r['dlib_reid_rate']:.1%}, distance correlation "
            f"{r['distance_correlation']:.3f}, mean abs error {r['distance_mae']:.3f}"
        )
    return 0
