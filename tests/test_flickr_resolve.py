"""Filling FDF rows' download URLs through flickr.photos.getSizes on the loopback server."""

import os
import subprocess
import sys

import pandas as pd
import requests

from fdf.flickr_server import demo_catalog
from fdf.manifest import read_manifest, write_manifest
from tests.conftest import FLICKR_TEST_KEY, FLICKR_TEST_SECRET


def test_resolve_urls_fills_missing_and_marks_deleted(flickr_server, tmp_path):
    catalog = demo_catalog()
    srv = flickr_server(catalog, api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    photos = [p for p in catalog if p.visible][:4]
    gone = photos[3]
    srv.catalog.delete(gone.id)
    rows = [{"photo_id": p.id, "download_url": None, "license_id": 4} for p in photos]
    rows.append({"photo_id": "abc-local", "download_url": None, "license_id": 4})  # not a Flickr id
    rows.append({"photo_id": photos[0].id + "9", "download_url": "http://example.invalid/x.jpg", "license_id": 4})
    write_manifest(pd.DataFrame(rows), tmp_path / "in.parquet")
    env = dict(
        os.environ, FLICKR_API_KEY=FLICKR_TEST_KEY, FLICKR_API_SECRET=FLICKR_TEST_SECRET, FDF_CACHE_DIR=str(tmp_path)
    )
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "manifest",
            "resolve-urls",
            str(tmp_path / "in.parquet"),
            "--out",
            str(tmp_path / "out.parquet"),
            "--api-url",
            srv.rest_url,
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    df = read_manifest(tmp_path / "out.parquet").set_index("photo_id")
    for p in photos[:3]:
        assert df.loc[p.id, "url_status"] == "from_getsizes"
        assert requests.get(df.loc[p.id, "download_url"], timeout=10).content == p.read_image()  # the original
        assert (df.loc[p.id, "width"], df.loc[p.id, "height"]) == (p.width, p.height)
    assert df.loc[gone.id, "url_status"] == "not_found" and pd.isna(df.loc[gone.id, "download_url"])
    assert pd.isna(df.loc["abc-local", "url_status"])
    assert df.loc[photos[0].id + "9", "download_url"] == "http://example.invalid/x.jpg"
