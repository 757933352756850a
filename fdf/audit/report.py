"""The audit report: licence mix, flagged photos, revalidation findings, and the --fail-on gate."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from ..errors import FdfError
from .checks import FLAG_BITS, FLAGS, check_table, flag_names, licence_summary_table, part_names
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


class FlaggedPhotos:
    """The flagged photos of a report, kept as one Arrow table (an audit of 1 M photos may flag
    most of them); iterating gives one dict per photo, as the report's JSON lists them."""

    def __init__(self, table: pa.Table):
        self.table = table

    def __len__(self) -> int:
        return self.table.num_rows

    def __bool__(self) -> bool:
        return self.table.num_rows > 0

    def __iter__(self) -> Iterator[dict]:
        for batch in self.table.to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                yield {
                    "photo_id": row["photo_id"],
                    "owner_nsid": row["owner_nsid"],
                    "license_id": row["license_id"],
                    "license_url": row["license_url"],
                    "faces": row["faces"],
                    "flags": flag_names(row["flags"]),
                    "missing": part_names(row["missing"]),
                }


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
    flagged: FlaggedPhotos  # one entry per flagged photo
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
            "path": self.path,
            "kind": self.kind,
            "created": self.created,
            "photos": self.photos,
            "faces": self.faces,
            "tags_known": self.tags_known,
            "licenses": self.licenses,
            "flags": {k: {"count": self.flag_counts.get(k, 0), "meaning": v} for k, v in FLAGS.items()},
            "flagged_photos": list(self.flagged),
            "removed": self.removed,
            "revalidation": None,
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


def build_report(
    photoset: PhotoSet,
    revalidation: Revalidation | None = None,
    revalidation_file: str | None = None,
    removed: dict | None = None,
) -> AuditReport:
    """Run the static checks over ``photoset`` and assemble the report (with a revalidation, if any)."""
    table = photoset.table
    flags, missing = check_table(table)
    flag_counts = {k: int(((flags & bit) != 0).sum()) for k, bit in FLAG_BITS.items()}
    hit = pa.array(flags != 0)
    flagged = table.select(["photo_id", "owner_nsid", "license_id", "license_url", "faces"]).filter(hit)
    flagged = flagged.append_column("flags", pa.array(flags).filter(hit)).append_column(
        "missing", pa.array(missing).filter(hit)
    )
    return AuditReport(
        path=str(photoset.path),
        kind=photoset.kind,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        photos=table.num_rows,
        faces=photoset.faces,
        tags_known=photoset.tags_known,
        licenses=licence_summary_table(table),
        flag_counts=flag_counts,
        flagged=FlaggedPhotos(flagged),
        revalidation=revalidation,
        revalidation_file=revalidation_file,
        removed=removed or {},
    )
