"""What a build did: per stage, its counts, failures by reason and the time it took."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from fdf.atomic import atomic_write_text


@dataclass
class StageSummary:
    """One stage: ``counts`` (what it produced), ``failures`` (reason -> count), seconds."""

    name: str
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    skipped: bool = False  # finished by an earlier run


@dataclass
class BuildSummary:
    """The whole build: where its outputs are, each stage, and the backend it ran on."""

    out_dir: str
    manifest: str
    download_dir: str
    faces_dir: str
    selected_dir: str
    report_dir: str | None = None
    stages: list[StageSummary] = field(default_factory=list)
    backend: dict = field(default_factory=dict)
    seconds: float = 0.0

    def stage(self, name: str) -> StageSummary | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    def format_text(self) -> str:
        """The final summary the CLI prints: one line per stage, then where things are."""
        lines = []
        for s in self.stages:
            counts = ", ".join(f"{k}={v}" for k, v in s.counts.items())
            fails = ", ".join(f"{k}={v}" for k, v in s.failures.items()) or "none"
            lines.append(f"{s.name:<9} {s.seconds:7.1f} s  {counts}  | failures/drops: {fails}")
        lines.append(f"total     {self.seconds:7.1f} s on {self.backend.get('name', 'loky')}")
        if self.stage("select"):
            lines.append(f"selected faces: {self.selected_dir}")
        if self.report_dir:
            lines.append(f"report:         {self.report_dir}/index.html")
        return "\n".join(lines)
