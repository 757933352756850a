"""``fdf serve-flickr``: run the fake Flickr server (for the offline demo and for tests)."""

from __future__ import annotations

import json
import signal
import sys
import threading

from fdf.errors import FdfError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "serve-flickr",
        help="serve a Flickr-compatible API on 127.0.0.1 (offline demo, tests)",
        description="Serve flickr.photos.search/getInfo/getSizes/licenses.getInfo and image files from a "
        "catalog, until SIGTERM or Ctrl-C. Prints the REST URL first.",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--catalog", metavar="FILE", help="catalog .json or .parquet (Catalog.save)")
    src.add_argument("--demo", action="store_true", help="the bundled demo photos (default)")
    src.add_argument("--synthetic", type=int, metavar="N", help="N synthetic photos over the demo images")
    p.add_argument("--seed", type=int, default=0, help="seed for --synthetic and seeded faults")
    p.add_argument("--min-upload", default="2019-01-01", help="--synthetic upload range start (UTC)")
    p.add_argument("--max-upload", default="2019-03-01", help="--synthetic upload range end (UTC, inclusive)")
    p.add_argument("--licenses", default="1,2,4,5", help="--synthetic licence ids, e.g. 1,2,4,5")
    p.add_argument("--no-cv-fraction", type=float, default=0.02, help="--synthetic share tagged no_cv")
    p.add_argument("--save-catalog", metavar="FILE", help="also write the catalog to FILE (.json/.parquet)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY[:SECRET]",
        help="accepted API key (repeatable); without any, every key is accepted",
    )
    p.add_argument("--no-verify-signatures", action="store_true", help="do not check OAuth signatures")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fault setting, e.g. rest_every=5, rest_kinds=503,429, image:ID=truncated (repeatable)",
    )
    p.add_argument("--json", action="store_true", help='print {"rest_url":..., "base_url":...} as one JSON line')
    p.set_defaults(func=run_serve_flickr)


def _api_keys(specs: list[str]) -> dict[str, str] | None:
    if not specs:
        return None
    keys = {}
    for spec in specs:
        key, _, secret = spec.partition(":")
        if not key:
            raise FdfError(f"--api-key needs KEY or KEY:SECRET, got {spec!r}")
        keys[key] = secret
    return keys


def _build_catalog(args):
    from fdf.flickr_server import Catalog, demo_catalog, synthetic_catalog

    if args.catalog:
        return Catalog.load(args.catalog)
    if args.synthetic is not None:
        return synthetic_catalog(
            n=args.synthetic,
            seed=args.seed,
            min_upload=args.min_upload,
            max_upload=args.max_upload,
            licenses=args.licenses,
            no_cv_fraction=args.no_cv_fraction,
        )
    return demo_catalog()


def run_serve_flickr(args) -> int:
    from fdf.flickr_server import Faults, FlickrServer

    faults = Faults.from_specs(args.fault)
    if not any(s.startswith("seed=") for s in args.fault):
        faults.seed = args.seed
    catalog = _build_catalog(args)
    if args.save_catalog:
        catalog.save(args.save_catalog)
    server = FlickrServer(
        catalog,
        api_keys=_api_keys(args.api_key),
        faults=faults,
        host=args.host,
        port=args.port,
        verify_signatures=not args.no_verify_signatures,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server.start()
    try:
        if args.json:
            print(json.dumps({"rest_url": server.rest_url, "base_url": server.base_url, "photos": len(catalog)}))
        else:
            print(server.rest_url)
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop serving
    finally:
        server.stop()
    return 0
