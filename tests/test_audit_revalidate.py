"""Revalidation against the loopback Flickr server: reasons, shared rate limit, faults, errors."""

from __future__ import annotations

import json
import time

import pandas as pd
import pytest
from conftest import FLICKR_TEST_KEY, FLICKR_TEST_SECRET

from fdf.audit.revalidate import (
    CHECK_FAILED,
    DELETED,
    LICENSE_CHANGED,
    OPTED_OUT,
    is_revoked_change,
    latest_revalidation,
    revalidate,
    save_revalidation,
)
from fdf.flickr import FlickrAuthError, FlickrClient, FlickrConfig
from fdf.flickr.ratelimit import RateLimiter
from fdf.flickr_server import Catalog, Faults, synthetic_catalog


def photos_of(catalog: Catalog) -> pd.DataFrame:
    """Photo rows as the dataset recorded them (licences as they were at build time)."""
    return pd.DataFrame(
        [{"photo_id": p.id, "owner_nsid": p.owner, "license_id": p.license, "source": "flickr"} for p in catalog]
    )


def client_for(srv, tmp_path, **config) -> FlickrClient:
    cfg = FlickrConfig(
        api_key=FLICKR_TEST_KEY,
        api_secret=FLICKR_TEST_SECRET,
        api_url=srv.rest_url,
        rate_state=str(tmp_path / "rate.json"),
        backoff_base=0.01,
        **config,
    )
    return FlickrClient(cfg)


def test_each_change_gets_its_reason(flickr_server, tmp_path):
    catalog = synthetic_catalog(12, licenses=(4, 6), no_cv_fraction=0.0, seed=3)
    photos = photos_of(catalog)
    srv = flickr_server(catalog, api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    ids = sorted(photos["photo_id"])
    by_id = {p.id: p for p in catalog}
    narrower = next(i for i in ids if by_id[i].license == 4)
    wider = next(i for i in ids if by_id[i].license == 6)
    gone, private, opted = [i for i in ids if i not in (narrower, wider)][:3]
    srv.catalog.delete(gone)
    srv.catalog.make_private(private)
    srv.catalog.set_license(narrower, 3)  # BY -> BY-NC-ND: revoked
    srv.catalog.set_license(wider, 4)  # BY-ND -> BY: more permissive, reported but not revoked
    srv.catalog.add_tag(opted, "No_CV")

    rev = revalidate(photos, client_for(srv, tmp_path), threads=3)
    found = {(f.photo_id, f.reason): f for f in rev.findings}
    assert set(found) == {
        (gone, DELETED),
        (private, DELETED),
        (narrower, LICENSE_CHANGED),
        (wider, LICENSE_CHANGED),
        (opted, OPTED_OUT),
    }
    assert found[(narrower, LICENSE_CHANGED)].revoked and not found[(wider, LICENSE_CHANGED)].revoked
    assert (found[(wider, LICENSE_CHANGED)].old_license_id, found[(wider, LICENSE_CHANGED)].new_license_id) == (6, 4)
    assert set(rev.revoked_photo_ids()) == {gone, private, narrower, opted}
    assert rev.photos_checked == len(photos)
    assert srv.stats()["rest"]["flickr.photos.getInfo"] == len(photos)


def test_only_flickr_photos_are_asked_about(flickr_server, tmp_path):
    catalog = synthetic_catalog(3, no_cv_fraction=0.0)
    srv = flickr_server(catalog, api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    photos = photos_of(catalog)
    third = photos.iloc[2]
    # a Flickr photo found through a URL list counts; a photo from a local folder does not
    photos = photos.assign(
        source=["flickr", "folder", "urls"],
        photo_url=[None, None, f"https://www.flickr.com/photos/{third.owner_nsid}/{third.photo_id}/"],
    )
    rev = revalidate(photos, client_for(srv, tmp_path))
    assert (rev.photos_checked, rev.photos_skipped, rev.findings) == (2, 1, [])
    assert srv.stats()["rest"]["flickr.photos.getInfo"] == 2


def test_threads_share_one_rate_limit(flickr_server, tmp_path):
    catalog = synthetic_catalog(30, no_cv_fraction=0.0)
    srv = flickr_server(catalog, api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    client = client_for(srv, tmp_path)
    per_second, burst = 40.0, 5
    client.rate_limiter = RateLimiter(per_second * 3600, burst, tmp_path / "shared.json")
    started = time.monotonic()
    rev = revalidate(photos_of(catalog), client, threads=8)
    elapsed = time.monotonic() - started
    assert rev.findings == []
    # 8 threads, but one bucket: the calls beyond the burst come at most 40 a second.
    assert elapsed >= (len(catalog) - burst) / per_second * 0.9
    assert srv.stats()["rest"]["flickr.photos.getInfo"] == len(catalog)


def test_transient_errors_are_retried_and_dead_server_is_check_failed(flickr_server, tmp_path):
    catalog = synthetic_catalog(9, no_cv_fraction=0.0)
    srv = flickr_server(
        catalog,
        faults=Faults(rest_every=2, rest_kinds=("503", "429"), retry_after=0),
        api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET},
    )
    rev = revalidate(photos_of(catalog), client_for(srv, tmp_path), threads=2)
    assert rev.findings == []  # every 503/429 was retried to success
    assert srv.stats()["rest_status"].get("503", 0) + srv.stats()["rest_status"].get("429", 0) > 0

    client = client_for(srv, tmp_path, max_retries=1)
    srv.stop()
    rev = revalidate(photos_of(catalog).head(3), client, threads=2)
    assert [f.reason for f in rev.findings] == [CHECK_FAILED] * 3
    assert rev.revoked_photo_ids() == {}  # an unreachable server revokes nothing


def test_rejected_key_stops_the_run(flickr_server, tmp_path):
    catalog = synthetic_catalog(3, no_cv_fraction=0.0)
    srv = flickr_server(catalog, api_keys={"another-key-00000000000000000000": "x" * 16})
    with pytest.raises(FlickrAuthError):
        revalidate(photos_of(catalog), client_for(srv, tmp_path), threads=2)


def test_saved_findings_round_trip_and_latest_wins(flickr_server, tmp_path):
    catalog = synthetic_catalog(4, no_cv_fraction=0.0)
    srv = flickr_server(catalog, api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    client = client_for(srv, tmp_path)
    first = revalidate(photos_of(catalog), client)
    save_revalidation(first, tmp_path / "_audit")
    srv.catalog.delete(sorted(p.id for p in catalog)[1])
    second = revalidate(photos_of(catalog), client)
    path = save_revalidation(second, tmp_path / "_audit")
    latest_path, latest = latest_revalidation(tmp_path / "_audit")
    assert latest_path == path
    assert latest.findings == second.findings and len(latest.findings) == 1
    assert latest_revalidation(tmp_path / "nothing") is None


@pytest.mark.parametrize(
    "old,new,revoked",
    [
        (4, 6, True),
        (4, 2, True),
        (4, 5, True),
        (4, 0, True),
        (6, 4, False),
        (3, 11, False),
        (9, 4, False),
        (None, 4, False),
    ],
)
def test_which_licence_changes_revoke(old, new, revoked):
    assert is_revoked_change(old, new) is revoked


def test_killed_revalidation_resumes_without_rechecking(flickr_server, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from fdf.manifest import write_manifest

    catalog = synthetic_catalog(60, no_cv_fraction=0.0, seed=5)
    srv = flickr_server(catalog, faults=Faults(rest_delay=0.04), api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    gone = sorted(p.id for p in catalog)[-1]
    srv.catalog.delete(gone)  # found only by the second run, which must still report it
    manifest = tmp_path / "m.parquet"
    write_manifest(photos_of(catalog).assign(download_url="http://127.0.0.1/x.jpg"), manifest)
    cmd = [
        sys.executable,
        "-m",
        "fdf",
        "-q",
        "audit",
        str(manifest),
        "--revalidate",
        "--api-url",
        srv.rest_url,
        "--rate-state",
        str(tmp_path / "rl.json"),
        "--threads",
        "2",
        "--json",
    ]
    env = {**os.environ, "FLICKR_API_KEY": FLICKR_TEST_KEY, "FLICKR_API_SECRET": FLICKR_TEST_SECRET}
    partial = tmp_path / "_audit" / "progress-revalidation.jsonl"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not partial.exists() or len(partial.read_text().splitlines()) < 21):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # calls in flight at the kill still reach the server's counters; let them land
    checked_before = len(partial.read_text().splitlines()) - 1
    assert 20 <= checked_before < len(catalog)
    calls_before = srv.stats()["rest"]["flickr.photos.getInfo"]

    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rev = json.loads(result.stdout)["revalidation"]
    assert [(f["photo_id"], f["reason"]) for f in rev["findings"]] == [(gone, DELETED)]
    assert rev["photos_checked"] == len(catalog)
    second_run_calls = srv.stats()["rest"]["flickr.photos.getInfo"] - calls_before
    assert second_run_calls == len(catalog) - checked_before  # nothing checked twice
    assert not partial.exists()
