"""What replaced one face: a small typed outcome per face.

    Generated(seed)   a generated face, from the generator's latent ``seed``
    Blurred()         blurred (blur mode, or gan mode's fallback when a face kept matching)
    Pixelated()       pixelated (pixelate mode)
    Masked()          painted flat (mask mode, or the video repair's last escalation)
    Skipped()         nothing drawn: the face's region was empty

``ImageAnonymizer.render(..., fixed=outcomes)`` draws each face as its outcome says; video keeps
them per frame to redraw after the check of the encoded file escalates some (:meth:`Outcome.escalated`).
The JSON form (:meth:`Outcome.to_json`, :func:`from_json`) is the seed, the mode's name, or null.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Outcome:
    """Base of the outcomes; ``kind`` names the renderer that draws it (a mode of :mod:`.modes`)."""

    kind: ClassVar[str] = ""

    def to_json(self) -> int | str | None:
        """The JSON form: a generated face's seed, else the kind ("blur", "pixelate", "mask")."""
        return self.kind

    def escalated(self) -> Outcome | None:
        """The next, stronger outcome for a face that still matched the original (None: none left)."""
        return None


@dataclass(frozen=True)
class Generated(Outcome):
    """A generated face, drawn under the region's own mask."""

    seed: int
    kind: ClassVar[str] = "gan"

    def to_json(self) -> int:
        return self.seed

    def escalated(self) -> Outcome:
        return Blurred()


@dataclass(frozen=True)
class Blurred(Outcome):
    """Blurred over the whole box."""

    kind: ClassVar[str] = "blur"

    def escalated(self) -> Outcome:
        return Masked()


@dataclass(frozen=True)
class Pixelated(Outcome):
    """Pixelated over the whole box."""

    kind: ClassVar[str] = "pixelate"


@dataclass(frozen=True)
class Masked(Outcome):
    """Painted flat over the whole box: nothing stronger is left."""

    kind: ClassVar[str] = "mask"


@dataclass(frozen=True)
class Skipped(Outcome):
    """Nothing drawn: the face's region was empty (it lies outside the photo)."""

    kind: ClassVar[str] = "skipped"

    def to_json(self) -> None:
        return None


#: The outcome each non-generating mode draws.
_BY_MODE: dict[str, Outcome] = {"blur": Blurred(), "pixelate": Pixelated(), "mask": Masked()}


def for_mode(mode: str) -> Outcome:
    """The outcome of a face drawn by non-gan ``mode`` (blur, pixelate or mask)."""
    return _BY_MODE[mode]


def from_json(value: int | str | None) -> Outcome:
    """The outcome of a JSON form written by :meth:`Outcome.to_json`; ValueError for anything else."""
    if value is None:
        return Skipped()
    if isinstance(value, int) and not isinstance(value, bool):
        return Generated(value)
    if isinstance(value, str) and value in _BY_MODE:
        return _BY_MODE[value]
    raise ValueError(f"not a face outcome: {value!r}")
