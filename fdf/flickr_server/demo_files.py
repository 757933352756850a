"""Where the bundled demo photos lie (fdf/data/demo_photos, see CREDITS.md there).

Apart from :mod:`.demo_photos` (their made-up Flickr metadata) so that the catalog builders can
default to these files without importing the demo catalog, which is built by them.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .catalog import CatalogError


def demo_photo_dir() -> Path:
    """Folder of the bundled demo photos inside the installed package."""
    return Path(str(resources.files("fdf").joinpath("data/demo_photos")))


def demo_photo_paths() -> list[Path]:
    """Every bundled demo JPEG, sorted by name."""
    paths = sorted(demo_photo_dir().glob("*.jpg"))
    if not paths:
        raise CatalogError(f"no demo photos found in {demo_photo_dir()}; is the package installed with its data?")
    return paths
