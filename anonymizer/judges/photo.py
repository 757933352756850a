"""The second opinion on a whole photo: YuNet finds the faces, SFace says who they are.

For each face of the original (a box), :meth:`Judges.second_opinion` reports:

* whether YuNet finds a face at that place in the original, and in the output (detection
  retention by a detector the anonymizer does not use);
* the SFace cosine between the original face and the output face that YuNet found at the same
  place, each aligned on its own five YuNet points: what an attacker with a face detector and a
  recogniser gets (``similarity``; no face found: nothing to recognise, as dlib's rule in
  :mod:`anonymizer.privacy`);
* the output described at the *original's* five points (``output_aligned``): the face that is
  there whether or not a detector still finds it, for realism (Fréchet distance) and a stricter
  re-identification count;
* against a gallery template of the person (other photos), the same output face's cosine, and
  the unchanged original's, which says whether the gallery recognises the person at all.

The original's five points come from YuNet at the face's place, else from dlib's 68 points
(``shape68``) when the caller has them, so small and profile faces YuNet misses are still
described.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from fdf.annotate import AnalyzerConfig, FaceAnalyzer
from fdf.boxes import iou, same_place

from .sface import SAME_PERSON, SFaceRecognizer, cosine_similarity, landmarks_from_68
from .yunet import DEFAULT_SCORE, YuNetDetector, YuNetFace

log = logging.getLogger(__name__)


@dataclass
class SecondOpinion:
    """YuNet's and SFace's verdict on one face (see the module doc). Descriptors are unit 128-d."""

    yunet_original: bool = False
    yunet_output: bool = False
    similarity: float | None = None
    similarity_aligned: float | None = None
    gallery_similarity: float | None = None
    gallery_similarity_original: float | None = None
    original: np.ndarray | None = field(default=None, repr=False)
    output_aligned: np.ndarray | None = field(default=None, repr=False)


def at_place(faces: list[YuNetFace], box) -> YuNetFace | None:
    """The face of ``faces`` at ``box``'s place (centre in each other; best overlap wins)."""
    here = [f for f in faces if same_place(f.bbox, box)]
    return max(here, key=lambda f: iou(f.bbox, box)) if here else None


class Judges:
    """YuNet and SFace, loaded once; ``threshold`` is SFace's same-person cosine."""

    def __init__(
        self, yunet_score: float = DEFAULT_SCORE, max_side: int | None = 1600, threshold: float = SAME_PERSON
    ) -> None:
        self.yunet = YuNetDetector(yunet_score, max_side)
        self.sface = SFaceRecognizer()
        self.threshold = threshold
        self._analyzer = None

    def second_opinion(
        self,
        original: np.ndarray,
        output: np.ndarray,
        boxes: list,
        shapes68: list | None = None,
        templates: list | None = None,
    ) -> list[SecondOpinion]:
        """One :class:`SecondOpinion` per box (RGB uint8 photos of one size).

        ``shapes68``: per box dlib's 68 points on the original or None; ``templates``: per box
        the person's :class:`~anonymizer.judges.gallery.Template` or None.
        """
        found_original = self.yunet.detect(original)
        found_output = self.yunet.detect(output) if output is not original else found_original
        verdicts = []
        for i, box in enumerate(boxes):
            v = SecondOpinion()
            here = at_place(found_original, box)
            v.yunet_original = here is not None
            points = (
                here.landmarks
                if here is not None
                else (landmarks_from_68(shapes68[i]) if shapes68 and shapes68[i] is not None else None)
            )
            there = at_place(found_output, box)
            v.yunet_output = there is not None
            if points is not None:
                v.original = self.sface.embed(original, points)
                v.output_aligned = self.sface.embed(output, points)
                v.similarity_aligned = cosine_similarity(v.original, v.output_aligned)
                out = self.sface.embed(output, there.landmarks) if there is not None else None
                if out is not None:
                    v.similarity = cosine_similarity(v.original, out)
                template = templates[i] if templates else None
                if template is not None:
                    v.gallery_similarity_original = template.sface_similarity(v.original)
                    if out is not None:
                        v.gallery_similarity = template.sface_similarity(out)
            verdicts.append(v)
        return verdicts

    def describe_main_face(self, rgb: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """dlib and SFace descriptors of the largest face in a photo (None: not found/described)."""

        if self._analyzer is None:
            self._analyzer = FaceAnalyzer(AnalyzerConfig())
        described = [f for f in self._analyzer.analyze(rgb) if f.embedding is not None]
        biggest = max(described, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]), default=None)
        faces = self.yunet.detect(rgb)
        largest = max(faces, key=lambda f: (f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]), default=None)
        return (
            None if biggest is None else biggest.embedding,
            None if largest is None else self.sface.embed(rgb, largest.landmarks),
        )
