"""A gallery of other photos of the same people: the attacker who knows the person from elsewhere.

Comparing a replaced face with its own original asks "is this still that photo's face?". An
attacker more often holds *other* photos of the person. ``manifests/people_gallery.json`` says
which files show which person (the sign-language clips' signers); a person's template holds the
descriptors, by dlib and by SFace, of the main face in a few frames of each of their *other* files.

    gallery = Gallery.from_json("manifests/people_gallery.json")
    template = gallery.template_for("again.mkv")     # signer_a, from no.mkv; None: no gallery
    template.dlib_distance(dlib_descriptor) < 0.6, template.sface_similarity(sface_descriptor) >= 0.363

Files are matched on their base name, so ``clips/again.mkv`` and ``again.mkv#40`` (a frame) are
the same source.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from fdf.errors import FdfError

from ..media import is_image_path, read_image
from .photo import Judges

log = logging.getLogger(__name__)

#: Frames taken, evenly spaced, from each gallery video.
FRAMES_PER_VIDEO = 5


class GalleryError(FdfError):
    """The gallery file or one of its sources cannot be used."""


@dataclass
class Template:
    """One person's descriptors from files other than the one judged.

    A face is compared with every gallery face and the scores averaged (score fusion). The
    distance to the *mean* descriptor would favour strangers, because a mean lies nearer the
    average face: on the signers (a frame of each clip against each other person's gallery,
    40 pairs) it put 15 strangers under dlib's 0.6 and 5 over SFace's 0.363; averaged scores
    put 9 and 1, and every frame still matches its own person (dlib <= 0.47, SFace >= 0.62).
    """

    person: str
    dlib: np.ndarray  # K x 128 dlib descriptors (K may be 0)
    sface: np.ndarray  # K x 128 unit SFace descriptors (K may be 0)

    def dlib_distance(self, descriptor: np.ndarray) -> float | None:
        """Mean dlib distance from ``descriptor`` to the gallery faces (None: none described)."""
        if not len(self.dlib):
            return None
        return float(np.linalg.norm(self.dlib - np.asarray(descriptor, np.float32)[None], axis=1).mean())

    def sface_similarity(self, descriptor: np.ndarray) -> float | None:
        """Mean SFace cosine between ``descriptor`` and the gallery faces (None: none described)."""
        if not len(self.sface):
            return None
        d = np.asarray(descriptor, np.float32)
        return float((self.sface @ (d / max(np.linalg.norm(d), 1e-12))).mean())


def source_name(name: str) -> str:
    """The file a judged image came from: base name, without a ``#frame`` suffix."""
    return Path(str(name).split("#", 1)[0]).name


def read_people(path: str | Path) -> tuple[dict[str, list[str]], Path]:
    """``{person: [file names]}`` and the root folder the names are in (relative to the JSON)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
        people = {str(k): [str(f) for f in v] for k, v in doc["people"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as exc:
        raise GalleryError(f"{path}: not a people gallery ({{'people': {{person: [files]}}}}): {exc}") from None
    seen: dict[str, str] = {}
    for person, files in people.items():
        for f in files:
            if source_name(f) in seen:
                raise GalleryError(f"{path}: {f} is listed for {seen[source_name(f)]} and {person}")
            seen[source_name(f)] = person
    return people, (path.parent / doc.get("root", ".")).resolve()


def _frames(path: Path) -> list[np.ndarray]:
    """A photo, or FRAMES_PER_VIDEO evenly spaced frames of a video, as RGB uint8."""
    if is_image_path(path):
        return [read_image(path).rgb]

    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
        w, h = meta["size"]
        frames = [np.frombuffer(f, np.uint8).reshape(h, w, 3).copy() for f in reader]
    finally:
        reader.close()
    if not frames:
        raise GalleryError(f"{path}: no frames")
    picks = np.linspace(0, len(frames) - 1, min(FRAMES_PER_VIDEO, len(frames))).round().astype(int)
    return [frames[i] for i in picks]


class Gallery:
    """Descriptors of every gallery file's main face (the largest), by dlib and by SFace."""

    def __init__(self, people: dict[str, list[str]], root: str | Path, judges=None) -> None:

        self.people = people
        self.root = Path(root)
        self.person_of = {source_name(f): p for p, files in people.items() for f in files}
        judges = judges or Judges()
        #: source name -> (dlib descriptors K x 128, SFace descriptors K x 128)
        self.descriptors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for files in people.values():
            for f in files:
                path = self.root / f
                if not path.is_file():
                    raise GalleryError(f"gallery file {path} is missing")
                dlib_d, sface_d = [], []
                for frame in _frames(path):
                    d, s = judges.describe_main_face(frame)
                    if d is not None:
                        dlib_d.append(d)
                    if s is not None:
                        sface_d.append(s)
                self.descriptors[source_name(f)] = (
                    np.array(dlib_d, np.float32).reshape(-1, 128),
                    np.array(sface_d, np.float32).reshape(-1, 128),
                )
        log.info("gallery: %d people, %d files", len(people), len(self.descriptors))

    @classmethod
    def from_json(cls, path: str | Path, root: str | Path | None = None, judges=None) -> Gallery:
        """The gallery of a people JSON (``root``: where its files are; default the JSON's own)."""
        people, own_root = read_people(path)
        return cls(people, root if root is not None else own_root, judges)

    def template_for(self, name: str) -> Template | None:
        """The person's template from their other files (None: not in the gallery, or no other file)."""
        person = self.person_of.get(source_name(name))
        if person is None:
            return None
        return self.person_template(person, exclude=name)

    def person_template(self, person: str, exclude: str | None = None) -> Template | None:
        """``person``'s template from all their files but ``exclude`` (None: no file left)."""
        files = [source_name(f) for f in self.people[person]]
        files = [f for f in files if exclude is None or f != source_name(exclude)]
        if not files:
            return None
        return Template(
            person,
            np.concatenate([self.descriptors[f][0] for f in files]),
            np.concatenate([self.descriptors[f][1] for f in files]),
        )
