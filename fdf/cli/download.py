"""Placeholder until the 'download' commands land; registers nothing."""


def register(subparsers) -> None:
    return None
