"""Placeholder until the 'demo' commands land; registers nothing."""


def register(subparsers) -> None:
    return None
