"""The per-photo pipeline: detect -> regions -> replacement patches -> composite.

    from anonymizer.inference import AnonymizeConfig, ImageAnonymizer
    anon = ImageAnonymizer(AnonymizeConfig(mode="blur"))
    result = anon.anonymize_rgb(rgb_uint8)          # result.pixels, result.faces

Any failure raises; callers write nothing for a photo whose anonymization raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from anonymizer.judges import SFaceRecognizer
from anonymizer.judges.sface import cosine_similarity, landmarks_from_68
from fdf.errors import FdfError

from ..media import DEFAULT_MAX_PIXELS, LoadedImage, to_working_rgb
from .composite import composite
from .detect import DetectConfig, FaceBox, add_keypoints, face_yaw, find_faces
from .face_mask import FaceMaskParams, masked_region
from .modes import MODES, FaceJob, GanMode, blur_patches, make_renderer, mask_patches
from .outcome import Blurred, Generated, Masked, Outcome, Skipped, for_mode
from .regions import FaceRegion, face_region
from .verify import describe_views, leak_distances, retry_seed, scene_faces

log = logging.getLogger(__name__)


class AnonymizeConfigError(FdfError):
    """An anonymization option is out of range."""


#: Region growth when neither the config nor the generator says otherwise.
DEFAULT_DILATION = 0.15
#: gan mode's ways to show the generated face: under a soft mask that follows the face, or the box.
FACE_MASKS = ("outline", "box")
#: gan mode's blur fallback: "auto" is the outline on photos and the box on video frames.
FALLBACK_MASKS = ("auto", *FACE_MASKS)


@dataclass
class AnonymizeConfig:
    """How to anonymize.

    ``mode``: gan (generated faces, default), blur, pixelate or mask. ``dilation``: grow each
    face box by this fraction of its size on every side before replacing it (None: in gan mode
    the generator's own ``mask_dilation``, the hole size it was trained to fill, else
    ``DEFAULT_DILATION``). ``feather``:
    blend margin around the replaced region, as a fraction of its size. ``checkpoint``/``device``:
    gan mode's generator (None: bundled weights). ``seed``: base seed of generated faces.
    ``jpeg_quality``: for JPEG outputs. ``max_pixels``: refuse photos larger than this.
    ``verify_identity`` (gan mode): after generation, a face still found at the same place within
    ``verify_threshold`` (dlib distance) of the original is regenerated with other seeds, up to
    ``verify_tries`` generations in all, then blurred (see :mod:`.verify`).

    gan mode's compositing (:mod:`.face_mask`, :mod:`.colour_match`): ``face_mask`` "outline"
    shows the generated face under a soft mask that follows the face (hair and background kept;
    the face box is always replaced outright), "box" pastes the whole dilated box like the other
    modes; ``mask_margin``, ``mask_forehead`` and ``mask_feather`` shape the outline (fractions of
    the face size; the forehead of the eye-to-chin distance); ``colour_match`` corrects the
    generated face's colour and light to the photo along the blend edge, and ``tone_match`` its
    median tone inside to the photo's there. Blur, pixelate and mask
    modes replace the box. ``fallback_mask``: gan mode's blur fallback (a face that kept matching)
    is drawn under the face's own mask ("outline", as a generated face would be) or over the whole
    dilated box ("box"); "auto" (default) is the outline on photos and the box on video frames.
    The flat mask, the last escalation, always covers the box.
    """

    mode: str = "gan"
    detect: DetectConfig = field(default_factory=DetectConfig)
    dilation: float | None = None
    feather: float = 0.1
    checkpoint: str | None = None
    device: str = "cpu"
    seed: int = 0
    jpeg_quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    verify_identity: bool = True
    # dlib's own same-person distance. The check takes the minimum over the ways a recogniser may
    # box the face (see .verify); with one view it needed 0.7 and still left 2 of 114 afw-dev faces
    # within 0.6, with the views 0.6 left none and blurred a third as many faces (BENCHMARKS.md).
    verify_threshold: float = 0.6
    verify_tries: int = 3
    #: gan mode's identity check also asks a second recogniser, SFace (OpenCV Zoo, Apache-2.0,
    #: vendored in anonymizer/judges), about the output at the original's five points: a face
    #: leaks when either recogniser says it is the same person. ``sface_threshold``: the cosine at
    #: or above which it does (SFace's own same-person 0.363, less a margin for a lossy encoder's
    #: noise, as video judges frames before encoding).
    second_recogniser: bool = True
    sface_threshold: float = 0.30
    # Defaults chosen on afw-dev by benchmarks/sweep_compositing.py (benchmarks/results/compositing.md).
    face_mask: str = "outline"
    mask_margin: float = 0.05
    mask_forehead: float = 0.3
    mask_feather: float = 0.1
    #: The outline mask also replaces the whole detected face box (its corners: hair, background).
    #: Off, whole photos measured worse (fewer faces found, one more re-identified; BENCHMARKS.md).
    mask_box: bool = True
    colour_match: bool = True
    #: With colour_match: the face's median tone inside its rim moved to the photo's there
    #: (.colour_match.tone_correction); without it dim and dark faces came out lighter.
    tone_match: bool = True
    #: The whole dilated box blurred is a square 1.8 times the face across, the one square left on
    #: a photo; under the outline the blur covers what a generated face covers, the face box
    #: included (mask_box). With every face of the whole-photo set drawn as the fallback nobody
    #: was re-identified either way; on the tilted heads of a video clip SFace at the original's
    #: points linked 7 of 24 sampled outline blurs against 2 box blurs, so video keeps the box
    #: (BENCHMARKS.md, session 13).
    fallback_mask: str = "auto"
    #: gan mode: cut a face whose head is tilted in the picture plane (eye line 12 degrees or more
    #: from level) turned upright, as the generator saw faces in training, and turn it back
    #: (.upright). Off: with the bundled generator, detectors found fewer of the replaced faces
    #: on afw-dev with it (BENCHMARKS.md, "Tilted heads").
    upright_crops: bool = False
    #: gan mode: pull each face's style this far towards the generator's mean (1: off; see
    #: anonymizer.generator.runner.GeneratorRunner). 0.85 with the bundled generator (step 15,500)
    #: on whole photos, two seeds: CenterFace keeps 96.6% of the replaced faces, YuNet 94.6%
    #: (88.5% at 1; with tone matching, session 14: 97.4% and 94.3%), nobody re-identified by
    #: dlib or SFace, own photo or gallery. 0.8 kept 98.2%
    #: and 96.4% but SFace re-identified 2 of 386 faces, and on video 0.8 let dlib find one signer
    #: and SFace three appearances that 0.85 did not (BENCHMARKS.md, session 13).
    truncation: float = 0.85

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AnonymizeConfigError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.dilation is not None and not 0.0 <= self.dilation <= 2.0:
            raise AnonymizeConfigError(
                f"dilation must be between 0 and 2 (fraction of the face box), got {self.dilation}"
            )
        if not 0.0 <= self.feather <= 1.0:
            raise AnonymizeConfigError(f"feather must be between 0 and 1, got {self.feather}")
        if not 0.0 < self.verify_threshold < 2.0:
            raise AnonymizeConfigError(
                f"verify_threshold must be between 0 and 2 (dlib distance), got {self.verify_threshold}"
            )
        if not 0.0 < self.sface_threshold < 1.0:
            raise AnonymizeConfigError(f"sface_threshold must be between 0 and 1 (cosine), got {self.sface_threshold}")
        if self.verify_tries < 1:
            raise AnonymizeConfigError(f"verify_tries must be >= 1, got {self.verify_tries}")
        if not 1 <= self.jpeg_quality <= 100:
            raise AnonymizeConfigError(f"jpeg_quality must be 1-100, got {self.jpeg_quality}")
        if not 0.0 <= self.truncation <= 1.0:
            raise AnonymizeConfigError(f"truncation must be between 0 and 1, got {self.truncation}")
        if self.face_mask not in FACE_MASKS:
            raise AnonymizeConfigError(f"unknown face_mask {self.face_mask!r}; choose one of {', '.join(FACE_MASKS)}")
        if self.fallback_mask not in FALLBACK_MASKS:
            raise AnonymizeConfigError(
                f"unknown fallback_mask {self.fallback_mask!r}; choose one of {', '.join(FALLBACK_MASKS)}"
            )
        for name, top in (("mask_margin", 0.5), ("mask_forehead", 1.0), ("mask_feather", 0.5)):
            value = getattr(self, name)
            if not 0.0 <= value <= top:
                raise AnonymizeConfigError(
                    f"{name} must be between 0 and {top} (a fraction of the face size), got {value}"
                )

    def fallback_for(self, video: bool) -> str:
        """The blur fallback's mask, "outline" or "box", on a photo or on a video frame."""
        if self.fallback_mask != "auto":
            return self.fallback_mask
        return "box" if video else "outline"

    @property
    def mask_params(self) -> FaceMaskParams:
        """The outline mask's shape (see :class:`~anonymizer.inference.face_mask.FaceMaskParams`)."""
        return FaceMaskParams(
            margin=self.mask_margin, forehead=self.mask_forehead, feather=self.mask_feather, box=self.mask_box
        )


@dataclass
class AnonymizedImage:
    """Output pixels (same representation as the input), the faces found and their regions."""

    pixels: np.ndarray
    faces: list[FaceBox]
    regions: list[FaceRegion]
    regenerated: int = 0
    blurred: int = 0
    #: Per face, what replaced it (:mod:`.outcome`: Skipped where its region was empty);
    #: ``render(..., fixed=outcomes)`` redraws the same output.
    outcomes: list[Outcome] = field(default_factory=list)
    #: gan mode with the identity check: per face, the original's descriptor views (k x 128,
    #: see :func:`.verify.describe_views`); None for faces not checked.
    descriptors: list = field(default_factory=list)
    #: Per face checked, the dlib distance from the original to its final output (None: not
    #: checked, or no face found there); video flags a track checked close to the threshold.
    distances: list = field(default_factory=list)


@dataclass
class Verified:
    """The identity check's verdict on one batch of generated faces (see ``ImageAnonymizer._verified``):
    per face the patch to draw, its outcome (final seed, or Blurred), the original's descriptor
    views and the last measured distance (None: no face found there); and the counts of faces
    regenerated and blurred."""

    patches: list[np.ndarray]
    outcomes: list[Outcome]
    descriptors: list[np.ndarray]
    distances: list[float | None]
    regenerated: int = 0
    blurred: int = 0


def drawn_region(region: FaceRegion, outcome: Outcome, fallback_mask: str = "box") -> FaceRegion:
    """The region a face's outcome is composited with: a generated face under the region's own
    mask, and so a blur when ``fallback_mask`` is "outline"; otherwise a blur, pixelate or mask
    over the whole box, so it covers all the region."""
    own = isinstance(outcome, Generated) or (isinstance(outcome, Blurred) and fallback_mask == "outline")
    return region if own else region.boxed()


class ImageAnonymizer:
    """Anonymize photos (and video frames) with one config; models load once, on first use."""

    def __init__(self, config: AnonymizeConfig | None = None) -> None:
        self.config = config or AnonymizeConfig()
        self._gan = (
            GanMode(
                self.config.checkpoint,
                self.config.device,
                colour_match=self.config.colour_match,
                tone_match=self.config.tone_match,
                upright=self.config.upright_crops,
                truncation=self.config.truncation,
            )
            if self.config.mode == "gan"
            else None
        )
        self._render = self._gan.patches if self._gan else make_renderer(self.config.mode)
        self._sface = None

    @property
    def dilation(self) -> float:
        """The region growth in use (see ``AnonymizeConfig.dilation``)."""
        if self.config.dilation is not None:
            return self.config.dilation
        if self._gan is not None and self._gan.generator.mask_dilation > 0:
            return self._gan.generator.mask_dilation
        return DEFAULT_DILATION

    @property
    def sface(self):
        """The second recogniser of the identity check, loaded on first use."""
        if self._sface is None:
            self._sface = SFaceRecognizer()
        return self._sface

    @property
    def gan(self):
        """gan mode's generator wrapper (:class:`~anonymizer.inference.modes.GanMode`), else None."""
        return self._gan

    @property
    def needs_keypoints(self) -> bool:
        return self.config.mode == "gan"

    def warm_up(self, shape=(240, 320, 3)) -> None:
        """Load the models now (detector; the generator in gan mode), not on the first face: live
        video would otherwise drop the frames that arrive meanwhile."""
        self.detect(np.zeros(shape, np.uint8))
        if self._gan is not None:
            self._gan.generator  # noqa: B018 - loads on first access

    def detect(self, rgb: np.ndarray, upscale_small: bool | None = None) -> list[FaceBox]:
        """Faces to anonymize in an RGB uint8 photo, with keypoints when the mode needs them
        (``upscale_small``: see :func:`~anonymizer.inference.detect.find_faces`)."""
        faces = find_faces(rgb, self.config.detect, upscale_small)
        if self.needs_keypoints:
            add_keypoints(rgb, faces, self.config.detect.detector)
        return faces

    def region_of(self, face: FaceBox, shape) -> FaceRegion:
        """Where ``face`` is replaced: the dilated box, with gan mode's outline mask when configured."""
        region = face_region(face.bbox, shape, self.dilation, self.config.feather)
        if self.config.mode == "gan" and self.config.face_mask == "outline":
            region = masked_region(region, face.bbox, face.landmarks68, shape, self.config.mask_params, face_yaw(face))
        return region

    def render(
        self,
        pixels: np.ndarray,
        rgb: np.ndarray,
        faces: list[FaceBox],
        seeds: list[int],
        *,
        lossy_qualities: tuple[int, ...] = (),
        fixed: list[Outcome | None] | None = None,
        keys: list | None = None,
        gan_patches=None,
        video: bool = False,
    ) -> AnonymizedImage:
        """Replace ``faces`` in ``pixels`` (native) using the RGB working copy ``rgb``
        (``lossy_qualities``: see :func:`.verify.leaking`).

        ``fixed``: per face, an :class:`~.outcome.Outcome` of an earlier render (see
        :attr:`AnonymizedImage.outcomes`) to draw as it is, without the identity check, or None to
        render and check that face as usual. Video draws a tracked face between its checks so, and
        redraws frames after the check of the encoded file escalated some faces.

        ``keys``: per face, who it is across frames (video: the track id, see ``FaceJob.key``);
        ``gan_patches``: a function (rgb, jobs) -> patches used for generated faces instead of the
        generator itself (video carries a generated face between frames, anonymizer.video.carry);
        ``video``: the pixels are a video frame (the blur fallback's mask, see ``fallback_mask``)."""
        fallback = self.config.fallback_for(video)
        regions = [self.region_of(f, rgb.shape) for f in faces]
        keep = [i for i, r in enumerate(regions) if r.core[2] > r.core[0] and r.core[3] > r.core[1]]
        if fixed is not None and len(fixed) != len(faces):
            raise AnonymizeConfigError(f"fixed has {len(fixed)} outcomes for {len(faces)} faces")
        given = fixed if fixed is not None else [None] * len(faces)
        if any(o is not None and not isinstance(o, Outcome) for o in given):
            raise AnonymizeConfigError("fixed takes per face an Outcome (anonymizer.inference.outcome) or None")
        jobs = [
            FaceJob(
                regions[i],
                faces[i].keypoints,
                given[i].seed if isinstance(given[i], Generated) else seeds[i],
                faces[i].bbox,
                keys[i] if keys is not None else None,
                faces[i].landmarks68,
                face_yaw(faces[i]),
            )
            for i in keep
        ]
        generate = gan_patches if gan_patches is not None and self._gan is not None else self._render
        regenerated = blurred = 0
        patches: list = [None] * len(jobs)
        kept_outcomes: list[Outcome] = [Skipped()] * len(jobs)
        kept_descriptors: list = [None] * len(jobs)
        kept_distances: list = [None] * len(jobs)
        drawn_as_given = [k for k, i in enumerate(keep) if given[i] is not None]
        free = [k for k, i in enumerate(keep) if given[i] is None]
        if drawn_as_given:
            outs = [given[keep[k]] for k in drawn_as_given]
            for k, outcome, patch in zip(
                drawn_as_given, outs, self._fixed_patches(rgb, [jobs[k] for k in drawn_as_given], outs, generate)
            ):
                patches[k], kept_outcomes[k] = patch, outcome
        if free:
            free_jobs = [jobs[k] for k in free]
            new = generate(rgb, free_jobs)
            gan = self.config.mode == "gan"
            checked = Verified(
                new,
                [Generated(j.seed) if gan else for_mode(self.config.mode) for j in free_jobs],
                [None] * len(free),
                [None] * len(free),
            )
            if gan and self.config.verify_identity:
                checked = self._verified(
                    rgb,
                    [faces[keep[k]] for k in free],
                    free_jobs,
                    new,
                    lossy_qualities=lossy_qualities,
                    generate=generate,
                    fallback=fallback,
                )
                regenerated, blurred = checked.regenerated, checked.blurred
            for n, k in enumerate(free):
                patches[k], kept_outcomes[k] = checked.patches[n], checked.outcomes[n]
                kept_descriptors[k], kept_distances[k] = checked.descriptors[n], checked.distances[n]
        outcomes: list[Outcome] = [Skipped()] * len(faces)
        descriptors: list = [None] * len(faces)
        distances: list = [None] * len(faces)
        drawn = [drawn_region(j.region, o, fallback) for j, o in zip(jobs, kept_outcomes)]
        for k, i in enumerate(keep):
            outcomes[i], descriptors[i], distances[i], regions[i] = (
                kept_outcomes[k],
                kept_descriptors[k],
                kept_distances[k],
                drawn[k],
            )
        out = composite(pixels, drawn, patches)
        return AnonymizedImage(out, faces, regions, regenerated, blurred, outcomes, descriptors, distances)

    def _fixed_patches(
        self, rgb: np.ndarray, jobs: list[FaceJob], fixed: list[Outcome], generate=None
    ) -> list[np.ndarray]:
        """Patches for outcomes of an earlier render: generated faces through this generator, the
        rest by their mode's renderer (one batch per kind, in order of first appearance)."""
        patches: list = [None] * len(jobs)
        by_kind: dict[str, list[int]] = {}
        for k, what in enumerate(fixed):
            by_kind.setdefault(what.kind, []).append(k)
        for kind, idx in by_kind.items():
            if kind == Generated.kind and self._gan is None:
                raise AnonymizeConfigError("a seed outcome needs gan mode")
            if kind == Skipped.kind:  # the same faces on the same frame have the same, non-empty regions
                raise AnonymizeConfigError("a skipped outcome given for a face whose region is not empty")
            render = (generate or self._render) if kind == Generated.kind else make_renderer(kind)
            for k, patch in zip(idx, render(rgb, [jobs[k] for k in idx])):
                patches[k] = patch
        return patches

    def _verified(
        self,
        rgb: np.ndarray,
        faces: list[FaceBox],
        jobs: list[FaceJob],
        patches: list[np.ndarray],
        *,
        lossy_qualities: tuple[int, ...] = (),
        generate=None,
        fallback: str = "outline",
    ) -> Verified:
        """Regenerate faces that dlib (or SFace) still matches to the original; blur those that
        keep matching (see :class:`Verified`)."""
        c = self.config
        scene = scene_faces(rgb)
        descriptors = [describe_views(rgb, f.bbox, scene, c.detect.detector).astype(np.float32) for f in faces]
        regions = [j.region for j in jobs]
        outcomes: list[Outcome] = [Generated(j.seed) for j in jobs]
        regenerated = 0
        distances: list = [None] * len(faces)
        points = [
            landmarks_from_68(f.landmarks68) if c.second_recogniser and f.landmarks68 is not None else None
            for f in faces
        ]
        originals = [self.sface.embed(rgb, p) if p is not None else None for p in points]

        def leaking(output: np.ndarray, which: list[int]) -> tuple[list[int], list]:
            """Of the faces ``which``, those dlib finds within the threshold or SFace recognises
            at the original's five points (no detector needed, so a face the detectors no
            longer find is still judged); and dlib's distances for every face."""
            found = leak_distances(output, faces, descriptors, lossy_qualities)
            out = [i for i in which if found[i] is not None and found[i] < c.verify_threshold]
            out += [
                i
                for i in which
                if i not in out
                and originals[i] is not None
                and cosine_similarity(originals[i], self.sface.embed(output, points[i])) >= c.sface_threshold
            ]
            return sorted(out), found

        for attempt in range(1, c.verify_tries + 1):
            bad, found = leaking(composite(rgb, regions, patches), list(range(len(faces))))
            for i in range(len(faces)) if attempt == 1 else bad:  # a face that passed keeps its distance
                distances[i] = found[i]
            if not bad or attempt == c.verify_tries:
                break
            # Another latent for the faces that leaked.
            redo = [replace(jobs[i], seed=retry_seed(jobs[i].seed, attempt)) for i in bad]
            for i, job, patch in zip(bad, redo, (generate or self._render)(rgb, redo)):
                patches[i] = patch
                outcomes[i] = Generated(job.seed)
            regenerated += len(bad)
        for i in bad:
            patches[i] = blur_patches(rgb, [jobs[i]])[0]
            outcomes[i] = Blurred()
        if bad:
            # The blur is judged too, as drawn: a face the recognisers still link to the person
            # (the blur leaves the head's outline, hair and ears) is painted over its whole box.
            drawn = [drawn_region(r, o, fallback) for r, o in zip(regions, outcomes)]
            for i in leaking(composite(rgb, drawn, patches), bad)[0]:
                patches[i] = mask_patches(rgb, [jobs[i]])[0]
                outcomes[i] = Masked()
        if regenerated or bad:
            log.info(
                "identity check: %d faces regenerated, %d blurred (%d of them then masked)",
                regenerated,
                len(bad),
                sum(isinstance(outcomes[i], Masked) for i in bad),
            )
        return Verified(patches, outcomes, descriptors, distances, regenerated, len(bad))

    def anonymize_loaded(self, image: LoadedImage) -> AnonymizedImage:
        """Anonymize a photo read by :func:`anonymizer.media.read_image`."""
        faces = self.detect(image.rgb)
        seeds = [self.config.seed + i for i in range(len(faces))]
        return self.render(image.pixels, image.rgb, faces, seeds)

    def anonymize_rgb(self, pixels: np.ndarray) -> AnonymizedImage:
        """Anonymize an in-memory photo (HxW or HxWx3/4, uint8 or uint16)."""
        if not isinstance(pixels, np.ndarray) or pixels.dtype not in (np.uint8, np.uint16):
            raise AnonymizeConfigError("pixels must be a uint8 or uint16 numpy array")
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
            raise AnonymizeConfigError(f"pixels must be HxW, HxWx3 or HxWx4, got shape {pixels.shape}")
        return self.anonymize_loaded(LoadedImage(pixels, to_working_rgb(pixels), "array"))
