"""Placeholder until the 'sources' commands land; registers nothing."""


def register(subparsers) -> None:
    return None
