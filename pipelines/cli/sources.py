"""``fdf manifest ...``: build a manifest from a YFCC100M dump, FDF metainfo, a URL list or a folder,
and show what a manifest holds. Each command is a thin layer over :mod:`fdf.sources`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fdf.atomic import atomic_path
from fdf.errors import SourceError
from fdf.licenses import parse_license_ids
from fdf.manifest import read_manifest, write_manifest
from fdf.sources.fdf_metainfo import fdf_metainfo_to_manifest
from fdf.sources.local_folder import folder_to_manifest
from fdf.sources.summary import format_summary, summarize_manifest
from fdf.sources.url_list import url_list_to_manifest
from fdf.sources.yfcc import YfccConfig, yfcc_to_manifest


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "manifest",
        help="build or inspect a photo manifest",
        description="Build a photo manifest (Parquet) from a source, or show one.",
    )
    sub = parser.add_subparsers(dest="manifest_command", metavar="SOURCE")
    sub.required = True

    p = sub.add_parser(
        "yfcc",
        help="from a YFCC100M metadata dump (.bz2, .gz or plain; 23 or 25 columns)",
        description="Stream a YFCC100M metadata dump into a manifest in constant memory: photos "
        "only (videos skipped), with each photo's licence, attribution and the "
        "dump's download URL.",
    )
    p.add_argument("dump", type=Path, help="the dump file (yfcc100m_dataset[.bz2|.gz])")
    _add_out(p)
    p.add_argument("--license", default="", help="keep only these Flickr licence ids, e.g. 1,2,4,5 (default: all)")
    p.add_argument("--limit", type=int, default=None, help="stop after N photos")
    p.add_argument("--skip-bad-lines", action="store_true", help="count and skip malformed lines instead of failing")
    p.add_argument(
        "--line-offset",
        type=int,
        default=0,
        help="0-based dataset line of this file's first line (for one part of a split dump)",
    )
    p.add_argument(
        "--row-group-size",
        type=int,
        default=100_000,
        help="rows per Parquet row group written while streaming (default %(default)s)",
    )
    p.set_defaults(func=run_yfcc)

    p = sub.add_parser(
        "fdf-metainfo",
        help="from the FDF release's fdf_metainfo.json (one row per photo)",
        description="Read the FDF release's fdf_metainfo.json into a manifest, one row per photo "
        "with its faces' boxes and keypoints kept.",
    )
    p.add_argument("metainfo", type=Path, help="fdf_metainfo.json")
    _add_out(p)
    p.add_argument("--yfcc", type=Path, default=None, help="YFCC100M dump to fill download URLs from")
    p.set_defaults(func=run_fdf_metainfo)

    p = sub.add_parser(
        "urls",
        help="from a CSV/TSV/Parquet list of image URLs with licence columns",
        description="Read a list of image URLs with licence and attribution columns into a "
        "manifest; rows without a usable URL or licence are rejected, with reasons.",
    )
    p.add_argument("list", type=Path, help="the list: .csv, .tsv or .parquet")
    _add_out(p)
    p.add_argument("--url-column", default="url", help="name of the column holding the image URL (default url)")
    lic = p.add_mutually_exclusive_group()
    lic.add_argument("--license-id", type=int, default=None, help="licence for rows that name none")
    lic.add_argument("--license-url", default=None, help="licence URL for rows that name none")
    p.add_argument("--rejected", type=Path, default=None, help="write rejected rows (line, url, reason) to this CSV")
    p.set_defaults(func=run_urls)

    p = sub.add_parser(
        "folder",
        help="from image files in a folder tree with licence sidecars",
        description="Scan a folder tree for images; licences and attribution come from "
        "LICENSE.json and licenses.csv sidecars (see fdf/sources/local_folder.py). "
        "`fdf download` reads these rows only from inside this folder.",
    )
    p.add_argument("folder", type=Path, help="the folder to scan (recursively)")
    _add_out(p)
    p.set_defaults(func=run_folder)

    p = sub.add_parser(
        "resolve-urls",
        help="fill missing Flickr download URLs through flickr.photos.getSizes",
        description="For rows without a download_url (e.g. FDF metainfo without a YFCC dump), ask "
        "Flickr for the photo's sizes and take the original (or the largest).",
    )
    p.add_argument("manifest", type=Path, help="manifest whose empty download URLs to fill")
    _add_out(p)
    p.add_argument("--threads", type=int, default=4, help="concurrent getSizes calls (one rate limit; default 4)")
    from .search import add_flickr_args

    add_flickr_args(p)
    p.set_defaults(func=run_resolve_urls)

    p = sub.add_parser(
        "show",
        help="counts per source and licence, and missing attribution fields",
        description="Summarise a manifest: photos per source and licence, and rows missing a "
        "title, author, source page or licence URL.",
    )
    p.add_argument("manifest", type=Path, help="manifest Parquet file")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_show)


def _add_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="manifest Parquet file to write")
    p.add_argument("--json", action="store_true", help="print counts as JSON")


def _report(args, counts: dict) -> int:
    if args.json:
        print(json.dumps(counts, indent=2, default=str))
    else:
        print(", ".join(f"{k}: {v}" for k, v in counts.items() if not isinstance(v, (list, dict))))
    return 0


def run_yfcc(args) -> int:
    try:
        licenses = parse_license_ids(args.license)
    except (ValueError, KeyError) as exc:
        raise SourceError(f"--license: {exc}") from None
    if args.limit is not None and args.limit < 1:
        raise SourceError("--limit must be at least 1")
    config = YfccConfig(licenses, args.limit, args.skip_bad_lines, args.row_group_size, args.line_offset)
    stats = yfcc_to_manifest(args.dump, args.out, config, progress=not args.json)
    return _report(args, {"out": str(args.out), **stats.to_dict()})


def run_fdf_metainfo(args) -> int:
    df, stats = fdf_metainfo_to_manifest(args.metainfo, args.yfcc)
    write_manifest(df, args.out)
    return _report(args, {"out": str(args.out), **stats.to_dict()})


def run_urls(args) -> int:
    result = url_list_to_manifest(args.list, args.url_column, args.license_id, args.license_url)
    write_manifest(result.manifest, args.out)
    if args.rejected is not None:
        with atomic_path(args.rejected) as tmp:
            result.rejected.to_csv(tmp, index=False)
    counts = {
        "out": str(args.out),
        "accepted": len(result.manifest),
        "rejected": len(result.rejected),
        "no_license": int(result.manifest["license_id"].isna().sum()),
        "rejected_reasons": result.rejected["reason"].value_counts().to_dict(),
    }
    return _report(args, counts)


def run_folder(args) -> int:
    df, stats = folder_to_manifest(args.folder, progress=not args.json)
    write_manifest(df, args.out)
    return _report(args, {"out": str(args.out), **stats.to_dict()})


def run_show(args) -> int:
    summary = summarize_manifest(read_manifest(args.manifest))
    print(json.dumps(summary.to_dict(), indent=2) if args.json else format_summary(summary))
    return 0


def run_resolve_urls(args) -> int:
    from fdf.flickr.client import client_from_args
    from fdf.flickr.resolve import resolve_download_urls

    from .search import flickr_overrides

    client = client_from_args(**flickr_overrides(args))
    df, summary = resolve_download_urls(
        client, read_manifest(args.manifest), threads=args.threads, progress=not args.json
    )
    write_manifest(df, args.out)
    return _report(args, {"out": str(args.out), **vars(summary)})
