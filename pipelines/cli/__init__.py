"""The ``fdf`` command: one subcommand per stage, each a thin layer over the Python API.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
subcommands and sets ``func`` (taking the parsed args, returning an exit status).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fdf.errors import FdfError

COMMAND_MODULES = (
    "pipelines.cli.search",
    "pipelines.cli.sources",
    "pipelines.cli.download",
    "pipelines.cli.annotate",
    "pipelines.cli.serve",
    "pipelines.cli.demo",
    "pipelines.cli.audit",
    "pipelines.cli.anonymize",
    "pipelines.cli.build",
    "pipelines.cli.train",
    "pipelines.cli.config",
)

log = logging.getLogger("fdf")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fdf",
        description="Build, audit and anonymize FDF-style face datasets from Creative Commons photos.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more logging (-vv for debug; -vvv also the HTTP and OAuth libraries' debug lines, which print API keys)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {package_version()}", help="print the version and exit"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


#: Libraries whose DEBUG lines carry secrets: flickrapi logs each call's parameters (the API key) even
#: at INFO, oauthlib and requests_oauthlib the OAuth signature base string, urllib3 each request URL.
QUIET_LIBRARIES = {
    "flickrapi": logging.CRITICAL,
    "oauthlib": logging.INFO,
    "requests_oauthlib": logging.INFO,
    "urllib3": logging.INFO,
}


def package_version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("fdf-toolkit")
    except metadata.PackageNotFoundError:
        from fdf import __version__

        return __version__


def configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose < 3:
        # flickrapi also logs every non-200 answer at ERROR, although our client retries those and
        # reports what matters itself. Only -vvv lets the libraries' own debug lines through.
        for name, floor in QUIET_LIBRARIES.items():
            logging.getLogger(name).setLevel(max(floor, level))
    else:
        log.warning("-vvv: third-party debug logging is on; it prints API keys and OAuth signature data")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except FdfError as exc:
        print(f"fdf {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fdf {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
