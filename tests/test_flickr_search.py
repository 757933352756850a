"""`fdf search` against the loopback Flickr-compatible server: windows, faults, opt-outs, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import requests

from fdf.flickr import FlickrAuthError, FlickrClient, FlickrConfig, FlickrUnavailableError, SearchQuery, search_photos
from fdf.flickr.search import parse_date
from fdf.flickr_server import Catalog, Faults, demo_catalog, synthetic_catalog
from fdf.manifest import read_manifest
from tests.conftest import FLICKR_TEST_KEY, FLICKR_TEST_SECRET

KEYS = {FLICKR_TEST_KEY: FLICKR_TEST_SECRET}


def expected_ids(catalog: Catalog, licenses, lo, hi, skip_opt_out=True) -> set[str]:
    """Ground truth from the server's own catalog."""
    lo, hi = parse_date(lo), parse_date(hi)
    out = set()
    for p in catalog:
        if not p.visible or p.media != "photo" or p.license not in licenses:
            continue
        if not lo <= p.date_upload <= hi:
            continue
        if skip_opt_out and "nocv" in p.clean_tags:
            continue
        out.add(p.id)
    return out


def make_client(srv, tmp_path, **kw) -> FlickrClient:
    cfg = FlickrConfig(
        api_key=FLICKR_TEST_KEY,
        api_secret=FLICKR_TEST_SECRET,
        api_url=srv.rest_url,
        rate_state=str(tmp_path / "rate.json"),
        backoff_base=0.05,
        **kw,
    )
    return FlickrClient(cfg)


def run_cli(args, tmp_path, key=FLICKR_TEST_KEY, secret=FLICKR_TEST_SECRET, timeout=240):
    env = dict(os.environ, FLICKR_API_KEY=key, FLICKR_API_SECRET=secret, FDF_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run(
        [sys.executable, "-m", "fdf", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def big_catalog():
    # 9,000 photos over a wider range than the query, six licences, 3% opted out, 1% private:
    # about 5,000 match the query, more than Flickr's 4,000 cap.
    return synthetic_catalog(
        n=9000,
        seed=7,
        min_upload="2018-12-20",
        max_upload="2019-03-10",
        licenses=(1, 2, 3, 4, 5, 6),
        no_cv_fraction=0.03,
        private_fraction=0.01,
    )


def test_cli_search_over_the_cap_with_faults_returns_exactly_the_matches(flickr_server, big_catalog, tmp_path):
    faults = Faults(rest_every=4, rest_kinds=("503", "429", "105", "500"), retry_after=1)
    srv = flickr_server(big_catalog, faults=faults, api_keys=KEYS)
    out = tmp_path / "M.parquet"
    res = run_cli(
        [
            "search",
            "--api-url",
            srv.rest_url,
            "--license",
            "1,2,4,5",
            "--min-upload-date",
            "2019-01-01",
            "--max-upload-date",
            "2019-03-01",
            "--out",
            str(out),
            "--json",
        ],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    want = expected_ids(big_catalog, {1, 2, 4, 5}, "2019-01-01", "2019-03-01")
    assert len(want) > 4000
    got = read_manifest(out)
    assert set(got["photo_id"]) == want
    assert got["photo_id"].is_unique
    summary = json.loads(res.stdout)
    assert summary["photos"] == len(want) and summary["retries"] > 0 and summary["skipped_opt_out"] > 0
    stats = srv.stats()
    assert stats, "server saw no requests"
    # the secret never leaves the process: not in output, not in the manifest
    assert FLICKR_TEST_SECRET not in res.stderr + res.stdout
    assert FLICKR_TEST_SECRET.encode() not in out.read_bytes()
    assert not (tmp_path / "M.parquet.parts").exists()


def test_manifest_rows_carry_licence_attribution_and_fetchable_urls(flickr_server, demo_catalog, tmp_path):
    srv = flickr_server(demo_catalog, api_keys=KEYS)
    licenses = sorted({p.license for p in demo_catalog})
    result = search_photos(
        make_client(srv, tmp_path), SearchQuery(license_ids=licenses, min_upload_date=0), progress=False
    )
    df = result.manifest
    assert set(df["photo_id"]) == {p.id for p in demo_catalog if p.visible and "nocv" not in p.clean_tags}
    row = df.iloc[0]
    photo = demo_catalog[row["photo_id"]]
    assert row["owner_nsid"] == photo.owner and row["title"] == photo.title
    assert int(row["license_id"]) == photo.license and row["license_name"] and row["license_url"] is not None
    assert row["page_url"] == f"https://www.flickr.com/photos/{photo.owner}/{photo.id}/"
    assert row["date_uploaded"].timestamp() == photo.date_upload
    body = requests.get(row["download_url"], timeout=10).content
    assert body == photo.read_image()  # url_o is the original file
    assert (int(row["width"]), int(row["height"])) == (photo.width, photo.height)


def test_one_overflowing_minute_is_split_by_licence(flickr_server, tmp_path):
    cat = synthetic_catalog(
        n=5000,
        seed=3,
        min_upload="2019-02-01 10:00:00",
        max_upload="2019-02-01 10:00:30",
        licenses=(4, 5),
        no_cv_fraction=0.0,
    )
    srv = flickr_server(cat, api_keys=KEYS)
    q = SearchQuery(license_ids=[4, 5], min_upload_date="2019-02-01", max_upload_date="2019-02-02")
    result = search_photos(make_client(srv, tmp_path), q, progress=False)
    assert set(result.manifest["photo_id"]) == expected_ids(cat, {4, 5}, "2019-02-01", "2019-02-02")
    assert result.overflowing_windows == 0


def test_opt_out_tag_skipped_unless_asked(flickr_server, tmp_path):
    cat = synthetic_catalog(n=300, seed=1, licenses=(4,), no_cv_fraction=0.2)
    srv = flickr_server(cat, api_keys=KEYS)
    q = dict(license_ids=[4], min_upload_date="2019-01-01", max_upload_date="2019-03-01")
    client = make_client(srv, tmp_path)
    skipped = search_photos(client, SearchQuery(**q), progress=False)
    kept = search_photos(client, SearchQuery(**q, skip_opt_out=False), progress=False)
    opted = {p.id for p in cat if "nocv" in p.clean_tags}
    assert opted and not opted & set(skipped.manifest["photo_id"])
    assert opted <= set(kept.manifest["photo_id"])
    assert skipped.skipped_opt_out == len(opted)


def test_invalid_key_stops_at_once_with_a_clear_message(flickr_server, tmp_path):
    srv = flickr_server(demo_catalog(), api_keys=KEYS)
    res = run_cli(
        ["search", "--api-url", srv.rest_url, "--license", "4", "--out", str(tmp_path / "m.parquet")],
        tmp_path,
        key="wrong-key",
        secret="topsecret-value",
    )
    assert res.returncode == 2
    assert "FLICKR_API_KEY" in res.stderr and "code 100" in res.stderr
    assert "topsecret-value" not in res.stderr
    calls = [r for r in srv.request_log() if r.get("kind", "rest") == "rest"]
    assert len(calls) <= 1  # no retries of a rejected key


def test_unreachable_server_gives_up_with_a_clear_error(tmp_path):
    cfg = FlickrConfig(
        api_key="k",
        api_secret="s3cr3t",
        api_url="http://127.0.0.1:9/services/rest/",
        rate_state=str(tmp_path / "r.json"),
        backoff_base=0.01,
    )
    with pytest.raises(FlickrUnavailableError, match="cannot reach"):
        FlickrClient(cfg).call("flickr.photos.licenses.getInfo")


def test_missing_key_is_a_clear_error():
    with pytest.raises(FlickrAuthError, match="FLICKR_API_KEY"):
        FlickrClient(FlickrConfig(api_key=""))


def test_interrupted_search_resumes_from_finished_windows(flickr_server, big_catalog, tmp_path):
    srv = flickr_server(big_catalog, api_keys=KEYS)
    q = SearchQuery(license_ids=[1, 2, 4, 5], min_upload_date="2019-01-01", max_upload_date="2019-03-01")
    out = tmp_path / "M.parquet"

    class Interrupting(FlickrClient):
        def call(self, method, **params):
            if self.calls >= 9:
                raise KeyboardInterrupt
            return super().call(method, **params)

    with pytest.raises(KeyboardInterrupt):
        search_photos(Interrupting(make_client(srv, tmp_path).config), q, out=out, progress=False)
    assert not out.exists() and list((tmp_path / "M.parquet.parts").glob("window-*.parquet"))
    resumed_client = make_client(srv, tmp_path)
    resumed = search_photos(resumed_client, q, out=out, progress=False)
    fresh = search_photos(make_client(srv, tmp_path), q, progress=False)
    assert set(read_manifest(out)["photo_id"]) == set(fresh.manifest["photo_id"])
    assert resumed.calls < fresh.calls


def test_bad_dates_and_empty_queries_are_rejected():
    with pytest.raises(ValueError, match="not a date"):
        SearchQuery(license_ids=[4], min_upload_date="yesterday")
    with pytest.raises(ValueError, match="needs at least"):
        SearchQuery()
    with pytest.raises(ValueError, match="after"):
        SearchQuery(license_ids=[4], min_upload_date="2019-03-01", max_upload_date="2019-01-01")
