"""Privacy evaluation: does an anonymized photo or video still show who was in the original?

For each pair of matching files (same path under ORIGINALS and ANONYMIZED; videos may have
changed container, see :func:`anonymizer.video.output_suffix`):

* faces: faces found in the original (CenterFace), or given boxes (hand annotations), that dlib
  can describe (128-d descriptor). Both sides are described the same way: from a CenterFace box
  and dlib's landmarks fitted in it. A given box is described from the CenterFace detection at its
  place when there is one (else from the box itself): dlib's descriptor moves with the box its
  landmarks are fitted in, and on afw-dev the same face described from the annotated box and from
  CenterFace's is 0.38 apart (median), which would blur every distance;
* leaks: of those, faces whose identity survives: a face is still found in the output where the
  original was (CenterFace, centre inside the original box) and its descriptor lies within
  ``threshold`` (0.6, dlib's same-person distance) of the original's. Describing the output at
  the original's place whether or not a face is found there is no test: on afw-dev a black mask
  scores under 0.6 for 5 of 22 faces that way (dlib describes the head outline and hair, and
  different AFW people are under 0.6 from each other too);
* found in output: described faces where the output still shows a face (any identity);
* anonymized: faces whose box changed (at least half its pixels moved by more than 2 levels);
* metadata: EXIF, GPS, XMP, IPTC or comments left in an output photo; a video's container tags;
* videos: the above on every ``frame_step``-th frame, and the number of sampled frames with a leak;
* chance_match_rate: the share of pairs of original faces from *different* files that are within
  ``threshold`` of each other, i.e. how often a perfectly anonymized face (a new random person)
  would still count as a leak. On afw-dev it is about 10% (see benchmarks/results/anonymize.md);
* second judges (``judges`` in the report; :mod:`anonymizer.judges`): detection retention by
  CenterFace and by YuNet (of the faces each finds in the original, the share it still finds at
  the same place in the output), re-identification by SFace (the output face YuNet finds there
  within cosine 0.363 of the original's, each aligned on its own five points; ``aligned``: the
  output described at the original's points, found or not), and with a people gallery
  (``gallery``, e.g. manifests/people_gallery.json) re-identification of the output against
  *other* photos of the same person by dlib (mean distance < 0.6) and SFace (mean cosine >=
  0.363), beside how often the unchanged original matches that gallery.
  They are reported only; ``clean`` (the exit status) stays dlib's verdict.

    fdf evaluate-privacy ORIGINALS ANONYMIZED --json
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from tqdm import tqdm

from fdf.annotate import AnalyzerConfig, FaceAnalyzer
from fdf.annotate.identity import embedding_distance
from fdf.boxes import iou, same_place
from fdf.errors import FdfError

from .judges import Gallery, Judges
from .media import is_image_path, metadata_found, read_image
from .video import is_video_path, output_suffix, probe_video

log = logging.getLogger(__name__)

#: Video container tags that say where or who (phones write location; cameras the serial number).
SENSITIVE_VIDEO_TAGS = (
    "location",
    "com.apple.quicktime.location",
    "gps",
    "author",
    "artist",
    "serial",
    "make",
    "model",
)


class PrivacyEvalError(FdfError):
    """The folders to compare are missing or hold nothing to compare."""


@dataclass
class PrivacyConfig:
    """``threshold``: identity distance under which a face counts as leaked; ``detect_threshold``:
    CenterFace threshold for faces in the originals; ``frame_step``: sample every n-th video frame;
    ``change_level``: a pixel counts as changed when it moved by more than this (0-255)."""

    threshold: float = 0.6
    detect_threshold: float = 0.5
    frame_step: int = 10
    change_level: int = 2
    max_side: int | None = 1600
    second_judges: bool = True  # YuNet retention and SFace re-identification beside dlib's
    sface_threshold: float = 0.363  # SFace cosine at or above which two faces are one person
    yunet_score: float = 0.9  # YuNet's deployed score threshold (OpenCV Zoo's default)
    gallery: str | None = None  # people JSON (see anonymizer.judges.gallery); None: no gallery
    gallery_root: str | None = None  # where the gallery's files are (default: as the JSON says)


@dataclass
class FacePrivacy:
    """Per-face verdicts for one photo or frame."""

    faces: int = 0
    described: int = 0
    anonymized: int = 0
    refound: int = 0
    leaks: int = 0
    distances: list[float] = field(default_factory=list)
    #: per face found, in order: dlib distance from the output to the original (None: not described,
    #: or no face there any more) and to the person's gallery (None also without a gallery)
    own_dlib: list = field(default_factory=list)
    gallery_dlib: list = field(default_factory=list)
    #: per face found: the dlib descriptor of the output face at its place (None: none), to judge
    #: it against other people too (how often a stranger matches: the recogniser's own error)
    output_dlib: list = field(default_factory=list, repr=False)
    #: counts of the second judges and the gallery (see :data:`JUDGE_COUNTS`)
    judges: Counter = field(default_factory=Counter)
    #: per face, YuNet's and SFace's :class:`~anonymizer.judges.SecondOpinion` (None: not judged)
    opinions: list = field(default_factory=list, repr=False)


#: What ``judges`` counts, per face: found by CenterFace / YuNet in the original and still in the
#: output; described by SFace, its output found and described, leaks (own face; aligned at the
#: original's points); with a gallery: faces judged, originals matching it, outputs matching it.
JUDGE_COUNTS = (
    "centerface_found",
    "centerface_retained",
    "yunet_found",
    "yunet_retained",
    "sface_described",
    "sface_refound",
    "sface_leaks",
    "sface_aligned_leaks",
    "gallery_dlib_judged",
    "gallery_dlib_original_matches",
    "gallery_dlib_leaks",
    "gallery_sface_judged",
    "gallery_sface_original_matches",
    "gallery_sface_leaks",
)


@dataclass
class FilePrivacy:
    """Result for one pair of files."""

    file: str
    kind: str
    faces: int = 0
    described: int = 0
    anonymized: int = 0
    refound: int = 0
    leaks: int = 0
    metadata: list[str] = field(default_factory=list)
    frames_sampled: int | None = None
    frames_with_leak: int | None = None
    error: str | None = None
    min_distance: float | None = None
    judges: dict = field(default_factory=dict)


class PrivacyEvaluator:
    """Compares originals with anonymized versions; models load once."""

    def __init__(self, config: PrivacyConfig | None = None) -> None:
        self.config = config or PrivacyConfig()
        self.analyzer = FaceAnalyzer(
            AnalyzerConfig(threshold=self.config.detect_threshold, max_side=self.config.max_side)
        )
        self.output_analyzer = FaceAnalyzer(
            AnalyzerConfig(threshold=self.config.detect_threshold, max_side=self.config.max_side)
        )
        #: (file name, descriptor) of every described original face, for the chance-match rate.
        self.described: list[tuple[str, np.ndarray]] = []
        self._current = ""
        self.judges = None
        self.gallery = None
        if self.config.second_judges:
            self.judges = Judges(self.config.yunet_score, self.config.max_side, self.config.sface_threshold)
        if self.config.gallery:
            self.gallery = Gallery.from_json(self.config.gallery, self.config.gallery_root, self.judges or Judges())

    def compare_arrays(
        self, original: np.ndarray, anonymized: np.ndarray, known_boxes=None, source: str | None = None
    ) -> FacePrivacy:
        """Face verdicts for two RGB uint8 images of the same size.

        ``known_boxes`` (e.g. hand annotations, [x0, y0, x1, y1] each) replace detection in the original.
        ``source``: the file the images come from, for the gallery (default: the file being compared).
        """
        if original.shape != anonymized.shape:
            raise PrivacyEvalError(f"sizes differ: original {original.shape}, anonymized {anonymized.shape}")
        result = FacePrivacy()
        found, detected = self._original_faces(original, known_boxes)
        if not found:
            return result
        output_faces = self.output_analyzer.analyze(anonymized)
        template = self.gallery.template_for(source or self._current) if self.gallery is not None else None
        count = result.judges
        for face, by_centerface in zip(found, detected):
            result.faces += 1
            result.own_dlib.append(None)
            result.gallery_dlib.append(None)
            result.output_dlib.append(None)
            x0, y0, x1, y1 = (int(round(v)) for v in face.bbox)
            a, b = original[y0:y1, x0:x1].astype(np.int16), anonymized[y0:y1, x0:x1].astype(np.int16)
            if a.size and (np.abs(a - b).max(axis=2) > self.config.change_level).mean() >= 0.5:
                result.anonymized += 1
            here = [o for o in output_faces if same_place(face.bbox, o.bbox)]
            count["centerface_found"] += by_centerface
            count["centerface_retained"] += by_centerface and bool(here)
            if face.embedding is None:
                continue
            result.described += 1
            self.described.append((self._current, face.embedding))
            if template is not None and len(template.dlib):
                count["gallery_dlib_judged"] += 1
                count["gallery_dlib_original_matches"] += template.dlib_distance(face.embedding) < self.config.threshold
            dists = [(embedding_distance(face.embedding, o.embedding), o) for o in here if o.embedding is not None]
            if not dists:
                continue  # no face found there any more: nothing to re-identify
            result.refound += 1
            dist, closest = min(dists, key=lambda d: d[0])
            result.distances.append(round(dist, 4))
            result.own_dlib[-1], result.output_dlib[-1] = round(float(dist), 4), closest.embedding
            if dist < self.config.threshold:
                result.leaks += 1
            if template is not None and len(template.dlib):
                gallery = float(template.dlib_distance(closest.embedding))
                result.gallery_dlib[-1] = round(gallery, 4)
                count["gallery_dlib_leaks"] += gallery < self.config.threshold
        if self.judges is not None:
            result.opinions = self._second_opinion(original, anonymized, found, template, count)
        return result

    def _second_opinion(self, original, anonymized, found, template, count: Counter) -> list:
        """YuNet's and SFace's verdicts on the faces ``found`` (see :mod:`anonymizer.judges.photo`)."""
        opinions = self.judges.second_opinion(
            original, anonymized, [f.bbox for f in found], [f.landmarks68 for f in found], [template] * len(found)
        )
        threshold = self.config.sface_threshold
        for v in opinions:
            count["yunet_found"] += v.yunet_original
            count["yunet_retained"] += v.yunet_original and v.yunet_output
            if v.original is None:
                continue
            count["sface_described"] += 1
            count["sface_refound"] += v.similarity is not None
            count["sface_leaks"] += v.similarity is not None and v.similarity >= threshold
            count["sface_aligned_leaks"] += v.similarity_aligned >= threshold
            if v.gallery_similarity_original is not None:
                count["gallery_sface_judged"] += 1
                count["gallery_sface_original_matches"] += v.gallery_similarity_original >= threshold
                count["gallery_sface_leaks"] += v.gallery_similarity is not None and v.gallery_similarity >= threshold
        return opinions

    def original_faces(self, original: np.ndarray, known_boxes=None) -> list:
        """Faces of the original to judge, each with its descriptor (see the module doc)."""
        return self._original_faces(original, known_boxes)[0]

    def _original_faces(self, original: np.ndarray, known_boxes=None) -> tuple[list, list[bool]]:
        """The faces to judge, and per face whether CenterFace finds it in the original."""
        if known_boxes is None:
            faces = self.analyzer.analyze(original)
            return faces, [True] * len(faces)
        given = self.analyzer.analyze(original, known_faces=[{"bbox": list(b)} for b in known_boxes])
        all_detected = self.analyzer.analyze(original)
        described = [d for d in all_detected if d.embedding is not None]
        out, detected = [], []
        for face in given:
            here = [d for d in described if same_place(face.bbox, d.bbox)]
            if here:
                best = max(here, key=lambda d: iou(face.bbox, d.bbox))
                face = replace(face, embedding=best.embedding)
            out.append(face)
            detected.append(any(same_place(face.bbox, d.bbox) for d in all_detected))
        return out, detected

    def chance_match_rate(self, max_faces: int = 2000) -> float | None:
        """Share of cross-file pairs of original faces within the threshold (None: under 2 files)."""
        if len({name for name, _ in self.described}) < 2:
            return None
        step = max(1, len(self.described) // max_faces)  # bound the N^2 pairs on big folders
        names = np.array([n for n, _ in self.described[::step]])
        emb = np.stack([e for _, e in self.described[::step]])
        dist = np.linalg.norm(emb[:, None] - emb[None], axis=2)
        cross = names[:, None] != names[None]
        return round(float((dist[cross] < self.config.threshold).mean()), 4)

    def compare_images(self, original: Path, anonymized: Path, name: str) -> FilePrivacy:
        self._current = name
        orig, anon = read_image(original), read_image(anonymized)
        faces = self.compare_arrays(orig.rgb, anon.rgb)
        out = FilePrivacy(name, "image", metadata=metadata_found(anonymized.read_bytes()))
        _add(out, faces)
        return out

    def compare_videos(self, original: Path, anonymized: Path, name: str) -> FilePrivacy:

        self._current = name
        out = FilePrivacy(name, "video", frames_sampled=0, frames_with_leak=0)
        tags = probe_video(anonymized).metadata
        out.metadata = sorted(k for k in tags if any(s in k.lower() for s in SENSITIVE_VIDEO_TAGS))
        ra = imageio_ffmpeg.read_frames(str(original))
        rb = imageio_ffmpeg.read_frames(str(anonymized))
        try:
            ma, mb = next(ra), next(rb)
            (wa, ha), (wb, hb) = ma["size"], mb["size"]
            for index, (fa, fb) in enumerate(zip(ra, rb)):
                if index % self.config.frame_step:
                    continue
                a = np.frombuffer(fa, np.uint8).reshape(ha, wa, 3)
                b = np.frombuffer(fb, np.uint8).reshape(hb, wb, 3)[:ha, :wa]  # encoder padding to even sizes
                faces = self.compare_arrays(a, np.ascontiguousarray(b))
                _add(out, faces)
                out.frames_sampled += 1
                out.frames_with_leak += int(faces.leaks > 0)
        finally:
            ra.close()
            rb.close()
        return out


def _add(out: FilePrivacy, faces: FacePrivacy) -> None:
    out.faces += faces.faces
    out.described += faces.described
    out.anonymized += faces.anonymized
    out.refound += faces.refound
    out.leaks += faces.leaks
    if faces.judges:
        out.judges = dict(Counter(out.judges) + faces.judges)
    if faces.distances:
        best = min(faces.distances)
        out.min_distance = best if out.min_distance is None else min(out.min_distance, best)


@dataclass
class PrivacyReport:
    """All file results and the totals the acceptance criteria use."""

    files: list[FilePrivacy]
    missing: list[str]
    threshold: float
    chance_match_rate: float | None = None

    def totals(self) -> dict:
        ok = [f for f in self.files if f.error is None]
        described = sum(f.described for f in ok)
        leaks = sum(f.leaks for f in ok)
        faces = sum(f.faces for f in ok)
        sampled = sum(f.frames_sampled or 0 for f in ok)
        return {
            "files": len(self.files),
            "errors": sum(f.error is not None for f in self.files),
            "missing_outputs": len(self.missing),
            "faces": faces,
            "faces_described": described,
            "faces_anonymized": sum(f.anonymized for f in ok),
            "faces_found_in_output": sum(f.refound for f in ok),
            "leaks": leaks,
            "leak_rate": round(leaks / described, 4) if described else 0.0,
            "files_with_metadata": sum(bool(f.metadata) for f in ok),
            "video_frames_sampled": sampled,
            "video_frames_with_leak": sum(f.frames_with_leak or 0 for f in ok),
            "threshold": self.threshold,
            "chance_match_rate": self.chance_match_rate,
            "judges": judge_rates(sum((Counter(f.judges) for f in ok), Counter()), described, leaks),
        }

    @property
    def clean(self) -> bool:
        t = self.totals()
        return t["leaks"] == 0 and t["files_with_metadata"] == 0 and t["errors"] == 0 and t["missing_outputs"] == 0

    def to_dict(self) -> dict:
        return {"totals": self.totals(), "missing": self.missing, "files": [asdict(f) for f in self.files]}


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def judge_rates(count: Counter, dlib_described: int, dlib_leaks: int) -> dict:
    """The second judges' counts (:data:`JUDGE_COUNTS`) and the rates the acceptance reads."""
    c = {k: int(count.get(k, 0)) for k in JUDGE_COUNTS}
    c.update(
        {
            "centerface_retention": _rate(c["centerface_retained"], c["centerface_found"]),
            "yunet_retention": _rate(c["yunet_retained"], c["yunet_found"]),
            "dlib_reid_rate": _rate(dlib_leaks, dlib_described),
            "sface_reid_rate": _rate(c["sface_leaks"], c["sface_described"]),
            "sface_reid_rate_aligned": _rate(c["sface_aligned_leaks"], c["sface_described"]),
            "gallery_dlib_reid_rate": _rate(c["gallery_dlib_leaks"], c["gallery_dlib_judged"]),
            "gallery_dlib_original_match_rate": _rate(c["gallery_dlib_original_matches"], c["gallery_dlib_judged"]),
            "gallery_sface_reid_rate": _rate(c["gallery_sface_leaks"], c["gallery_sface_judged"]),
            "gallery_sface_original_match_rate": _rate(c["gallery_sface_original_matches"], c["gallery_sface_judged"]),
        }
    )
    return c


def matching_files(originals: Path, anonymized: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """(name, original, anonymized) pairs for photos and videos under ``originals``, and missing names."""
    pairs, missing = [], []
    for path in sorted(originals.rglob("*")):
        rel = path.relative_to(originals)
        if not path.is_file() or any(p.startswith(".") for p in rel.parts):
            continue
        if is_image_path(path):
            target = anonymized / rel
        elif is_video_path(path):
            target = anonymized / rel.with_suffix(output_suffix(rel.suffix))
        else:
            continue
        if target.is_file():
            pairs.append((str(rel), path, target))
        else:
            missing.append(str(rel))
    return pairs, missing


def evaluate_privacy(
    originals: str | os.PathLike, anonymized: str | os.PathLike, config: PrivacyConfig | None = None
) -> PrivacyReport:
    """Compare every photo/video under ``originals`` with its match under ``anonymized``."""

    config = config or PrivacyConfig()
    originals, anonymized = Path(originals), Path(anonymized)
    for folder in (originals, anonymized):
        if not folder.is_dir():
            raise PrivacyEvalError(f"{folder}: not a folder")
    pairs, missing = matching_files(originals, anonymized)
    if not pairs:
        raise PrivacyEvalError(f"no photo or video under {originals} has a match under {anonymized}")
    evaluator = PrivacyEvaluator(config)
    files = []
    for name, a, b in tqdm(pairs, desc="evaluate-privacy", unit="file", disable=None):
        try:
            if is_image_path(a):
                files.append(evaluator.compare_images(a, b, name))
            else:
                files.append(evaluator.compare_videos(a, b, name))
        except Exception as exc:  # noqa: BLE001 - one unreadable pair must not hide the others' results
            log.error("%s: %s", name, exc)
            files.append(FilePrivacy(name, "video" if is_video_path(a) else "image", error=str(exc)))
    return PrivacyReport(files, missing, config.threshold, evaluator.chance_match_rate())
