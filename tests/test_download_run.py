"""download_manifest end to end against the fake Flickr server on 127.0.0.1, with injected faults."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from PIL import Image

from fdf.download import DownloadConfig, download_manifest
from fdf.download.fetch import fetch_url, make_session
from fdf.download.store import OutputLockedError, output_lock
from fdf.flickr_server import Faults, catalog_from_files

DATA = Path(__file__).parent / "data" / "download"
PHOTOS = sorted(DATA.glob("*.jpg"))
FAST = dict(jobs=1, threads=4, retries=2, backoff=0.05, read_timeout=1.0, connect_timeout=1.0)


def _serve(flickr_server, copies: int = 2, **faults):
    """Start a server with ``copies`` x the test photos; return it and {photo_id: served file}."""
    catalog = catalog_from_files([p for _ in range(copies) for p in PHOTOS])
    srv = flickr_server(catalog, faults=Faults(**faults))
    return srv, {p.id: Path(p.image_path) for p in catalog}


def _manifest(srv, ids, **extra) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "photo_id": pid,
                "download_url": srv.image_url(pid),
                "license_id": 4,
                "owner_name": f"owner {pid}",
                **extra,
            }
            for pid in ids
        ]
    )


def _dataset(out: Path) -> pd.DataFrame:
    return ds.dataset(out, format="parquet").to_table().to_pandas()


def _assert_ok_rows_match(df: pd.DataFrame, out: Path, images: dict[str, Path]) -> None:
    ok = df[df.status == "ok"]
    assert len(ok) > 0
    for row in ok.itertuples():
        served = images[row.photo_id].read_bytes()
        assert row.sha256 == hashlib.sha256(served).hexdigest()
        with Image.open(images[row.photo_id]) as img:
            assert (row.width, row.height) == img.size
        assert (out / row.path).read_bytes() == served


def test_faults_end_as_explicit_statuses(tmp_path, flickr_server):
    srv, images = _serve(flickr_server, slow_delay=3.0)
    ids = sorted(images)
    kinds = ["404", "500", "500_once", "slow", "truncated", "html", "noai", "big"]
    faults = dict(zip(ids, kinds))
    for pid, kind in faults.items():
        srv.set_image_fault(pid, kind)
    df = _manifest(srv, ids)
    df = pd.concat([df, df.iloc[:3]])  # repeated photo ids count once
    df.loc[len(df)] = {"photo_id": "gopher", "download_url": "gopher://x/1.jpg", "license_id": 4}
    config = DownloadConfig(**FAST, max_bytes=10 * 2**20, shard_size=5)
    summary = download_manifest(df, tmp_path, config, progress=False)
    got = _dataset(tmp_path).set_index("photo_id")
    assert len(got) == len(images) + 1 and got.index.is_unique
    statuses = ["http_404", "http_500", "ok", "timeout", "truncated", "not_image", "robots_disallowed", "too_large"]
    expected = {**dict(zip(ids, statuses)), "gopher": "bad_url"}
    assert got.loc[list(expected), "status"].to_dict() == expected
    assert (got.drop(index=list(expected)).status == "ok").all()
    assert got.loc[ids[2], "attempts"] == 2 and got.loc[ids[1], "attempts"] == 3
    assert (got[got.status != "ok"].error.str.len() > 0).all()
    assert got.loc[ids[6], "owner_name"] == f"owner {ids[6]}"  # manifest columns travel with the row
    assert summary.counts["ok"] == len(images) - 7 and summary.dataset_counts == summary.counts
    _assert_ok_rows_match(got.reset_index(), tmp_path, images)


def test_robots_header_can_be_ignored(tmp_path, flickr_server):
    srv, images = _serve(flickr_server, copies=1)
    pid = sorted(images)[0]
    srv.set_image_fault(pid, "noai")
    download_manifest(_manifest(srv, [pid]), tmp_path, DownloadConfig(**FAST, respect_robots=False), progress=False)
    _assert_ok_rows_match(_dataset(tmp_path), tmp_path, images)


def test_retry_after_is_honoured(flickr_server):
    srv = flickr_server(catalog_from_files(PHOTOS[:1]), faults=Faults(rest_every=1, rest_kinds=("429",), retry_after=1))
    config = DownloadConfig(retries=1, backoff=0.01)
    started = time.monotonic()
    result = fetch_url(make_session(config), srv.rest_url + "?method=flickr.test.echo", config)
    assert time.monotonic() - started >= 1.0  # the server asked for 1 s; our own backoff is 0.01 s
    assert (result.status, result.attempts, result.http_status) == ("http_429", 2, 429)


def test_rerun_skips_done_rows_and_retry_failed_replaces_transient_ones(tmp_path, flickr_server):
    srv, images = _serve(flickr_server)
    ids = sorted(images)
    for pid in ids[:2]:
        srv.set_image_fault(pid, "500")
    srv.set_image_fault(ids[2], "404")
    df = _manifest(srv, ids)
    config = DownloadConfig(**{**FAST, "retries": 0}, shard_size=4)
    first = download_manifest(df, tmp_path, config, progress=False)
    assert first.counts == {"http_500": 2, "http_404": 1, "ok": len(images) - 3}
    hits = srv.stats()["image_total"]
    again = download_manifest(df, tmp_path, config, progress=False)
    assert again.attempted == 0 and again.skipped == len(images) and srv.stats()["image_total"] == hits
    for pid in ids[:3]:
        srv.set_image_fault(pid, None)
    retried = download_manifest(df, tmp_path, DownloadConfig(**FAST, retry_failed=True), progress=False)
    assert retried.attempted == 2 and retried.counts == {"ok": 2}
    assert retried.superseded_rows_removed == 2
    got = _dataset(tmp_path)
    assert len(got) == len(images) and got.photo_id.is_unique
    assert got.set_index("photo_id").status.to_dict() == {pid: "http_404" if pid == ids[2] else "ok" for pid in ids}
    _assert_ok_rows_match(got, tmp_path, images)


def test_start_heals_duplicates_and_partial_files(tmp_path, flickr_server):
    srv, images = _serve(flickr_server, copies=1)
    df = _manifest(srv, images)
    download_manifest(df, tmp_path, DownloadConfig(**FAST, shard_size=3), progress=False)
    shards = sorted(tmp_path.glob("part-*.parquet"))
    # A kill between writing a retry's shard and pruning the old rows leaves duplicates:
    old = pq.read_table(shards[0])
    stale = old.set_column(old.schema.get_field_index("status"), "status", pa.array(["timeout"] * old.num_rows))
    pq.write_table(stale, tmp_path / "part-00000.parquet")
    pq.write_table(old, tmp_path / "part-00099.parquet")
    (tmp_path / "_photos" / ".half.jpg.123.tmp").write_bytes(b"\xff\xd8")
    summary = download_manifest(df, tmp_path, DownloadConfig(**FAST), progress=False)
    assert summary.superseded_rows_removed == old.num_rows and summary.stale_temporaries_removed == 1
    assert summary.attempted == 0
    got = _dataset(tmp_path)
    assert len(got) == len(images) and got.photo_id.is_unique and (got.status == "ok").all()
    assert not list(tmp_path.rglob(".*.tmp"))


def test_stored_photo_from_killed_shard_is_revalidated_not_refetched(tmp_path, flickr_server):
    srv, images = _serve(flickr_server, copies=1)
    df = _manifest(srv, images)
    download_manifest(df, tmp_path, DownloadConfig(**FAST), progress=False)
    for shard in tmp_path.glob("part-*.parquet"):
        shard.unlink()  # as if killed after storing photos, before the shard's rename
    hits = srv.stats()["image_total"]
    summary = download_manifest(df, tmp_path, DownloadConfig(**FAST), progress=False)
    assert srv.stats()["image_total"] == hits
    assert summary.reused_files == len(images) and summary.counts == {"ok": len(images)}
    _assert_ok_rows_match(_dataset(tmp_path), tmp_path, images)


def test_local_rows_are_read_from_disk_with_the_same_checks(tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(PHOTOS[1].read_bytes()[:5000])
    df = pd.DataFrame(
        [
            {"photo_id": "a", "download_url": None, "local_path": str(PHOTOS[0]), "local_root": str(DATA)},
            {"photo_id": "b", "download_url": "", "local_path": str(broken), "local_root": str(tmp_path)},
            {
                "photo_id": "c",
                "download_url": None,
                "local_path": str(tmp_path / "gone.jpg"),
                "local_root": str(tmp_path),
            },
            {"photo_id": "d", "download_url": None, "local_path": None, "local_root": None},
        ]
    ).assign(source="folder", license_id=1)
    download_manifest(df, tmp_path / "out", DownloadConfig(**FAST), progress=False)
    got = _dataset(tmp_path / "out").set_index("photo_id")
    assert got.status.to_dict() == {"a": "ok", "b": "truncated", "c": "missing_file", "d": "bad_url"}
    _assert_ok_rows_match(got.reset_index(), tmp_path / "out", {"a": PHOTOS[0]})


def test_two_runs_cannot_share_an_output_folder(tmp_path):
    with output_lock(tmp_path):
        with pytest.raises(OutputLockedError, match="in use"):
            download_manifest(
                pd.DataFrame({"photo_id": ["1"], "download_url": ["http://127.0.0.1:1/a.jpg"], "license_id": [4]}),
                tmp_path,
                DownloadConfig(**FAST),
                progress=False,
            )
    assert not list(tmp_path.glob("part-*"))


def test_pending_mask_takes_each_photos_newest_row(tmp_path):
    from fdf.download.runner import _pending_mask
    from fdf.download.store import read_statuses, write_shard

    write_shard(tmp_path, 0, pa.table({"photo_id": ["a", "b", "c"], "status": ["timeout", "ok", "http_404"]}))
    write_shard(tmp_path, 1, pa.table({"photo_id": ["a", "c"], "status": ["ok", "http_503"]}))
    manifest = pa.table({"photo_id": ["a", "b", "c", "d"]})
    done = read_statuses(tmp_path)
    assert _pending_mask(manifest, done, retry_failed=False).tolist() == [False, False, False, True]
    # a: its timeout was retried and is ok now; c: the newest row failed transiently (503)
    assert _pending_mask(manifest, done, retry_failed=True).tolist() == [False, False, True, True]
