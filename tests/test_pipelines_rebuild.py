"""An FDF rebuild with the shipped manifests/fdf_rebuild.toml: metainfo faces in, the same faces out.

The metainfo is written here for three bundled demo photos (faces from our own analyzer, stored
the way FDF's fdf_metainfo.json stores them) plus one photo deleted from the loopback server
since; download URLs come from flickr.photos.getSizes, as for a rebuild without a YFCC dump.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from fdf.annotate import AnalyzerConfig, FaceAnalyzer
from fdf.flickr_server import Catalog, FlickrServer, demo_catalog
from fdf.manifest import read_manifest
from fdf.shards import read_faces
from pipelines import load_build_config, run_build

ROOT = Path(__file__).resolve().parents[1]


def metainfo_for(photos, analyzer) -> dict:
    faces, key = {}, 0
    for p in photos:
        rgb = np.asarray(Image.open(p.image_path).convert("RGB"))
        for f in analyzer.analyze(rgb):
            faces[str(key)] = {
                "author": p.owner_name,
                "photo_title": p.title,
                "category": "training",
                "photo_url": f"http://www.flickr.com/photos/{p.owner}/{p.id}/",
                "license": "Attribution License",
                "license_url": "http://creativecommons.org/licenses/by/2.0/",
                "original_bounding_box": [float(v) for v in f.bbox],
                "original_landmark": [[float(x), float(y)] for x, y, _ in np.asarray(f.keypoints)],
                "date_taken": "2019-01-01 10:00:00.0",
                "date_uploaded": "2019-01-02",
                "yfcc100m_line_idx": None,
            }
            key += 1
    return faces


def test_fdf_rebuild_config_rebuilds_the_given_faces(tmp_path):
    photos = [p for p in sorted(demo_catalog(), key=lambda p: p.id) if p.license > 0][:4]
    meta = metainfo_for(photos, FaceAnalyzer(AnalyzerConfig()))
    (tmp_path / "fdf_metainfo.json").write_text(json.dumps(meta))
    config = load_build_config(ROOT / "manifests" / "fdf_rebuild.toml")
    config.source.path = str(tmp_path / "fdf_metainfo.json")
    config.report = False
    catalog = Catalog(photos)
    gone = photos[-1].id
    catalog.delete(gone)
    with FlickrServer(catalog) as srv:
        config.source.flickr.update(
            api_url=srv.rest_url, api_key="k", api_secret="s", rate_state=str(tmp_path / "rate.json"), backoff_base=0.1
        )
        summary = run_build(config, tmp_path / "out", progress=False)

    manifest = read_manifest(tmp_path / "out" / "manifest.parquet").set_index("photo_id")
    assert manifest.loc[gone, "url_status"] == "not_found" and pd.isna(manifest.loc[gone, "download_url"])
    live = [p.id for p in photos if p.id != gone]
    assert (manifest.loc[live, "url_status"] == "from_getsizes").all()
    assert summary.stage("download").counts["ok"] == len(live)
    assert summary.stage("source").counts["photos_gone"] == 1

    rebuilt = read_faces(tmp_path / "out" / "faces", columns=["photo_id", "bbox_photo", "resolution"]).to_pandas()
    given = [f for f in meta.values() if f"/{gone}/" not in f["photo_url"]]
    assert len(rebuilt) == len(given)  # every given face of a live photo, no more, at one resolution
    got = np.array(sorted(tuple(map(float, b)) for b in rebuilt["bbox_photo"]))
    want = np.array(sorted(tuple(f["original_bounding_box"]) for f in given))
    np.testing.assert_allclose(got, want, atol=0.01)  # stored as float32
    # the shipped rebuild config selects every face (FDF kept all of its metainfo's faces)
    assert summary.stage("select").counts["faces_kept"] == len(given)
