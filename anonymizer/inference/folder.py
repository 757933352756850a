"""Anonymize many inputs: photos, videos and folders (recursively, mirroring the tree).

Fail closed, per file: a file that cannot be read or anonymized is reported with its error and
gets no output; the other files are still processed. Outputs are written atomically, so a
killed run leaves no half file, and a rerun skips outputs that exist (resume). Inputs are never
overwritten: an output folder equal to or inside an input folder is refused up front.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from fdf.atomic import atomic_write_text
from fdf.errors import FdfError

from .image import AnonymizeConfig, ImageAnonymizer
from .io import is_image_path, read_image, write_image

log = logging.getLogger(__name__)

PREVIEW_DIR = "_previews"


class OutputPlanError(FdfError):
    """The output folder would overwrite or nest inside the inputs."""


@dataclass
class FileResult:
    """What happened to one input file: status is "done", "skipped" (output exists) or "failed"."""

    input: str
    output: str | None
    kind: str
    status: str
    faces: int | None = None
    frames: int | None = None
    error: str | None = None
    seconds: float = 0.0
    boxes: list | None = field(default=None, repr=False)


@dataclass
class RunReport:
    """All file results of one run."""

    results: list[FileResult]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "skipped": 0, "failed": 0}
        for r in self.results:
            out[r.status] += 1
        return out

    def to_dict(self) -> dict:
        files = []
        for r in self.results:
            d = asdict(r)
            d.pop("boxes")
            files.append(d)
        return {"counts": self.counts(), "faces": sum(r.faces or 0 for r in self.results), "files": files}


@dataclass
class PlannedFile:
    source: Path
    output: Path
    kind: str  # "image" or "video"
    error: str | None = None


def _kind(path: Path) -> str | None:
    from anonymizer.video import is_video_path

    if is_image_path(path):
        return "image"
    if is_video_path(path):
        return "video"
    return None


def _output_name(rel: Path, kind: str) -> Path:
    if kind == "video":
        from anonymizer.video import output_suffix

        return rel.with_suffix(output_suffix(rel.suffix))
    return rel


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def plan_outputs(inputs: list[str | os.PathLike], out_dir: str | os.PathLike) -> list[PlannedFile]:
    """Map every input file to its output path; entries with ``error`` set are not processed.

    Files given directly go to OUT_DIR/<name>; a folder's files go to OUT_DIR/<path inside the
    folder>. Hidden files and files that are neither photos nor videos in folders are ignored.
    """
    if not inputs:
        raise OutputPlanError("no inputs given")
    out = Path(out_dir).resolve()
    planned: list[PlannedFile] = []
    for raw in inputs:
        src = Path(raw)
        if src.is_dir():
            if _is_within(out, src.resolve()):
                raise OutputPlanError(f"output folder {out} is inside input folder {src}; choose a folder outside it")
            for path in sorted(src.rglob("*")):
                rel = path.relative_to(src)
                if path.is_file() and not any(part.startswith(".") for part in rel.parts):
                    kind = _kind(path)
                    if kind:
                        planned.append(PlannedFile(path, out / _output_name(rel, kind), kind))
        elif src.is_file():
            kind = _kind(src)
            if kind is None:
                planned.append(PlannedFile(src, out / src.name, "unknown", f"{src}: not a photo or video file name"))
            else:
                planned.append(PlannedFile(src, out / _output_name(Path(src.name), kind), kind))
        else:
            planned.append(PlannedFile(src, out / src.name, "unknown", f"{src}: no such file or folder"))
    sources = {p.source.resolve() for p in planned}
    seen: dict[Path, Path] = {}
    for p in planned:
        if p.error:
            continue
        if p.output in sources:
            p.error = f"{p.source}: output {p.output} would overwrite an input"
        elif p.output in seen:
            p.error = f"{p.source}: output {p.output} collides with that of {seen[p.output]}"
        else:
            seen[p.output] = p.source
    return planned


def write_preview(path: Path, original_rgb: np.ndarray, anonymized_rgb: np.ndarray) -> None:
    """Side by side, original left, anonymized right, at most 1600 px wide (JPEG, no metadata)."""
    import cv2

    both = np.concatenate([original_rgb, anonymized_rgb], axis=1)
    scale = min(1.0, 1600 / both.shape[1])
    if scale < 1:
        both = cv2.resize(both, (max(1, int(both.shape[1] * scale)), max(1, int(both.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    write_image(path, both, jpeg_quality=85)


def anonymize_image_file(anon: ImageAnonymizer, item: PlannedFile, preview_dir: Path | None) -> FileResult:
    """Read, anonymize and write one photo; raises on any failure (nothing written then)."""
    from .io import to_working_rgb

    image = read_image(item.source, anon.config.max_pixels)
    result = anon.anonymize_loaded(image)
    write_image(item.output, result.pixels, image.icc_profile, anon.config.jpeg_quality)
    if preview_dir is not None:
        # a.png and a.jpg in one folder must not share a preview name.
        name = f"{item.output.stem}_{item.output.suffix.lstrip('.').lower()}.jpg"
        write_preview(preview_dir / name, image.rgb, to_working_rgb(result.pixels))
    return FileResult(str(item.source), str(item.output), "image", "done", faces=len(result.faces),
                      boxes=[f.to_record() for f in result.faces])


def anonymize_paths(
    inputs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: AnonymizeConfig | None = None,
    video_config=None,
    overwrite: bool = False,
    boxes_json: str | os.PathLike | None = None,
    preview: bool = False,
    progress: bool | None = None,
) -> RunReport:
    """Anonymize photos, videos and folders into ``out_dir``; see the module doc for guarantees.

    ``video_config``: :class:`anonymizer.video.VideoConfig` (None: defaults). ``boxes_json``:
    write the faces found per file (this run's files) to that JSON file. ``preview``: write
    side-by-side previews to OUT_DIR/_previews/ (they show the ORIGINAL faces: keep them private).
    """
    from tqdm import tqdm

    config = config or AnonymizeConfig()
    planned = plan_outputs(inputs, out_dir)
    anon = ImageAnonymizer(config)
    out_root = Path(out_dir)
    results: list[FileResult] = []
    # disable=None: tqdm shows the bar only on a terminal.
    for item in tqdm(planned, desc="anonymize", unit="file", disable=None if progress is None else not progress):
        t0 = time.perf_counter()
        if item.error:
            log.error("%s", item.error)
            results.append(FileResult(str(item.source), None, item.kind, "failed", error=item.error))
            continue
        if item.output.exists() and not overwrite:
            results.append(FileResult(str(item.source), str(item.output), item.kind, "skipped"))
            continue
        preview_dir = None
        if preview:
            preview_dir = out_root / PREVIEW_DIR / item.output.parent.relative_to(out_root.resolve())
        try:
            if item.kind == "image":
                res = anonymize_image_file(anon, item, preview_dir)
            else:
                from anonymizer.video import anonymize_video

                res = anonymize_video(item.source, item.output, anon, video_config)
        except Exception as exc:  # noqa: BLE001 - fail closed per file: report it, write nothing, go on
            msg = str(exc) if isinstance(exc, FdfError) else f"{item.source}: {type(exc).__name__}: {exc}"
            log.error("failed, no output written: %s", msg)
            results.append(FileResult(str(item.source), None, item.kind, "failed", error=msg))
            continue
        res.seconds = round(time.perf_counter() - t0, 3)
        results.append(res)
    report = RunReport(results)
    if boxes_json is not None:
        boxes = {r.input: r.boxes for r in results if r.status == "done" and r.boxes is not None}
        atomic_write_text(boxes_json, json.dumps(boxes, indent=1))
    return report
