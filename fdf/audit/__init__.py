"""Licence audit, attribution files, dataset card and takedowns for face datasets.

Module map:

* ``photos``: load one row per photo from a face-shard dataset, a download folder or a manifest;
* ``checks``: static licence/attribution flags (ND, NC, SA, unknown, TASL, no_cv, id/URL mismatch);
* ``revalidate``: each photo's state on Flickr now (deleted/private, licence changed, opted out);
* ``report`` / ``render``: the audit report and its Markdown/JSON/HTML forms, the --fail-on gate;
* ``run``: `fdf audit` as a function; ``subset``: the commercial-safe subset;
* ``credits``: CREDITS.md and credits.csv; ``card``: DATASET.md;
* ``takedown``: `fdf remove` and the removal log later builds honour.
"""

from .takedown import (
    RemovalLog,
    apply_removal_log,
    is_removed,
    read_removal_log,
    remove_photos,
    removed_owners,
    removed_photo_ids,
)

__all__ = [
    "RemovalLog",
    "apply_removal_log",
    "is_removed",
    "read_removal_log",
    "remove_photos",
    "removed_owners",
    "removed_photo_ids",
]
