"""``fdf download MANIFEST --out DIR``: fetch, validate and store every photo of a manifest."""

from __future__ import annotations

import json
import sys

from fdf.download import DownloadConfig, download_manifest

_DEFAULTS = DownloadConfig()


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "download",
        help="download and validate a manifest's photos into a resumable Parquet dataset",
        description=(
            "Download every photo of MANIFEST into DIR: photo files under DIR/_photos/, one result row "
            "per photo (status, sha256, width, height, error, path, plus the manifest's columns) in "
            "DIR/part-*.parquet. Run the same command again to resume after an interruption."
        ),
    )
    p.add_argument("manifest", help="manifest Parquet file (fdf sources/search output)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created; reused to resume)")
    p.add_argument("--jobs", type=int, default=_DEFAULTS.jobs, help="worker processes (default %(default)s)")
    p.add_argument(
        "--threads", type=int, default=_DEFAULTS.threads, help="I/O threads per worker process (default %(default)s)"
    )
    p.add_argument(
        "--shard-size",
        type=int,
        default=_DEFAULTS.shard_size,
        help="rows per result shard; a killed run loses at most the shards in flight (default %(default)s)",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=_DEFAULTS.connect_timeout,
        metavar="S",
        help="longest wait to connect (default %(default)s)",
    )
    p.add_argument(
        "--read-timeout",
        type=float,
        default=_DEFAULTS.read_timeout,
        metavar="S",
        help="longest wait for the headers or for any next bytes of a body (default %(default)s)",
    )
    p.add_argument(
        "--total-timeout",
        type=float,
        default=_DEFAULTS.total_timeout,
        metavar="S",
        help="longest time one body may take to arrive, however slowly it drips (default %(default)s)",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=_DEFAULTS.retries,
        help="retries for timeouts, connection errors, 429 and 5xx (default %(default)s)",
    )
    p.add_argument(
        "--backoff",
        type=float,
        default=_DEFAULTS.backoff,
        metavar="S",
        help="first retry delay; doubles per retry, with jitter (default %(default)s)",
    )
    p.add_argument("--max-bytes", type=int, default=_DEFAULTS.max_bytes, help="byte cap per photo (default 50 MB)")
    p.add_argument(
        "--max-pixels",
        type=int,
        default=_DEFAULTS.max_pixels,
        help="pixel cap per photo, checked before decoding (default %(default)s)",
    )
    p.add_argument(
        "--host-rate",
        type=float,
        default=0.0,
        metavar="N",
        help="at most N requests a second to any one host, all jobs and threads together (default 0: no limit)",
    )
    p.add_argument("--user-agent", default=_DEFAULTS.user_agent, help="User-Agent header sent with every request")
    p.add_argument("--ignore-robots", action="store_true", help="download even when X-Robots-Tag says noai/noimageai")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="try again rows that failed transiently (timeout, connection_error, http_429, http_5xx)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    config = DownloadConfig(
        jobs=args.jobs,
        threads=args.threads,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        total_timeout=args.total_timeout,
        retries=args.retries,
        backoff=args.backoff,
        max_bytes=args.max_bytes,
        max_pixels=args.max_pixels,
        shard_size=args.shard_size,
        user_agent=args.user_agent,
        respect_robots=not args.ignore_robots,
        retry_failed=args.retry_failed,
        host_rate=args.host_rate,
    )
    summary = download_manifest(args.manifest, args.out, config, progress=not args.no_progress and not args.json)
    if args.json:
        print(json.dumps(summary.to_dict(), sort_keys=True))
    else:
        print(summary.format_text())
    sys.stdout.flush()
    return 0
