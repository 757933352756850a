"""`fdf search`: Flickr photo search into a manifest."""

from __future__ import annotations

import argparse
import json
import sys

from fdf.errors import FdfError
from fdf.flickr.client import client_from_args
from fdf.flickr.search import SIZE_SUFFIXES, SearchQuery, search_photos


def add_flickr_args(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that calls the Flickr API."""
    parser.add_argument("--api-url", help="Flickr REST endpoint (default: $FLICKR_API_URL or Flickr's)")
    parser.add_argument(
        "--calls-per-hour",
        type=float,
        default=None,
        help="client-side rate limit for the key, shared by all processes (default 3600)",
    )
    parser.add_argument(
        "--rate-state",
        default=None,
        help="file holding the key's rate-limit bucket (default ~/.cache/fdf/ratelimit/); "
        "a file that is not one is refused, never overwritten",
    )
    parser.add_argument(
        "--total-timeout",
        type=float,
        default=None,
        metavar="S",
        help="longest one API answer may take to arrive, however slowly it drips (default 60)",
    )


def flickr_overrides(args: argparse.Namespace) -> dict:
    """The FlickrConfig fields set by :func:`add_flickr_args`' flags (unset ones left out)."""
    names = ("api_url", "calls_per_hour", "rate_state", "total_timeout")
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def add_query_args(parser: argparse.ArgumentParser) -> None:
    """The search flags, shared with `fdf build`."""
    parser.add_argument("--text", help="free text (title, description, tags)")
    parser.add_argument("--tags", help="comma-separated tags")
    parser.add_argument(
        "--tag-mode",
        choices=("any", "all"),
        default="any",
        help="with --tags: photos with any of them (default) or all of them",
    )
    parser.add_argument("--license", default="", help="comma-separated Flickr licence ids, e.g. 1,2,4,5")
    parser.add_argument("--min-upload-date", help="YYYY-MM-DD[ HH:MM:SS] UTC or unix seconds, inclusive")
    parser.add_argument("--max-upload-date", help="YYYY-MM-DD[ HH:MM:SS] UTC or unix seconds, inclusive")
    parser.add_argument("--user-id", help="only this owner's photos (NSID)")
    parser.add_argument(
        "--sizes", default=",".join(SIZE_SUFFIXES), help="preferred download sizes, best first (default o,k,h,l,c,z,m)"
    )
    parser.add_argument(
        "--include-opted-out",
        action="store_true",
        help="keep photos tagged no_cv (skipped by default, as FDF and FFHQ do)",
    )


def query_from_args(args: argparse.Namespace) -> SearchQuery:
    try:
        return SearchQuery(
            text=args.text,
            tags=args.tags,
            tag_mode=args.tag_mode,
            license_ids=args.license,
            min_upload_date=args.min_upload_date,
            max_upload_date=args.max_upload_date,
            user_id=args.user_id,
            skip_opt_out=not args.include_opted_out,
            sizes=tuple(s.strip() for s in args.sizes.split(",") if s.strip()),
        )
    except (ValueError, KeyError) as exc:
        raise FdfError(str(exc).strip("'\"")) from None


def run_search(args: argparse.Namespace) -> int:
    query = query_from_args(args)
    client = client_from_args(**flickr_overrides(args))
    result = search_photos(client, query, out=args.out, progress=not args.json and sys.stderr.isatty())
    summary = {"out": str(args.out), **result.summary()}
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['photos']} photos -> {args.out} ({result.skipped_opt_out} opted out, "
            f"{result.calls} API calls, {result.retries} retries)"
        )
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="search Flickr for photos into a manifest",
        description="Search Flickr (or a Flickr-compatible server) and write a "
        "Parquet manifest. Key and secret from FLICKR_API_KEY / "
        "FLICKR_API_SECRET.",
    )
    add_query_args(p)
    add_flickr_args(p)
    p.add_argument("--out", required=True, help="manifest Parquet file to write")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=run_search)
