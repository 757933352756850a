"""Fault injection: which REST calls and image requests fail, and how (deterministic).

REST faults hit every ``rest_every``-th call, or a seeded ``rest_fraction`` of calls; image
faults hit the photo ids in ``image_faults`` or a seeded ``image_fraction`` of ids.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import threading
import time
from dataclasses import dataclass, field

from ..errors import FdfError

REST_FAULT_KINDS = ("500", "502", "503", "429", "105")
IMAGE_FAULT_KINDS = ("404", "500", "500_once", "slow", "truncated", "html", "noai", "big")


class FaultConfigError(FdfError):
    """A fault setting names an unknown kind or has a bad value."""


@dataclass
class Faults:
    """What goes wrong, and when. Fields may be changed while a server runs."""

    rest_every: int = 0  # every Nth REST call fails (0: never)
    rest_fraction: float = 0.0  # or this seeded share of REST calls
    rest_kinds: tuple[str, ...] = ("503",)  # failing calls cycle through these kinds
    retry_after: int = 1  # seconds sent in 429's Retry-After header
    rest_delay: float = 0.0  # seconds added before every REST answer
    rate_limit: float = 0.0  # REST calls allowed per second (sliding 1 s window) before 429; 0: off
    image_faults: dict[str, str] = field(default_factory=dict)  # photo id -> kind
    image_fraction: float = 0.0  # seeded share of photo ids that get image_kind
    image_kind: str = "500"
    fail_times: int = 1  # "500_once" fails this many times per photo, then serves the image
    slow_delay: float = 5.0  # seconds a "slow" image waits before its first byte
    truncate_at: float = 0.5  # share of the bytes a "truncated" image sends before closing
    big_bytes: int = 64 * 2**20  # Content-Length and size of a "big" image body
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if isinstance(self.rest_kinds, str):
            self.rest_kinds = tuple(k.strip() for k in self.rest_kinds.split(",") if k.strip())
        self.rest_kinds = tuple(str(k) for k in self.rest_kinds)
        bad = [k for k in self.rest_kinds if k not in REST_FAULT_KINDS]
        if bad or not self.rest_kinds:
            raise FaultConfigError(f"unknown REST fault kind {bad}; choose from {', '.join(REST_FAULT_KINDS)}")
        self.image_faults = {str(k): str(v) for k, v in self.image_faults.items()}
        for kind in [self.image_kind, *self.image_faults.values()]:
            if kind not in IMAGE_FAULT_KINDS:
                raise FaultConfigError(f"unknown image fault {kind!r}; choose from {', '.join(IMAGE_FAULT_KINDS)}")
        for name in ("rest_fraction", "image_fraction", "truncate_at"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise FaultConfigError(f"{name} must be between 0 and 1, got {getattr(self, name)}")
        for name in ("rest_every", "retry_after", "fail_times", "big_bytes"):
            if int(getattr(self, name)) < 0:
                raise FaultConfigError(f"{name} must be >= 0, got {getattr(self, name)}")

    def update(self, **changes) -> None:
        """Change fields by name (values may be strings, as from the CLI or the admin endpoint)."""
        types = {f.name: f.type for f in dataclasses.fields(self)}
        for name, value in changes.items():
            if name not in types:
                raise FaultConfigError(f"unknown fault setting {name!r}; known: {', '.join(types)}")
            setattr(self, name, _coerce(name, getattr(self, name), value))
        self.validate()

    @classmethod
    def from_specs(cls, specs: list[str]) -> Faults:
        """Parse CLI specs: 'rest_every=5', 'rest_kinds=503,429', 'image:46000000001=truncated'."""
        faults = cls()
        for spec in specs:
            name, sep, value = spec.partition("=")
            if not sep:
                raise FaultConfigError(f"fault spec must look like NAME=VALUE, got {spec!r}")
            name = name.strip()
            if name.startswith("image:"):
                faults.image_faults[name[len("image:") :]] = value.strip()
                faults.validate()
            else:
                faults.update(**{name: value.strip()})
        return faults


def _coerce(name: str, current, value):
    if not isinstance(value, str):
        return value
    try:
        if isinstance(current, bool):
            return value.lower() in ("1", "true", "yes")
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, tuple):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(current, dict):
            return dict(item.split(":", 1) for item in value.split(",") if item)
    except ValueError:
        raise FaultConfigError(f"bad value for {name}: {value!r}") from None
    return value


def seeded_fraction(seed: int, key: str) -> float:
    """A stable number in [0, 1) for (seed, key): the same on every run and in every process."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class FaultInjector:
    """Decides, thread-safely, which request gets which fault under the current :class:`Faults`."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._lock = threading.Lock()
        self._rest_calls = 0
        self._rest_faults = 0
        self._recent: collections.deque[float] = collections.deque()
        self._image_failures: collections.Counter[str] = collections.Counter()

    def rest_fault(self) -> str | None:
        """Count one REST call; the fault kind it gets ("429" when over the rate limit), or None."""
        f = self.faults
        with self._lock:
            self._rest_calls += 1
            n = self._rest_calls
            if f.rate_limit > 0:
                now = time.monotonic()
                while self._recent and now - self._recent[0] > 1.0:
                    self._recent.popleft()
                if len(self._recent) >= f.rate_limit:
                    return "429"
                self._recent.append(now)
            hit = (f.rest_every > 0 and n % f.rest_every == 0) or (
                f.rest_fraction > 0 and seeded_fraction(f.seed, f"rest:{n}") < f.rest_fraction
            )
            if not hit:
                return None
            kind = f.rest_kinds[self._rest_faults % len(f.rest_kinds)]
            self._rest_faults += 1
            return kind

    def image_fault(self, photo_id: str) -> str | None:
        """The fault for this image request, or None; "500_once" turns into None after fail_times."""
        f = self.faults
        kind = f.image_faults.get(photo_id)
        if kind is None and f.image_fraction > 0 and seeded_fraction(f.seed, f"image:{photo_id}") < f.image_fraction:
            kind = f.image_kind
        if kind == "500_once":
            with self._lock:
                if self._image_failures[photo_id] >= f.fail_times:
                    return None
                self._image_failures[photo_id] += 1
        return kind
