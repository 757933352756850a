"""`fdf audit` as a function: load photos, check them, optionally revalidate, save findings."""

from __future__ import annotations

import logging
from pathlib import Path

from ..flickr.client import FlickrClient
from .photos import load_photos
from .report import AuditReport, build_report
from .revalidate import revalidate, save_revalidation
from .takedown import read_removal_log

log = logging.getLogger(__name__)

AUDIT_DIR = "_audit"  # underscore: dataset readers skip it
PROGRESS_FILE = "progress-revalidation.jsonl"  # checked photos of an unfinished revalidation


def audit_dir(path: str | Path) -> Path:
    """Where audit findings of ``path`` are kept: DIR/_audit, or _audit beside a manifest file."""
    path = Path(path)
    return (path.parent if path.is_file() else path) / AUDIT_DIR


def audit(
    path: str | Path, client: FlickrClient | None = None, threads: int = 4, progress: bool = False, save: bool = True
) -> AuditReport:
    """Audit a face-shard dataset, download folder or manifest.

    With a ``client``, every photo is also revalidated against Flickr and (with ``save``) the
    findings are written to :func:`audit_dir` for ``fdf remove --from-audit``; an interrupted
    revalidation resumes where it stopped.
    """
    photoset = load_photos(path)
    revalidation = rev_file = None
    if client is not None:
        partial = audit_dir(path) / PROGRESS_FILE if save else None
        revalidation = revalidate(photoset.photos, client, threads=threads, progress=progress, progress_file=partial)
        if save:
            rev_file = str(save_revalidation(revalidation, audit_dir(path)))
            partial.unlink(missing_ok=True)  # saved: the next run starts afresh
            log.info("revalidation saved to %s", rev_file)
    removed = {}
    if photoset.kind == "dataset":
        removal = read_removal_log(path)
        removed = {"photos": len(removal.photo_ids), "owners": len(removal.owners), "requests": len(removal.entries)}
    return build_report(photoset, revalidation, rev_file, removed)
