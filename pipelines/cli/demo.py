"""`fdf demo`: the main job on bundled photos, fully offline, through `fdf build`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict


def run(args) -> int:
    from pipelines.demo import run_demo

    result = run_demo(
        args.out,
        jobs=args.jobs,
        faults=args.faults,
        report=not args.no_report,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        print(json.dumps(asdict(result), default=str))
        return 0
    print(result.text)
    print(f"manifest:       {result.manifest}")
    print(f"all faces:      {result.faces_dir}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the main job on the bundled photos (offline)",
        description="Start a loopback Flickr-compatible server with the bundled "
        "CC BY 4.0 and public-domain photos, then `fdf build` against it: "
        "search, download, annotate, select, report. Re-running resumes.",
    )
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--faults", action="store_true", help="inject server faults to show retries and statuses")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run)
