"""Placeholder until the 'serve' commands land; registers nothing."""


def register(subparsers) -> None:
    return None
