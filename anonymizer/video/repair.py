"""Check and repair an encoded video: judge the file the encoder wrote, escalate what still leaks, redraw.

In gan mode the identity check (:mod:`anonymizer.inference.verify`) judges every rendered frame
before encoding (:mod:`.stream`), and then the encoded file itself, here: the encoder's loss
moves dlib's descriptor of a face by 0.13 (median; up to 0.22 at x264 CRF 18), so a generated
face at 0.60-0.63 from the original before encoding can be at 0.57 after it. The encoded file is
decoded, every face is judged again against the original's descriptors kept from the first pass
(:class:`FrameRecord`, about 1 KB per face per frame), and each face-frame still within the
threshold is escalated (generated face -> blur -> flat mask,
:meth:`~anonymizer.inference.outcome.Outcome.escalated`), with the near misses around it
(re-encoding redraws the noise, so they would leak next: :data:`NEAR_MISS_MARGIN`); the frames
are redrawn from the source with the kept outcomes (no detection, no new check) and re-encoded,
and the new file is judged again, up to ``VideoConfig.encoded_check_rounds`` times. A face still
matching after that fails the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from anonymizer.inference.detect import FaceBox
from anonymizer.inference.image import ImageAnonymizer
from anonymizer.inference.outcome import Masked, Outcome
from anonymizer.inference.verify import output_distances
from fdf.atomic import atomic_path
from fdf.boxes import same_place
from fdf.errors import FdfError

from .carry import face_carrier
from .encode import Encoding, decode_frames
from .pipe import ThreadedWriter, prefetched
from .probe import VideoReadError
from .result import VideoResult

log = logging.getLogger(__name__)


class VideoLeakError(FdfError):
    """A face in the encoded video still matched the original after every escalation."""


@dataclass
class FrameRecord:
    """What the first pass drew in one frame: enough to redraw it and to judge its encoding."""

    faces: list[FaceBox]
    tracks: list[int]
    seeds: list[int]
    outcomes: list[Outcome]  # per face (see AnonymizedImage.outcomes); escalated in place by the repair
    descriptors: list  # per face: the original's descriptor views, or None


def encoded_distances(
    path: Path, size, records: dict[int, FrameRecord], frames: int | None = None
) -> dict[tuple[int, int], float]:
    """Per (frame index, face index) of ``records``, the smallest dlib distance from the original's
    descriptors to a face found at the same place in encoded video ``path`` (faces not found are
    left out), as :func:`anonymizer.inference.verify.leaking` judges a photo."""
    width, height = size
    out: dict[tuple[int, int], float] = {}
    count = 0
    for index, frame in enumerate(
        tqdm(
            prefetched(decode_frames(path, width, height)),
            total=frames,
            desc=f"check {path.name}",
            unit="frame",
            leave=False,
            disable=None,
        )
    ):
        count += 1
        rec = records.get(index)
        if rec is not None:
            for i, dist in enumerate(output_distances(frame, rec.faces, rec.descriptors)):
                if dist is not None:
                    out[(index, i)] = dist
    if frames is not None and count != frames:
        raise VideoReadError(f"{path}: the encoded file has {count} frames, {frames} were written")
    return out


def encoded_leaks(
    path: Path, size, records: dict[int, FrameRecord], threshold: float, frames: int | None = None
) -> list[tuple[int, int]]:
    """(frame index, face index) of the faces in encoded video ``path`` still within ``threshold``."""
    return sorted(k for k, d in encoded_distances(path, size, records, frames).items() if d < threshold)


#: A face-frame this close above the threshold, near a leak, is escalated with the leak:
#: re-encoding redraws the encoder's noise (0.13 median descriptor movement at x264 CRF 18) in the
#: redrawn frames and their neighbours, whatever track, so near misses become the next round's leaks.
NEAR_MISS_MARGIN = 0.1


def _leak_sources(frame: int, face: int, records: dict[int, FrameRecord]) -> list[tuple[int, int]]:
    """Where a leak judged at ``face`` of ``frame`` can be escalated: the face itself, or, once it
    is masked, the unmasked faces of the same frame at the same place.

    The output is searched for a face at the same place as each recorded face, so two boxes that
    overlap (one face boxed by two tracks, or a small face beside a large one) can each be
    judged on what the other drew. A flat mask holds no face; the face found there is the other
    box's drawing. With none left to escalate the leak stays on the masked face, and the file
    fails closed."""
    rec = records[frame]
    if not isinstance(rec.outcomes[face], Masked):
        return [(frame, face)]
    box = rec.faces[face].bbox
    others = [
        (frame, j)
        for j, other in enumerate(rec.faces)
        if j != face and not isinstance(rec.outcomes[j], Masked) and same_place(other.bbox, box)
    ]
    return others or [(frame, face)]


def to_escalate(
    distances: dict[tuple[int, int], float], records: dict[int, FrameRecord], threshold: float, window: int | None
) -> set[tuple[int, int]]:
    """The leaks (distance < ``threshold``; a masked face's goes to the faces drawn over the
    same place, see :func:`_leak_sources`) and the near misses (under ``threshold`` +
    :data:`NEAR_MISS_MARGIN`, not yet masked, any track) within ``window`` frames of a leak
    (None: anywhere in the video)."""
    leaks = [k for k, d in distances.items() if d < threshold]
    out = {source for frame, face in leaks for source in _leak_sources(frame, face, records)}
    if not leaks:
        return out
    leak_frames = np.array(sorted({f for f, _ in leaks}))
    for (g, j), d in distances.items():
        if (
            d < threshold + NEAR_MISS_MARGIN
            and not isinstance(records[g].outcomes[j], Masked)
            and (window is None or np.abs(leak_frames - g).min() <= window)
        ):
            out.add((g, j))
    return out


def unchecked_alike(
    escalate: set[tuple[int, int]], records: dict[int, FrameRecord], every: int
) -> set[tuple[int, int]]:
    """Face-frames drawn unchecked with the same outcome of the same track within ``every``
    frames of one in ``escalate``: judged only at key frames, they share a key frame's leak."""
    out: set[tuple[int, int]] = set()
    if every <= 1:
        return out
    for frame, face in escalate:
        rec = records[frame]
        track, outcome = rec.tracks[face], rec.outcomes[face]
        for g in range(frame - every, frame + every + 1):
            other = records.get(g)
            if other is None or g == frame:
                continue
            for j, (tid, desc) in enumerate(zip(other.tracks, other.descriptors)):
                if tid == track and desc is None and other.outcomes[j] == outcome:
                    out.add((g, j))
    return out - escalate


def repair_encoded(
    tmp: Path, *, encoding: Encoding, anonymizer: ImageAnonymizer, records: dict[int, FrameRecord], stats: VideoResult
) -> None:
    """Judge the encoded file ``tmp``; escalate and re-encode it in place until no face matches
    (module doc). Raises VideoLeakError when one still does after the last round."""
    src, config = encoding.src, encoding.config
    threshold = anonymizer.config.verify_threshold
    rounds = config.encoded_check_rounds
    for round_ in range(rounds + 1):
        distances = encoded_distances(tmp, encoding.size, records, stats.frames)
        stats.encoded_checks += 1
        leaks = sorted(k for k, d in distances.items() if d < threshold)
        if not leaks:
            return
        if round_ == rounds:
            raise VideoLeakError(
                f"{src}: {len(leaks)} face-frames still match the original after "
                f"{rounds} re-encodes (first: frame {leaks[0][0]})"
            )
        # The first round takes the near misses around the leaks; later ones, where the first did
        # not settle it, those anywhere in the video.
        escalate = to_escalate(distances, records, threshold, config.lookahead if round_ == 0 else None)
        escalate |= unchecked_alike(escalate, records, config.check_every)
        kinds = []
        for index, i in sorted(escalate):
            rec = records[index]
            kinds.append(rec.outcomes[i].kind)
            stronger = rec.outcomes[i].escalated()
            if stronger is None:
                raise VideoLeakError(f"{src}: frame {index}: a face still matches the original after masking")
            rec.outcomes[i] = stronger
        stats.repaired += len(escalate)
        log.info(
            "%s: round %d: %d face-frames still matched the original after encoding; escalating %d with "
            "near misses (%d generated -> blur, %d blurred -> mask), re-encoding",
            src,
            round_ + 1,
            len(leaks),
            len(escalate),
            kinds.count("gan"),
            kinds.count("blur"),
        )
        with atomic_path(tmp, fsync=False) as fixed:
            redraw(fixed, encoding=encoding, anonymizer=anonymizer, records=records)


def redraw(dst: Path, *, encoding: Encoding, anonymizer: ImageAnonymizer, records: dict[int, FrameRecord]) -> None:
    """Encode the source again into ``dst``, drawing each recorded frame's faces as its outcomes say."""
    width, height = encoding.size
    writer = ThreadedWriter(encoding.open_writer(dst))
    carrier = face_carrier(anonymizer, encoding.config)  # the first pass's carrying, redone in the same order
    decoded = prefetched(decode_frames(encoding.src, width, height))
    try:
        for index, frame in enumerate(decoded):
            rec = records.get(index)
            if rec is not None:
                if carrier is not None:
                    carrier.index = index
                frame = anonymizer.render(
                    frame,
                    frame,
                    rec.faces,
                    rec.seeds,
                    fixed=rec.outcomes,
                    keys=rec.tracks,
                    gan_patches=carrier.patches if carrier is not None else None,
                    video=True,
                ).pixels
            writer.send(frame)
    finally:
        decoded.close()
        writer.close()
