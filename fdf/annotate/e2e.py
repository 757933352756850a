"""Search -> download -> annotate hand-annotated photos through a loopback Flickr-compatible
server, with the real ``fdf`` commands, and score the result against the annotations.

Used by ``benchmarks/bench_annotate_e2e.py`` (all of afw-dev) and the end-to-end test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.compute as pc

from ..flickr_server import Catalog, FlickrServer, catalog_from_files
from ..shards import read_faces
from .evaluate import AnnotationScore, score_annotations

KEY, SECRET = "e2e-key", "e2e-secret"


def annotated_catalog(data_dir: str | Path) -> tuple[Catalog, list[dict]]:
    """A catalog of the photos in ``data_dir/annotations.json``; photo id = file stem."""
    data_dir = Path(data_dir)
    annotations = json.loads((data_dir / "annotations.json").read_text())
    items = [{"image_path": str(data_dir / a["file"]), "id": Path(a["file"]).stem} for a in annotations]
    return catalog_from_files(items, license=4), annotations


def _fdf(args: list[str], env: dict) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "fdf", "-q", *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"fdf {args[0]} failed ({res.returncode}): {res.stderr[-2000:]}")
    return res


def run_e2e(
    data_dir: str | Path, work: str | Path, detector: str = "centerface", jobs: int = 2, resolutions: str = "128"
) -> tuple[AnnotationScore, dict]:
    """Run the three commands on ``data_dir``'s photos; return the score and stage timings."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    catalog, annotations = annotated_catalog(data_dir)
    env = dict(os.environ, FLICKR_API_KEY=KEY, FLICKR_API_SECRET=SECRET, FDF_CACHE_DIR=str(work / "cache"))
    timings = {}
    with FlickrServer(catalog, api_keys={KEY: SECRET}) as srv:
        t = time.perf_counter()
        _fdf(
            [
                "search",
                "--api-url",
                srv.rest_url,
                "--license",
                "4",
                "--min-upload-date",
                "2000-01-01",
                "--out",
                str(work / "M.parquet"),
            ],
            env,
        )
        timings["search_s"] = time.perf_counter() - t
        t = time.perf_counter()
        _fdf(
            ["download", str(work / "M.parquet"), "--out", str(work / "photos"), "--jobs", str(jobs), "--no-progress"],
            env,
        )
        timings["download_s"] = time.perf_counter() - t
    t = time.perf_counter()
    _fdf(
        [
            "annotate",
            str(work / "photos"),
            "--out",
            str(work / f"faces-{detector}"),
            "--detector",
            detector,
            "--jobs",
            str(jobs),
            "--resolutions",
            resolutions,
        ],
        env,
    )
    timings["annotate_s"] = time.perf_counter() - t
    res = int(resolutions.split(",")[0])
    table = read_faces(work / f"faces-{detector}", columns=["photo_id", "bbox_photo", "yaw", "resolution"])
    table = table.filter(pc.equal(table["resolution"], res))
    faces: dict[str, list[dict]] = {}
    for row in table.to_pylist():
        faces.setdefault(row["photo_id"], []).append(row)
    timings["photos"] = len(annotations)
    timings["faces"] = table.num_rows
    return score_annotations(faces, annotations), timings
