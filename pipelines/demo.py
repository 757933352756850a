"""The main job on bundled data: a loopback Flickr-compatible server serving the bundled
CC BY 4.0 / public-domain photos, then `fdf build` against it: search -> download -> annotate
-> select -> report.

Nothing leaves the machine; the same code paths run against the real Flickr with a real key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fdf.annotate.stage import AnnotateConfig
from fdf.download import DownloadConfig
from fdf.flickr_server import Faults, FlickrServer, demo_catalog
from fdf.select import SelectConfig
from pipelines.build import run_build
from pipelines.config import BuildConfig, SourceConfig

log = logging.getLogger(__name__)

DEMO_KEY, DEMO_SECRET = "fdf-demo-key", "fdf-demo-secret"
# Every licence that allows reuse at all: CC 2.0 and 4.0, public domain, no known restrictions.
DEMO_LICENSES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
# The bundled photos are video frames of ~640 px with faces of 50-100 px: FDF's 128 px minimum
# crop would drop half of them, so the demo asks for 64 px crops (still no upsampling beyond 2x).
DEMO_SELECT = {"gates": {"min_crop_px": 64}, "balance": {"max_over_target": 3.0}}


@dataclass
class DemoResult:
    """Where the demo wrote its outputs, and what each stage reported."""

    out_dir: str
    manifest: str
    download_dir: str
    faces_dir: str
    selected_dir: str
    report_dir: str | None
    summary: dict = field(default_factory=dict)
    text: str = ""


def demo_build_config(api_url: str, out: Path, jobs: int = 2, report: bool = True):
    """The build config of the demo: a Flickr search of every reusable licence at ``api_url``."""
    source = SourceConfig(
        kind="flickr",
        query={"license_ids": DEMO_LICENSES, "min_upload_date": 0},
        flickr={
            "api_key": DEMO_KEY,
            "api_secret": DEMO_SECRET,
            "api_url": api_url,
            "rate_state": str(out / "_ratelimit.json"),
            "backoff_base": 0.2,
        },
    )
    return BuildConfig(
        source=source,
        download=DownloadConfig(jobs=jobs, threads=4, backoff=0.2),
        annotate=AnnotateConfig(jobs=jobs),
        select=SelectConfig.from_dict(DEMO_SELECT),
        report=report,
    )


def run_demo(
    out_dir: str | Path, jobs: int = 2, faults: bool = False, report: bool = True, progress: bool = True
) -> DemoResult:
    """Build a small dataset from the bundled photos through the loopback server (`fdf build`).

    With ``faults``, the server answers some API calls with 503/429 and serves one photo as an
    HTML page and one with a transient 500, to show retries and failure statuses at work.
    Re-running resumes (the server's port may change; the build does not depend on it).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    catalog = demo_catalog()
    fault_cfg = Faults()
    if faults:
        ids = sorted(p.id for p in catalog)
        fault_cfg = Faults(
            rest_every=3, rest_kinds=("503", "429"), retry_after=1, image_faults={ids[0]: "html", ids[1]: "500_once"}
        )
    with FlickrServer(catalog, api_keys={DEMO_KEY: DEMO_SECRET}, faults=fault_cfg) as srv:
        log.info("loopback Flickr-compatible server at %s", srv.rest_url)
        summary = run_build(demo_build_config(srv.rest_url, out, jobs, report), out, progress=progress)
    return DemoResult(
        str(out),
        summary.manifest,
        summary.download_dir,
        summary.faces_dir,
        summary.selected_dir,
        summary.report_dir,
        summary.to_dict(),
        summary.format_text(),
    )
