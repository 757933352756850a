"""The audit report: licence mix, flagged photos, revalidation findings, and the --fail-on gate."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from ..errors import FdfError
from .checks import FLAGS, check_photos, license_summary
from .photos import PhotoSet
from .revalidate import CHECK_FAILED, DELETED, LICENSE_CHANGED, OPTED_OUT, Revalidation

# --fail-on tokens beyond the static flags: what revalidation found.
FINDING_TOKENS = {
    "revoked": "photo deleted or private, opted out, or licence changed to something more restrictive",
    "deleted": "photo deleted or private now",
    "opted_out": "photo tagged no_cv now",
    "changed": "licence changed (any change)",
    "check_failed": "revalidation could not check the photo",
}
FAIL_ON_TOKENS = {**FLAGS, **FINDING_TOKENS}


@dataclass
class AuditReport:
    """Everything `fdf audit` says about one dataset, download folder or manifest."""

    path: str
    kind: str
    created: str
    photos: int
    faces: int | None
    tags_known: bool
    licenses: list[dict]
    flag_counts: dict[str, int]
    flagged: list[dict]  # one entry per flagged photo
    revalidation: Revalidation | None = None
    revalidation_file: str | None = None
    removed: dict = field(default_factory=dict)

    def token_counts(self) -> dict[str, int]:
        """How many photos each --fail-on token matches."""
        counts = dict(self.flag_counts)
        findings = self.revalidation.findings if self.revalidation else []

        def photos_where(pred) -> int:
            return len({f.photo_id for f in findings if pred(f)})

        counts["revoked"] = photos_where(lambda f: f.revoked)
        counts["deleted"] = photos_where(lambda f: f.reason == DELETED)
        counts["opted_out"] = photos_where(lambda f: f.reason == OPTED_OUT)
        counts["changed"] = photos_where(lambda f: f.reason == LICENSE_CHANGED)
        counts["check_failed"] = photos_where(lambda f: f.reason == CHECK_FAILED)
        return counts

    def failures(self, fail_on: list[str]) -> dict[str, int]:
        """The --fail-on tokens that match at least one photo, with their counts."""
        counts = self.token_counts()
        return {t: counts[t] for t in fail_on if counts.get(t)}

    def to_dict(self) -> dict:
        out = {
            "path": self.path, "kind": self.kind, "created": self.created, "photos": self.photos,
            "faces": self.faces, "tags_known": self.tags_known, "licenses": self.licenses,
            "flags": {k: {"count": self.flag_counts.get(k, 0), "meaning": v} for k, v in FLAGS.items()},
            "flagged_photos": self.flagged, "removed": self.removed, "revalidation": None,
        }
        if self.revalidation is not None:
            rev = self.revalidation.to_dict()
            rev["file"] = self.revalidation_file
            rev["by_owner"] = {
                owner: [f.photo_id for f in found] for owner, found in self.revalidation.by_owner().items()
            }
            out["revalidation"] = rev
        return out


def parse_fail_on(spec: str | None) -> list[str]:
    """Parse 'nd,unknown,revoked' into validated tokens; FdfError names the valid ones."""
    tokens = [t.strip().lower() for t in (spec or "").split(",") if t.strip()]
    bad = [t for t in tokens if t not in FAIL_ON_TOKENS]
    if bad:
        raise FdfError(f"unknown --fail-on value(s) {', '.join(bad)}; choose from {', '.join(FAIL_ON_TOKENS)}")
    return tokens


def _clean(value):
    if value is None or (not isinstance(value, (list, str)) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def build_report(photoset: PhotoSet, revalidation: Revalidation | None = None, revalidation_file: str | None = None,
                 removed: dict | None = None) -> AuditReport:
    """Run the static checks over ``photoset`` and assemble the report (with a revalidation, if any)."""
    checked = check_photos(photoset.photos)
    flag_counts = {k: int(checked["flags"].map(lambda fl, k=k: k in fl).sum()) for k in FLAGS}
    flagged = []
    for row in checked[checked["flags"].map(bool)].to_dict("records"):
        flagged.append({
            "photo_id": row["photo_id"], "owner_nsid": _clean(row["owner_nsid"]),
            "license_id": _clean(row["license_id"]), "license_url": _clean(row["license_url"]),
            "faces": _clean(row["faces"]), "flags": row["flags"], "missing": row["missing"],
        })
    return AuditReport(
        path=str(photoset.path), kind=photoset.kind,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        photos=len(checked), faces=photoset.faces, tags_known=photoset.tags_known,
        licenses=license_summary(checked), flag_counts=flag_counts, flagged=flagged,
        revalidation=revalidation, revalidation_file=revalidation_file, removed=removed or {},
    )
