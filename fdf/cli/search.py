"""Placeholder until the 'search' commands land; registers nothing."""


def register(subparsers) -> None:
    return None
