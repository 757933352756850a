"""An anonymize config file: the photo settings and the video settings, read by the project's
one loader (:mod:`fdf.config_file`), so ``fdf anonymize --config FILE`` takes the same YAML or
TOML (with ``base:``) as builds and training runs::

    anonymize: {mode: gan, seed: 3, detect: {threshold: 0.3}, face_mask: outline}
    video: {crf: 20, detect_every: 2, tracker: {hold_frames: 20}}

Command-line flags are overrides of these keys, applied before validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fdf.config_file import build_config, config_dict, read_config, with_overrides

from .inference import AnonymizeConfig
from .video import VideoConfig


@dataclass
class AnonymizeSettings:
    """Everything ``fdf anonymize`` is configured by: ``anonymize`` (photos, and each frame of a
    video) and ``video`` (encoding, tracking, checks across frames)."""

    anonymize: AnonymizeConfig = field(default_factory=AnonymizeConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    def to_dict(self) -> dict:
        return config_dict(self)


def load_anonymize_settings(path: str | Path | None = None, overrides: dict | None = None) -> AnonymizeSettings:
    """The settings of a config file (None: the defaults) with ``overrides`` (dotted keys such as
    ``{"anonymize.seed": 3}``) applied before validation."""
    values = read_config(path, "anonymize config") if path is not None else {}
    return build_config(AnonymizeSettings, with_overrides(values, overrides or {}), "anonymize config")
