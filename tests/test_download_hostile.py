"""`fdf download` against hostile inputs: a server that drips bytes, and manifests naming local
files that are not the folder source's photos (issue 17, items 5 and 8)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds

from fdf.download import DownloadConfig, download_manifest
from fdf.download.fetch import fetch_url, make_session
from fdf.manifest import write_manifest
from tests.hostile_http import HostileServer, drip_body

PHOTO = sorted((Path(__file__).parent / "data" / "download").glob("*.jpg"))[0]
FAST = dict(jobs=1, threads=2, retries=0, backoff=0.05, connect_timeout=2.0)


def _statuses(out: Path) -> dict:
    df = ds.dataset(out, format="parquet").to_table().to_pandas()
    return dict(zip(df.photo_id, zip(df.status, df.error)))


def test_a_dripping_body_is_cut_at_the_total_timeout_not_between_chunks():
    # One byte a second never trips the 30 s read timeout; only the total deadline can end it.
    for chunked in (False, True):
        with HostileServer(drip_body(b"\xff\xd8" + b"x" * 200, per_second=4, chunked=chunked)) as srv:
            config = DownloadConfig(**FAST, read_timeout=30.0, total_timeout=1.5)
            t0 = time.monotonic()
            result = fetch_url(make_session(config), srv.url + "a.jpg", config)
            elapsed = time.monotonic() - t0
        assert result.status == "timeout", result
        assert "1.5" in result.error
        assert elapsed < 3.5, elapsed


def test_cli_download_with_total_timeout_returns_within_it(tmp_path):
    with HostileServer(drip_body(b"\xff\xd8" + b"x" * 120, per_second=1)) as srv:
        manifest = tmp_path / "m.parquet"
        write_manifest(
            pd.DataFrame({"photo_id": ["p1"], "download_url": [srv.url + "p1.jpg"], "license_id": [4]}), manifest
        )
        t0 = time.monotonic()
        res = subprocess.run(
            [
                sys.executable,
                "-m",
                "fdf",
                "download",
                str(manifest),
                "--out",
                str(tmp_path / "out"),
                "--jobs",
                "1",
                "--retries",
                "0",
                "--total-timeout",
                "3",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert _statuses(tmp_path / "out")["p1"][0] == "timeout"
    assert elapsed < 3 + 15, elapsed  # 3 s of body plus the interpreter and worker start


def test_local_paths_are_only_regular_files_inside_the_folder_source(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(PHOTO.read_bytes())
    (folder / "escape.jpg").symlink_to(PHOTO)  # a link inside the folder pointing out of it
    os.mkfifo(folder / "fifo.jpg")
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(PHOTO.read_bytes())
    (folder / "big.jpg").write_bytes(b"\xff\xd8" + b"\0" * 60000)
    rows = [
        ("ok", "folder", folder / "ok.jpg", folder),
        ("outside", "folder", secret, folder),
        ("dotdot", "folder", f"{folder}/../secret.jpg", folder),
        ("link_out", "folder", folder / "escape.jpg", folder),
        ("shadow", "folder", "/etc/shadow", folder),
        ("zero", "folder", "/dev/zero", "/dev"),
        ("fifo", "folder", folder / "fifo.jpg", folder),
        ("not_folder", "url_list", folder / "ok.jpg", folder),
        ("no_root", "folder", folder / "ok.jpg", None),
        ("big", "folder", folder / "big.jpg", folder),
    ]
    df = pd.DataFrame(
        [
            {
                "photo_id": pid,
                "source": src,
                "download_url": None,
                "local_path": str(path),
                "local_root": None if root is None else str(root),
                "license_id": 4,
            }
            for pid, src, path, root in rows
        ]
    )
    t0 = time.monotonic()
    download_manifest(df, tmp_path / "out", DownloadConfig(**FAST, max_bytes=50000), progress=False)
    assert time.monotonic() - t0 < 60  # no hang on the FIFO, no endless read of /dev/zero
    got = _statuses(tmp_path / "out")
    assert got["ok"][0] == "ok"
    for pid in ("outside", "dotdot", "link_out", "shadow"):
        assert got[pid][0] == "bad_url" and "outside its source folder" in got[pid][1], (pid, got[pid])
    for pid in ("zero", "fifo"):
        assert got[pid][0] == "bad_url" and "not a regular file" in got[pid][1], (pid, got[pid])
    for pid in ("not_folder", "no_root"):
        assert got[pid][0] == "bad_url" and "folder source" in got[pid][1], (pid, got[pid])
    assert got["big"][0] == "too_large"


def test_folder_manifest_rows_carry_their_folder_and_download(tmp_path):
    from fdf.sources.local_folder import folder_to_manifest

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(PHOTO.read_bytes())
    df, _ = folder_to_manifest(folder, progress=False)
    assert df["local_root"].tolist() == [str(folder.resolve())]
    download_manifest(df, tmp_path / "out", DownloadConfig(**FAST), progress=False)
    assert [s for s, _ in _statuses(tmp_path / "out").values()] == ["ok"]


def test_photo_file_names_never_collide_between_ids(tmp_path):
    import hashlib
    import itertools

    from fdf.download.store import find_photo_file, photo_relpath, write_photo

    # "a" and "a.<x>" in the same 2-hex folder: "a.*" used to find the other photo's file
    prefix = hashlib.sha1(b"a").hexdigest()[:2]
    dotted = next(f"a.{i}" for i in itertools.count() if hashlib.sha1(f"a.{i}".encode()).hexdigest()[:2] == prefix)
    hashed = "id-" + hashlib.sha1(b"Photo 1").hexdigest()  # what "Photo 1" was stored as
    ids = ["a", dotted, "ABC", "abc", "Photo 1", hashed, "1234", "1234 "]
    names = {pid: photo_relpath(pid, "jpg") for pid in ids}
    assert len({n.lower() for n in names.values()}) == len(ids)  # distinct even on a case-blind disk
    for pid in ids:
        write_photo(tmp_path, pid, "jpg", pid.encode())
    for pid in ids:
        assert find_photo_file(tmp_path, pid).read_bytes() == pid.encode()


def _image_after_429(retry_after: str, stamps: list):
    """429 with ``retry_after`` to the first request, the test photo to every later one."""
    body = PHOTO.read_bytes()

    def behaviour(conn, line, stop):
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            conn.sendall(
                f"HTTP/1.1 429 Too Many\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
        else:
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )

    return behaviour


def test_retry_after_longer_than_the_backoff_cap_is_honoured_up_to_the_total_timeout():
    config = DownloadConfig(**{**FAST, "retries": 2}, max_backoff=0.1, total_timeout=10)
    stamps: list = []
    with HostileServer(_image_after_429("2", stamps)) as srv:
        result = fetch_url(make_session(config), srv.url + "a.jpg", config)
    assert result.status == "ok" and result.attempts == 2
    assert stamps[1] - stamps[0] >= 1.9  # not max_backoff's 0.1 s
    stamps.clear()
    with HostileServer(_image_after_429("120", stamps)) as srv:  # longer than the total timeout: give up now
        t0 = time.monotonic()
        result = fetch_url(make_session(config), srv.url + "a.jpg", config)
    assert time.monotonic() - t0 < 2 and len(stamps) == 1
    assert result.status == "http_429" and "Retry-After 120 s is longer than total_timeout=10 s" in result.error


def test_per_host_rate_holds_across_jobs_and_threads(tmp_path):
    stamps: list = []
    body = PHOTO.read_bytes()

    def serve(conn, line, stop):
        stamps.append(time.monotonic())
        conn.sendall(
            f"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )

    with HostileServer(serve) as srv:
        # two host names for one server: each has its own budget
        urls = [srv.url + f"p{i}.jpg" for i in range(8)] + [srv.url.replace("127.0.0.1", "localhost") + "q.jpg"]
        df = pd.DataFrame({"photo_id": [f"p{i}" for i in range(len(urls))], "download_url": urls, "license_id": 4})
        config = DownloadConfig(jobs=2, threads=4, retries=0, host_rate=4.0, shard_size=3)
        download_manifest(df, tmp_path / "out", config, progress=False)
    assert [s for s, _ in _statuses(tmp_path / "out").values()] == ["ok"] * len(urls)
    times = sorted(stamps)
    # 8 requests to 127.0.0.1 at 4/s: at least 7 intervals of ~0.25 s, whatever the 8 threads did
    assert times[-1] - times[0] >= 7 * 0.25 * 0.9
    assert len(list((tmp_path / "out" / "_state" / "hosts").glob("*.json"))) == 2
