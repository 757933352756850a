"""Exceptions users see. Each carries a message that says what to fix."""


class FdfError(Exception):
    """Base class for errors that the CLI reports as one clear line (exit status 2)."""


class ManifestError(FdfError):
    """A manifest file is missing, unreadable or lacks required columns."""


class ConfigError(FdfError):
    """A config file is malformed or has unknown keys."""


class SourceError(FdfError):
    """A source file (YFCC dump, FDF metainfo, URL list, folder) cannot be read."""
