"""The bundled demo photos (fdf/data/demo_photos, see CREDITS.md there) as a catalog.

The Flickr metadata attached here is made up for the demo; CREDITS.md holds the real licences.
"""

from __future__ import annotations

import re
from pathlib import Path

from .builders import catalog_from_files
from .catalog import Catalog
from .dates import to_unix
from .demo_files import demo_photo_dir, demo_photo_paths

DEMO_UPLOAD_START = "2019-01-07 09:00:00"  # uploads are spread over about two months from here
# Licence ids cycled over the video frames; the astronaut (a NASA photo) is a US Government Work.
_DEMO_LICENSES = (4, 5, 1, 2)
_ASTRONAUT_LICENSE = 8
# One frame is "All Rights Reserved" and one carries the raw tag no_cv, so a demo search with
# the usual filters visibly drops them.
_ALL_RIGHTS_RESERVED_FILE = "book_f077.jpg"
_NO_CV_FILE = "eat_f032.jpg"


def _frame_record(path: Path, index: int) -> dict:
    m = re.fullmatch(r"(.+)_f(\d+)", path.stem)
    clip, frame = (m.group(1), int(m.group(2))) if m else (path.stem, 0)
    sign_word = None if clip.startswith(("face-", "head-")) else clip
    if sign_word:
        title = f"Signing \u201c{sign_word}\u201d"
        tags = ["sign language", "ASL", sign_word, "portrait", "face"]
        description = f"Frame {frame} of the sign-language clip {clip}. Credit: Intel IoT devkit sample-videos."
    else:
        title = clip.replace("-", " ").capitalize()
        tags = ["people", "walking", "head pose", "face"]
        description = f"Frame {frame} of the clip {clip}. Credit: Intel IoT devkit sample-videos."
    if path.name == _NO_CV_FILE:
        tags.append("no_cv")
    return {
        "image_path": str(path),
        "title": title,
        "description": description,
        "tags": tags,
        "owner": "148253411@N04",
        "owner_name": "intel-iot-devkit",
        "real_name": "Intel IoT devkit",
        "license": 0 if path.name == _ALL_RIGHTS_RESERVED_FILE else _DEMO_LICENSES[index % len(_DEMO_LICENSES)],
        # about two days apart, so upload-date ranges split the set predictably
        "date_upload": to_unix(DEMO_UPLOAD_START) + index * 2 * 86400 + 37 * index,
    }


def demo_catalog() -> Catalog:
    """A catalog of the bundled photos with plausible Flickr metadata (deterministic)."""
    records = []
    for i, path in enumerate(p for p in demo_photo_paths() if p.name != "astronaut.jpg"):
        records.append(_frame_record(path, i))
    astronaut = demo_photo_dir() / "astronaut.jpg"
    if astronaut.exists():
        records.append(
            {
                "image_path": str(astronaut),
                "title": "Astronaut Eileen Collins",
                "description": "NASA portrait of astronaut Eileen Collins.",
                "tags": ["NASA", "astronaut", "portrait", "face"],
                "owner": "44494372@N05",
                "owner_name": "NASA HQ PHOTO",
                "real_name": "NASA",
                "license": _ASTRONAUT_LICENSE,
                "date_upload": to_unix("2019-02-20 16:00:00"),
            }
        )
    return catalog_from_files(records, seed=1)
