"""The main job on bundled data: a loopback Flickr-compatible server serving the bundled
CC BY 4.0 / public-domain photos, then search -> download -> annotate against it.

Nothing leaves the machine; the same code paths run against the real Flickr with a real key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .download import DownloadConfig, download_manifest
from .flickr import FlickrClient, FlickrConfig, SearchQuery, search_photos
from .flickr_server import Catalog, Faults, FlickrServer

log = logging.getLogger(__name__)

DEMO_KEY, DEMO_SECRET = "fdf-demo-key", "fdf-demo-secret"
# Every licence that allows reuse at all: CC 2.0 and 4.0, public domain, no known restrictions.
DEMO_LICENSES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and what each stage reported."""

    out_dir: str
    manifest: str
    download_dir: str
    dataset_dir: str | None
    stages: dict = field(default_factory=dict)


def run_demo(out_dir: str | Path, jobs: int = 2, faults: bool = False, annotate: bool = True,
             progress: bool = True) -> DemoResult:
    """Build a small dataset from the bundled photos through the loopback server.

    With ``faults``, the server answers some API calls with 503/429 and serves one photo as an
    HTML page and one with a transient 500, to show retries and failure statuses at work.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog.demo()
    fault_cfg = Faults()
    if faults:
        ids = sorted(p.id for p in catalog)
        fault_cfg = Faults(rest_every=3, rest_kinds=("503", "429"), retry_after=1,
                           image_faults={ids[0]: "html", ids[1]: "500_once"})
    result = DemoResult(str(out), str(out / "manifest.parquet"), str(out / "download"), None)
    with FlickrServer(catalog, api_keys={DEMO_KEY: DEMO_SECRET}, faults=fault_cfg) as srv:
        log.info("loopback Flickr-compatible server at %s", srv.rest_url)
        client = FlickrClient(FlickrConfig(api_key=DEMO_KEY, api_secret=DEMO_SECRET, api_url=srv.rest_url,
                                           rate_state=str(out / "_ratelimit.json"), backoff_base=0.2))
        query = SearchQuery(license_ids=DEMO_LICENSES, min_upload_date=0)
        found = search_photos(client, query, out=result.manifest, progress=progress)
        result.stages["search"] = found.summary()
        summary = download_manifest(result.manifest, result.download_dir,
                                    DownloadConfig(jobs=jobs, threads=4, backoff=0.2), progress=progress)
        result.stages["download"] = {"counts": summary.dataset_counts, "images_per_s": summary.images_per_s}
    if annotate:
        from .annotate.stage import AnnotateConfig, annotate as annotate_photos

        result.dataset_dir = str(out / "dataset")
        ann = annotate_photos(result.download_dir, result.dataset_dir, AnnotateConfig(jobs=jobs))
        result.stages["annotate"] = {"photos": ann.photos_total, "faces_written": ann.faces_written,
                                     "photos_failed": ann.photos_failed}
    return result
