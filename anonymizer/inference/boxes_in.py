"""Your own face boxes, instead of or beside the detector's: ``fdf anonymize --boxes-in FILE``.

FILE is JSON: an object whose keys name input photos and whose values say which faces to replace
and which to leave as they are. Boxes are ``[x0, y0, x1, y1]`` in photo pixels of the photo as
shown (after its EXIF rotation), as ``--boxes-json`` writes them::

    {
      "photos/beach.jpg": [{"bbox": [120, 80, 220, 200]},
                           {"bbox": [400, 90, 480, 190], "keep": true}],
      "team.png": {"faces": [[10, 10, 60, 70]], "keep": [[300, 40, 350, 100]], "detect": true}
    }

* A list is what ``--boxes-json`` writes (records with ``bbox``; other fields such as ``score``
  and ``keypoints`` are ignored), with ``"keep": true`` on a face to leave untouched.
* An object has ``faces`` and ``keep`` (lists of boxes) and ``detect``.
* ``detect`` (default false): also run the detector on that photo. Without it only the given
  faces are replaced: your detections replace ours.
* A face (given or detected) whose centre lies inside a kept box, or the other way round, is
  left untouched; a detected face at the place of a given face is the same face, replaced once.
  Photos the file does not name are detected as usual.

Keys match an input by the path given on the command line, by its real path, or, for a photo
found in a folder, by its path inside that folder (``sub/a.jpg``). A key that matches no input,
or more than one entry for one photo, is an error before any work, as is a malformed box.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from fdf.boxes import same_place
from fdf.errors import FdfError

from .detect import FaceBox, add_keypoints

MAX_BOXES_BYTES = 64 * 2**20


class BoxesInError(FdfError):
    """The --boxes-in file cannot be read or does not say which faces to replace."""


@dataclass
class BoxesEntry:
    """One photo's entry: faces to replace, boxes to leave untouched, and whether to detect too."""

    faces: list[tuple[float, float, float, float]] = field(default_factory=list)
    keep: list[tuple[float, float, float, float]] = field(default_factory=list)
    detect: bool = False


def _box(value, where: str) -> tuple[float, float, float, float]:
    if isinstance(value, dict):
        value = value.get("bbox")
    ok = (
        isinstance(value, (list, tuple))
        and len(value) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )
    if not ok or not (value[2] > value[0] and value[3] > value[1]):
        raise BoxesInError(f"{where}: a box is [x0, y0, x1, y1] with x1 > x0 and y1 > y0, got {str(value)[:80]}")
    return tuple(float(v) for v in value)


def parse_entry(value, where: str) -> BoxesEntry:
    """A :class:`BoxesEntry` from one value of the file (list or object form, see the module doc)."""
    if isinstance(value, list):
        entry = BoxesEntry()
        for i, record in enumerate(value):
            keep = isinstance(record, dict) and record.get("keep", False)
            if isinstance(record, dict) and not isinstance(record.get("keep", False), bool):
                raise BoxesInError(f"{where}[{i}]: 'keep' must be true or false")
            (entry.keep if keep else entry.faces).append(_box(record, f"{where}[{i}]"))
        return entry
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"faces", "keep", "detect"})
        if unknown:
            raise BoxesInError(f"{where}: unknown keys {', '.join(unknown)} (known: faces, keep, detect)")
        detect = value.get("detect", False)
        if not isinstance(detect, bool):
            raise BoxesInError(f"{where}: 'detect' must be true or false")
        lists = {}
        for key in ("faces", "keep"):
            items = value.get(key, [])
            if not isinstance(items, list):
                raise BoxesInError(f"{where}: '{key}' must be a list of boxes")
            lists[key] = [_box(b, f"{where}.{key}[{i}]") for i, b in enumerate(items)]
        return BoxesEntry(lists["faces"], lists["keep"], detect)
    raise BoxesInError(f"{where}: expected a list of faces or an object with faces/keep/detect")


def read_boxes_in(path: str | os.PathLike) -> dict[str, BoxesEntry]:
    """Every entry of a --boxes-in file, by key."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BOXES_BYTES + 1)
    except OSError as exc:
        raise BoxesInError(f"--boxes-in {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BOXES_BYTES:
        raise BoxesInError(f"--boxes-in {path}: larger than {MAX_BOXES_BYTES // 2**20} MiB")
    try:
        values = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BoxesInError(f"--boxes-in {path} is not JSON: {str(exc)[:200]}") from None
    if not isinstance(values, dict):
        raise BoxesInError(f"--boxes-in {path}: expected an object keyed by photo path")
    return {str(key): parse_entry(value, f"--boxes-in {key!r}") for key, value in values.items()}


def match_entries(entries: dict[str, BoxesEntry], planned: list, out_root: Path) -> dict[int, BoxesEntry]:
    """Index in ``planned`` -> its entry. Raises for keys naming no input, entries for videos,
    and photos named by two keys."""
    names: dict[str, int] = {}
    for i, item in enumerate(planned):
        if item.error:
            continue
        for name in (
            str(item.source),
            os.path.realpath(item.source),
            item.output.relative_to(out_root).as_posix() if item.kind == "image" else None,
        ):
            if name is not None:
                names.setdefault(name, i)
    matched: dict[int, BoxesEntry] = {}
    by: dict[int, str] = {}
    for key, entry in entries.items():
        i = names.get(key, names.get(os.path.realpath(key)))
        if i is None:
            raise BoxesInError(f"--boxes-in names {key!r}, which is none of the inputs")
        if planned[i].kind != "image":
            raise BoxesInError(f"--boxes-in names {key!r}: boxes are for photos only, not videos")
        if i in matched:
            raise BoxesInError(f"--boxes-in names {planned[i].source} twice ({by[i]!r} and {key!r})")
        matched[i], by[i] = entry, key
    return matched


def faces_to_replace(entry: BoxesEntry, anon, rgb) -> tuple[list[FaceBox], int]:
    """The faces of one photo to replace, and how many found or given faces were kept as they are.

    ``anon``: the :class:`~anonymizer.inference.image.ImageAnonymizer` (its detector, and whether
    its mode needs keypoints)."""
    height, width = rgb.shape[:2]
    given = []
    for box in entry.faces:
        x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])
        if x1 <= x0 or y1 <= y0:
            raise BoxesInError(f"--boxes-in box {list(box)} lies outside the {width}x{height} photo")
        given.append(FaceBox((x0, y0, x1, y1), 1.0))
    found = [
        f for f in (anon.detect(rgb) if entry.detect else []) if not any(same_place(f.bbox, g.bbox) for g in given)
    ]
    candidates = given + found
    faces = [f for f in candidates if not any(same_place(f.bbox, k) for k in entry.keep)]
    if anon.needs_keypoints:
        add_keypoints(rgb, faces, anon.config.detect.detector)
    return faces, len(candidates) - len(faces)
