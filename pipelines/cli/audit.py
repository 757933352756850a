"""`fdf audit`, `fdf credits`, `fdf card` and `fdf remove`: licences, attribution and takedowns."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fdf.errors import FdfError

from .search import add_flickr_args, flickr_overrides


def run_audit(args: argparse.Namespace) -> int:
    from fdf.audit.render import FORMATS, render
    from fdf.audit.report import parse_fail_on
    from fdf.audit.run import audit
    from fdf.audit.subset import write_commercial_subset

    fail_on = parse_fail_on(args.fail_on)  # validate before any slow work
    if args.commercial_safe != bool(args.out):
        raise FdfError("--commercial-safe and --out SUBSET go together")
    if args.format not in FORMATS:
        raise FdfError(f"--format must be one of {', '.join(FORMATS)}")
    client = None
    if args.revalidate:
        from fdf.flickr.client import client_from_args

        client = client_from_args(**flickr_overrides(args))
    report = audit(
        args.path,
        client=client,
        threads=args.threads,
        progress=not args.json and sys.stderr.isatty(),
        save=not args.no_save,
    )
    if args.report:
        from fdf.atomic import atomic_write_text

        atomic_write_text(args.report, render(report, args.format))
    if args.json:
        print(render(report, "json"), end="")
    elif not args.report:
        print(render(report, args.format), end="")
    if args.commercial_safe:
        subset = write_commercial_subset(args.path, args.out)
        print(f"commercial-safe subset: {subset['photos']} photos -> {subset['out']}", file=sys.stderr)
    failures = report.failures(fail_on)
    if failures:
        listed = ", ".join(f"{k} ({v} photos)" for k, v in failures.items())
        print(f"fdf audit: failing on {listed}", file=sys.stderr)
        return 1
    return 0


def run_credits(args: argparse.Namespace) -> int:
    from fdf.audit.credits import write_credits

    result = write_credits(args.path, args.out, anonymized=args.anonymized)
    print(
        json.dumps(result)
        if args.json
        else f"credited {result['photos']} photos: {result['markdown']}, {result['csv']}"
    )
    return 0


def run_card(args: argparse.Namespace) -> int:
    from fdf.audit.card import write_dataset_card

    path = write_dataset_card(args.path, args.out)
    print(json.dumps({"card": str(path)}) if args.json else f"wrote {path}")
    return 0


def _latest_findings(path: Path, datasets: list[Path]):
    """The newest saved revalidation of ``path`` or of any dataset inside it, or FdfError."""
    from fdf.audit.revalidate import latest_revalidation
    from fdf.audit.run import audit_dir

    found = [f for f in (latest_revalidation(audit_dir(d)) for d in dict.fromkeys([path, *datasets])) if f]
    if not found:
        raise FdfError(f"no saved revalidation under {audit_dir(path)}; run `fdf audit {path} --revalidate`")
    return max(found, key=lambda item: item[0].name)  # names carry the UTC time


def _removal_targets(
    args: argparse.Namespace, datasets: list[Path]
) -> tuple[list[str], list[str], dict[str, str], str]:
    from fdf.audit.takedown import parse_removal_list

    photos = [p for item in args.photo for p in item.split(",")]
    owners = [o for item in args.owner for o in item.split(",")]
    reasons: dict[str, str] = {}
    reason = args.reason
    if args.list:
        try:
            text = Path(args.list).read_text(encoding="utf-8")
        except OSError as exc:
            raise FdfError(f"cannot read removal list {args.list}: {exc.strerror or exc}") from None
        listed_photos, listed_owners = parse_removal_list(text)
        photos += listed_photos
        owners += listed_owners
    if args.from_audit:
        path, rev = _latest_findings(Path(args.path), datasets)
        reasons = rev.revoked_photo_ids()
        photos += list(reasons)
        if args.reason == "removal request":  # the default: say where the findings came from
            reason = f"revalidation {path.name}"
    return photos, owners, reasons, reason


def run_remove(args: argparse.Namespace) -> int:
    from fdf.audit.takedown import check_readable, dataset_folders, remove_photos

    if not (args.photo or args.owner or args.list or args.from_audit):
        raise FdfError("say what to remove: --photo ID, --owner NSID, --list FILE or --from-audit")
    datasets = dataset_folders(args.path)
    photos, owners, reasons, reason = _removal_targets(args, datasets)
    if not photos and not owners:
        print(json.dumps({"photos_removed": 0, "note": "nothing to remove"}) if args.json else "nothing to remove")
        return 0
    # Every dataset of a build folder is checked before any is changed.
    check_readable(datasets, skip_unreadable=args.skip_unreadable)
    results = {
        str(d): remove_photos(d, photos, owners, reason=reason, reasons=reasons, skip_unreadable=args.skip_unreadable)
        for d in datasets
    }
    removed = sorted({p for r in results.values() for p in r.photo_ids_removed})
    unreadable = sorted(s for r in results.values() for s in r.shards_unreadable)
    if unreadable:
        print(
            f"fdf remove: could not read {', '.join(unreadable)}: left as it was; the takedown is logged and "
            "reaches it once it is restored and fdf remove runs again (exit status 1)",
            file=sys.stderr,
        )
    if args.json:
        summary = {
            "photo_ids_removed": removed,
            "photos_removed": len(removed),
            "rows_removed": sum(r.rows_removed for r in results.values()),
            "shards_unreadable": unreadable,
            "datasets": {d: r.summary() for d, r in results.items()},
        }
        print(json.dumps(summary))
        return 1 if unreadable else 0
    for d, r in results.items():
        s = r.summary()
        print(
            f"{d}: removed {s['rows_removed']} rows of {s['photos_removed']} photos ({s['shards_rewritten']} shards "
            f"rewritten, {s['shards_deleted']} deleted, {s['shards_untouched']} untouched); logged in "
            f"{d}/_removals.jsonl"
        )
    not_found = sorted(set.intersection(*(set(r.requested_not_found) for r in results.values())))
    if not_found:
        print(f"not in the dataset now (still blocked from later builds): {', '.join(not_found)}")
    return 1 if unreadable else 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "audit",
        help="licence audit of a dataset, download folder or manifest",
        description="Report licences (photos and faces) and flag NoDerivatives, NonCommercial, ShareAlike, "
        "unknown licences, incomplete attribution, no_cv tags and id/URL mismatches. With "
        "--revalidate, ask Flickr for each photo's state now. Exit status 1 when --fail-on matches.",
    )
    p.add_argument("path", help="face-shard dataset folder, download folder or manifest .parquet")
    p.add_argument("--revalidate", action="store_true", help="ask Flickr (flickr.photos.getInfo) about each photo")
    add_flickr_args(p)
    p.add_argument("--threads", type=int, default=4, help="parallel revalidation calls (rate limit is shared)")
    p.add_argument("--no-save", action="store_true", help="do not save revalidation findings under _audit/")
    p.add_argument("--format", default="md", help="report format: md, json or html (default md)")
    p.add_argument("--report", help="write the report to this file (in --format) instead of stdout")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.add_argument(
        "--fail-on",
        default="",
        help="comma-separated flags/findings that make the exit status 1, "
        "e.g. nd,unknown,revoked (flags: nd nc sa unknown attribution nocv mismatch; "
        "findings: revoked deleted opted_out changed check_failed)",
    )
    p.add_argument(
        "--commercial-safe",
        action="store_true",
        help="also write the subset whose licences allow commercial use and adaptation (needs --out)",
    )
    p.add_argument("--out", help="folder (dataset) or .parquet file (manifest) for the --commercial-safe subset")
    p.set_defaults(func=run_audit)

    p = subparsers.add_parser(
        "credits",
        help="write attribution files (CREDITS.md, credits.csv)",
        description="Per photo: title, author with link, source link, licence name and "
        "link, and what was changed (cropped; anonymized with --anonymized).",
    )
    p.add_argument("path", help="face-shard dataset folder (or download folder / manifest)")
    p.add_argument("--out", help="folder for the files (default DATASET/_docs)")
    p.add_argument("--anonymized", action="store_true", help="the outputs are anonymized: say the faces were replaced")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run_credits)

    p = subparsers.add_parser(
        "card",
        help="write the dataset card DATASET.md",
        description="Sources, counts, licence mix, configuration, annotation models with "
        "their licences and training data, takedowns.",
    )
    p.add_argument("path", help="face-shard dataset folder")
    p.add_argument("--out", help="file to write (default DATASET/_docs/DATASET.md)")
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run_card)

    p = subparsers.add_parser(
        "remove",
        help="take photos down from a dataset (by photo, owner, list or audit)",
        description="Rewrite only the shards holding the photos, atomically; log the request "
        "in DATASET/_removals.jsonl so later builds never bring them back.",
    )
    p.add_argument("path", help="face-shard dataset folder, or a build folder (all datasets in it)")
    p.add_argument("--photo", action="append", default=[], help="photo id (repeat, or comma-separated)")
    p.add_argument("--owner", action="append", default=[], help="owner NSID: all their photos, now and later")
    p.add_argument("--list", help="file: one photo id, owner:NSID, NSID or Flickr photo URL per line")
    p.add_argument(
        "--from-audit",
        action="store_true",
        help="remove what the latest `fdf audit --revalidate` found deleted, revoked or opted out",
    )
    p.add_argument("--reason", default="removal request", help="reason recorded in the removal log")
    p.add_argument(
        "--skip-unreadable",
        action="store_true",
        help="if a shard is truncated or corrupt, still remove from the other shards (exit status 1, "
        "naming the shard); without it such a shard stops the removal with nothing changed",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.set_defaults(func=run_remove)
