"""Which face-frames of a video the identity check judges: per track, at key frames.

dlib's descriptor costs ~60 ms a face on this CPU, and judging every face in every frame took
~85% of gan mode's time. A track keeps one generated face (one seed) for its life, and its
distance to the original moves with pose and expression, not from frame to frame. So a track is
checked on its first frame and then every ``every`` frames; between checks its face is drawn
with the outcome of the last check (the same seed, or the blur or mask it was escalated to). A
track checked close to the threshold (within ``margin``) or escalated is *flagged*: from then
on it is checked on every frame. The check of the encoded file (anonymizer.video.repair) judges
the checked face-frames again, and a leak there escalates the track's unchecked frames around it
with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from anonymizer.inference.outcome import Generated, Outcome, Skipped


@dataclass
class TrackState:
    """The last check of one track: its outcome, when, and whether it is flagged."""

    outcome: Outcome
    checked_at: int
    flagged: bool = False


class TrackChecks:
    """Plans, frame by frame, which tracks' faces are checked; learns from each render."""

    def __init__(self, every: int, threshold: float, margin: float) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = every
        self.threshold = threshold
        self.margin = margin
        self.states: dict[int, TrackState] = {}
        self.checked = 0
        self.drawn_unchecked = 0

    def plan(self, index: int, track_ids: list[int]) -> list[Outcome | None]:
        """Per track of frame ``index``: None to check its face now, else the outcome to draw."""
        out: list[Outcome | None] = []
        for tid in track_ids:
            state = self.states.get(tid)
            # A face skipped last time (empty region) has no verdict to reuse.
            due = (
                state is None
                or state.flagged
                or isinstance(state.outcome, Skipped)
                or index - state.checked_at >= self.every
            )
            out.append(None if due else state.outcome)
        return out

    def seed_for(self, track_id: int, base: int) -> int:
        """The seed a check of ``track_id`` starts from: the one it was last drawn with, so a
        track regenerated once keeps that face, else ``base``."""
        state = self.states.get(track_id)
        return state.outcome.seed if state is not None and isinstance(state.outcome, Generated) else base

    def learn(
        self,
        index: int,
        track_ids: list[int],
        planned: list[Outcome | None],
        outcomes: list[Outcome],
        distances: list,
        first_seeds: list[int],
    ) -> None:
        """Record the checks made in frame ``index`` (the faces ``planned`` None)."""
        for tid, plan, outcome, dist, seed in zip(track_ids, planned, outcomes, distances, first_seeds):
            if plan is not None:
                self.drawn_unchecked += 1
                continue
            self.checked += 1
            state = self.states.setdefault(tid, TrackState(outcome, index))
            near = dist is not None and dist < self.threshold + self.margin
            escalated = outcome != Generated(seed)
            state.outcome, state.checked_at = outcome, index
            state.flagged = state.flagged or near or escalated
