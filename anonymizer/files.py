"""Anonymize many inputs: photos, videos and folders (recursively, mirroring the tree).

Fail closed, per file: a file that cannot be read or anonymized is reported with its error and
gets no output; the other files are still processed. Outputs are written atomically, so a
killed run leaves no half file (the next run removes its hidden temporaries), and a rerun skips
outputs that exist (resume); one run at a time may write an output folder. Inputs are never
overwritten: an output folder equal to or inside an input folder is refused up front.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from filelock import FileLock, Timeout
from tqdm import tqdm

from fdf.atomic import atomic_write_text
from fdf.errors import FdfError

from .inference.boxes_in import BoxesEntry, faces_to_replace, match_entries, read_boxes_in
from .inference.image import AnonymizeConfig, ImageAnonymizer
from .inference.results import FileResult, RunReport
from .media import is_image_path, read_image, to_working_rgb, write_image
from .video import anonymize_video, is_video_path, output_suffix

log = logging.getLogger(__name__)

PREVIEW_DIR = "_previews"


class OutputPlanError(FdfError):
    """The output folder would overwrite or nest inside the inputs."""


@dataclass
class PlannedFile:
    source: Path
    output: Path
    kind: str  # "image" or "video"
    error: str | None = None
    boxes: BoxesEntry | None = None  # --boxes-in: the faces to replace and keep


def _kind(path: Path) -> str | None:

    if is_image_path(path):
        return "image"
    if is_video_path(path):
        return "video"
    return None


def _output_name(rel: Path, kind: str) -> Path:
    if kind == "video":
        return rel.with_suffix(output_suffix(rel.suffix))
    return rel


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _real(path: Path) -> Path:
    """``path`` with every symlink resolved (a loop or a missing tail is left as it is, never raised)."""
    return Path(os.path.realpath(path))


def _walk(folder: Path) -> list[Path]:
    """Files under ``folder`` in sorted order, hidden names skipped. Symlinked folders are
    followed, but each real folder is entered once, so a link loop ends instead of running away."""
    found = []
    visited = {_real(folder)}
    for root, dirs, files in os.walk(folder, followlinks=True):
        keep = []
        for d in sorted(dirs):
            real = _real(Path(root) / d)
            if not d.startswith(".") and real not in visited:
                visited.add(real)
                keep.append(d)
        dirs[:] = keep
        found.extend(Path(root) / f for f in files if not f.startswith("."))
    return sorted(found)


def plan_outputs(inputs: list[str | os.PathLike], out_dir: str | os.PathLike) -> list[PlannedFile]:
    """Map every input file to its output path; entries with ``error`` set are not processed.

    Files given directly go to OUT_DIR/<name>; a folder's files go to OUT_DIR/<path inside the
    folder>. Hidden files and files that are neither photos nor videos in folders are ignored.
    Every output is checked by its real path (symlinks in OUT resolved): one that would land on
    an input, or inside an input folder, is an error, so an input is never written.
    """
    if not inputs:
        raise OutputPlanError("no inputs given")
    out = _real(Path(out_dir))
    planned: list[PlannedFile] = []
    input_folders: list[Path] = []
    for raw in inputs:
        src = Path(raw)
        try:
            is_dir, is_file = src.is_dir(), src.is_file()
        except OSError as exc:  # e.g. a symlink loop on some Pythons
            is_dir = is_file = False
            planned.append(PlannedFile(src, out / src.name, "unknown", f"{src}: cannot be read ({exc})"))
            continue
        if is_dir:
            if _is_within(out, _real(src)):
                raise OutputPlanError(f"output folder {out} is inside input folder {src}; choose a folder outside it")
            input_folders.append(_real(src))
            for path in _walk(src):
                rel = path.relative_to(src)
                if path.is_file():
                    kind = _kind(path)
                    if kind:
                        planned.append(PlannedFile(path, out / _output_name(rel, kind), kind))
        elif is_file:
            kind = _kind(src)
            if kind is None:
                planned.append(PlannedFile(src, out / src.name, "unknown", f"{src}: not a photo or video file name"))
            else:
                planned.append(PlannedFile(src, out / _output_name(Path(src.name), kind), kind))
        elif src.is_symlink():
            planned.append(
                PlannedFile(
                    src, out / src.name, "unknown", f"{src}: a symlink that leads nowhere (missing target or a loop)"
                )
            )
        else:
            planned.append(PlannedFile(src, out / src.name, "unknown", f"{src}: no such file or folder"))
    _check_collisions(planned, input_folders)
    return planned


def _check_collisions(planned: list[PlannedFile], input_folders: list[Path]) -> None:
    """Mark outputs that would overwrite an input (by real path) or collide with another output."""
    sources = {_real(p.source) for p in planned if not p.error}
    seen: dict[Path, Path] = {}
    for p in planned:
        if p.error:
            continue
        real = _real(p.output)
        if real in sources or any(_is_within(real, folder) for folder in input_folders):
            where = "" if real == p.output else f" (it resolves to {real})"
            p.error = f"{p.source}: output {p.output} would overwrite an input or write inside an input folder{where}"
        elif real in seen:
            p.error = f"{p.source}: output {p.output} collides with that of {seen[real]}"
        else:
            seen[real] = p.source


def write_preview(path: Path, original_rgb: np.ndarray, anonymized_rgb: np.ndarray) -> None:
    """Side by side, original left, anonymized right, at most 1600 px wide (JPEG, no metadata)."""

    both = np.concatenate([original_rgb, anonymized_rgb], axis=1)
    scale = min(1.0, 1600 / both.shape[1])
    if scale < 1:
        both = cv2.resize(
            both, (max(1, int(both.shape[1] * scale)), max(1, int(both.shape[0] * scale))), interpolation=cv2.INTER_AREA
        )
    write_image(path, both, jpeg_quality=85)


def anonymize_image_file(anon: ImageAnonymizer, item: PlannedFile, preview_dir: Path | None) -> FileResult:
    """Read, anonymize and write one photo; raises on any failure (nothing written then)."""

    image = read_image(item.source, anon.config.max_pixels)
    kept = 0
    if item.boxes is None:
        result = anon.anonymize_loaded(image)
    else:
        faces, kept = faces_to_replace(item.boxes, anon, image.rgb)
        result = anon.render(image.pixels, image.rgb, faces, [anon.config.seed + i for i in range(len(faces))])
    write_image(item.output, result.pixels, image.icc_profile, anon.config.jpeg_quality)
    if preview_dir is not None:
        # a.png and a.jpg in one folder must not share a preview name.
        name = f"{item.output.stem}_{item.output.suffix.lstrip('.').lower()}.jpg"
        write_preview(preview_dir / name, image.rgb, to_working_rgb(result.pixels))
    return FileResult(
        str(item.source),
        str(item.output),
        "image",
        "done",
        faces=len(result.faces),
        regenerated=result.regenerated,
        blurred=result.blurred,
        kept=kept,
        boxes=[f.to_record() for f in result.faces],
    )


def anonymize_paths(
    inputs: list[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: AnonymizeConfig | None = None,
    video_config=None,
    overwrite: bool = False,
    boxes_json: str | os.PathLike | None = None,
    preview: bool = False,
    progress: bool | None = None,
    boxes_in: str | os.PathLike | None = None,
) -> RunReport:
    """Anonymize photos, videos and folders into ``out_dir``; see the module doc for guarantees.

    ``video_config``: :class:`anonymizer.video.VideoConfig` (None: defaults). ``boxes_json``:
    write the faces found per file (this run's files) to that JSON file. ``preview``: write
    side-by-side previews to OUT_DIR/_previews/ (they show the ORIGINAL faces: keep them private).
    ``boxes_in``: a JSON file of faces to replace or keep per photo (see :mod:`.boxes_in`).
    """
    config = config or AnonymizeConfig()
    planned = plan_outputs(inputs, out_dir)
    if boxes_in is not None:
        for i, entry in match_entries(read_boxes_in(boxes_in), planned, _real(Path(out_dir))).items():
            planned[i].boxes = entry
    out_root = Path(out_dir)
    with _output_lock(out_root):
        report = _anonymize_planned(planned, out_root, config, video_config, overwrite, preview, progress)
    if boxes_json is not None:
        boxes = {r.input: r.boxes for r in report.results if r.status == "done" and r.boxes is not None}
        atomic_write_text(boxes_json, json.dumps(boxes, indent=1))
    return report


def lock_path(out_root: Path) -> Path:
    """The lock of an output folder: in the temp folder, named by a hash of its real path, so
    the output holds only outputs."""
    digest = hashlib.sha256(os.path.realpath(out_root).encode("utf-8", "surrogateescape")).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"fdf-anonymize-{digest}.lock"


@contextlib.contextmanager
def _output_lock(out_root: Path):
    """One run at a time per output folder; then the leftovers of a killed run (hidden
    ``.NAME.XXXX.tmp`` files of atomic writes) can be removed safely before starting."""

    out_root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(out_root)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputPlanError(
            f"{out_root} is in use by another fdf anonymize run; wait for it or use another --out"
        ) from None
    try:
        removed = _remove_stale_temporaries(out_root)
        if removed:
            log.info("removed %d partial files left by a killed run in %s", removed, out_root)
        yield
    finally:
        lock.release()


_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # fdf.atomic's ".NAME.XXXXXXXX.tmp"


def _remove_stale_temporaries(out_root: Path) -> int:
    """Delete atomic-write leftovers under ``out_root``, never following a symlinked folder
    (one may point into the inputs)."""
    count = 0
    for root, _dirs, files in os.walk(out_root, followlinks=False):
        for name in files:
            if _TEMPORARY.match(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(root, name))
                    count += 1
    return count


def _anonymize_planned(
    planned: list[PlannedFile],
    out_root: Path,
    config: AnonymizeConfig,
    video_config,
    overwrite: bool,
    preview: bool,
    progress: bool | None,
) -> RunReport:

    anon = ImageAnonymizer(config)
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
                res = anonymize_video(item.source, item.output, anon, video_config)
        except Exception as exc:  # noqa: BLE001 - fail closed per file: report it, write nothing, go on
            msg = str(exc) if isinstance(exc, FdfError) else f"{item.source}: {type(exc).__name__}: {exc}"
            log.error("failed, no output written: %s", msg)
            results.append(FileResult(str(item.source), None, item.kind, "failed", error=msg))
            continue
        res.seconds = round(time.perf_counter() - t0, 3)
        results.append(res)
    return RunReport(results)
