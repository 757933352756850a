"""The Flickr client and `fdf search` against hostile servers on 127.0.0.1 (issue 17, items 6, 7,
22 and 25): a dripping answer, an endless answer, a broken chunked answer, answers not of
Flickr's shape, and -vv logging that must not print the key or OAuth signature data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from fdf.flickr import FlickrApiError, FlickrClient, FlickrConfig, FlickrUnavailableError, SearchQuery, search_photos
from fdf.flickr_server import demo_catalog
from tests.conftest import FLICKR_TEST_KEY, FLICKR_TEST_SECRET
from tests.hostile_http import HostileServer, drip_body, endless_body, json_answer

QUERY = SearchQuery(license_ids=[4], min_upload_date="2019-01-01", max_upload_date="2019-01-02")


def _client(url, tmp_path, **kw) -> FlickrClient:
    return FlickrClient(
        FlickrConfig(
            api_key=FLICKR_TEST_KEY,
            api_secret=FLICKR_TEST_SECRET,
            api_url=url,
            rate_state=str(tmp_path / "rate.json"),
            backoff_base=0.01,
            **kw,
        )
    )


def _cli(args, tmp_path, timeout=120):
    env = dict(
        os.environ,
        FLICKR_API_KEY=FLICKR_TEST_KEY,
        FLICKR_API_SECRET=FLICKR_TEST_SECRET,
        FDF_CACHE_DIR=str(tmp_path / "cache"),
    )
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "fdf", *args], env=env, capture_output=True, text=True, timeout=timeout)
    return res, time.monotonic() - t0


def _search_args(url, tmp_path):
    return [
        "search",
        "--api-url",
        url,
        "--license",
        "4",
        "--min-upload-date",
        "2019-01-01",
        "--max-upload-date",
        "2019-01-02",
        "--out",
        str(tmp_path / "m.parquet"),
    ]


def test_a_dripping_answer_is_cut_at_the_total_timeout(tmp_path):
    body = b'{"photos": {"total": 0, "perpage": 100, "pages": 0, "photo": []}, "stat": "ok"}'
    with HostileServer(drip_body(body, per_second=5, content_type="application/json", chunked=True)) as srv:
        client = _client(srv.url, tmp_path, total_timeout=1.0, max_retries=1)
        t0 = time.monotonic()
        with pytest.raises(FlickrUnavailableError, match="no whole answer.*after 1s"):
            search_photos(client, QUERY, progress=False)
        assert time.monotonic() - t0 < 6
        assert srv.requests == 2  # one retry, then a clear error


def test_cli_search_against_a_dripping_server_ends_cleanly(tmp_path):
    with HostileServer(
        drip_body(b'{"photos": {"total": 0}}' * 10, per_second=1, content_type="application/json", chunked=True)
    ) as srv:
        res, elapsed = _cli([*_search_args(srv.url, tmp_path), "--total-timeout", "1"], tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "ChunkedEncodingError" not in res.stderr
    assert "no whole answer" in res.stderr
    assert elapsed < 45, elapsed  # 4 attempts of 1 s plus backoff, not 4 x 60 s


def _broken_chunks(conn, line, stop):
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"pho\r\nzz-not-a-size\r\n'
    )


def test_a_broken_chunked_answer_is_retried_then_reported(tmp_path):
    with HostileServer(_broken_chunks) as srv:
        res, _ = _cli(_search_args(srv.url, tmp_path), tmp_path)
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and "cannot reach" in res.stderr


def test_an_endless_answer_is_refused_at_the_cap(tmp_path):
    with HostileServer(endless_body()) as srv:
        client = _client(srv.url, tmp_path, max_answer_bytes=2 * 2**20)
        with pytest.raises(FlickrApiError, match="exceeds the cap of 2097152 bytes"):
            search_photos(client, QUERY, progress=False)
        assert srv.requests == 1  # not retried
        res, elapsed = _cli(_search_args(srv.url, tmp_path), tmp_path)  # the default cap, 32 MB
    assert res.returncode == 2 and "exceeds the cap" in res.stderr and "Traceback" not in res.stderr
    assert elapsed < 60


@pytest.mark.parametrize(
    "answer, message",
    [
        ({"stat": "ok"}, "no 'photos' object"),
        ([1, 2, 3], "did not answer with Flickr JSON"),
        ({"photos": [1, 2], "stat": "ok"}, "'photos' is a list"),
        ({"photos": {"total": "many", "perpage": 100, "pages": 1, "photo": []}, "stat": "ok"}, "'total' is 'many'"),
        ({"photos": {"total": 5, "perpage": "x", "pages": 1, "photo": []}, "stat": "ok"}, "'perpage' is 'x'"),
        ({"photos": {"total": 5, "perpage": 100, "pages": 1.5, "photo": []}, "stat": "ok"}, "'pages' is '1.5'"),
        ({"photos": {"total": "9" * 5000, "perpage": 100, "pages": 1, "photo": []}, "stat": "ok"}, "not a count"),
        (
            {"photos": {"total": 1, "perpage": 100, "pages": 1, "photo": {"id": "1"}}, "stat": "ok"},
            "'photo' is not a list",
        ),
        ({"photos": {"total": 1, "perpage": 100, "pages": 1, "photo": [{"title": "x"}]}, "stat": "ok"}, "with ids"),
        ({"stat": "fail"}, "did not answer with Flickr JSON"),
        (b"[" * 100000 + b"]" * 100000, "did not answer with Flickr JSON"),
    ],
)
def test_answers_not_of_flickrs_shape_are_clear_errors(tmp_path, answer, message):
    with HostileServer(json_answer(answer)) as srv:
        with pytest.raises(FlickrApiError, match=message):
            search_photos(_client(srv.url, tmp_path), QUERY, progress=False)


def test_cli_reports_a_wrong_shape_without_a_traceback(tmp_path):
    with HostileServer(json_answer({"photos": {"total": "lots"}, "stat": "ok"})) as srv:
        res, _ = _cli(_search_args(srv.url, tmp_path), tmp_path)
    assert res.returncode == 2
    assert "not Flickr's" in res.stderr and "Traceback" not in res.stderr


def test_debug_logging_never_prints_the_key_or_oauth_signature_data(flickr_server, tmp_path):
    srv = flickr_server(demo_catalog(), api_keys={FLICKR_TEST_KEY: FLICKR_TEST_SECRET})
    res, _ = _cli(
        ["-vv", "search", "--api-url", srv.rest_url, "--license", "1,2,4,5", "--out", str(tmp_path / "m.parquet")],
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "DEBUG" in res.stderr  # -vv is on for our own loggers
    for secret in (FLICKR_TEST_KEY, FLICKR_TEST_SECRET, "oauth_signature", "base string", "Signing request"):
        assert secret not in res.stderr, secret


def _answer_after_429(retry_after: str, stamps: list):
    body = json.dumps({"photos": {"total": 0, "perpage": 100, "pages": 0, "photo": []}, "stat": "ok"}).encode()

    def behaviour(conn, line, stop):
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            conn.sendall(
                f"HTTP/1.1 429 Too Many\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
        else:
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )

    return behaviour


def test_retry_after_beyond_the_backoff_cap_is_honoured(tmp_path):
    stamps: list = []
    with HostileServer(_answer_after_429("2", stamps)) as srv:
        search_photos(_client(srv.url, tmp_path, backoff_max=0.1), QUERY, progress=False)
    assert len(stamps) == 2 and stamps[1] - stamps[0] >= 1.9
    stamps.clear()
    with HostileServer(_answer_after_429("7200", stamps)) as srv:
        t0 = time.monotonic()
        with pytest.raises(FlickrUnavailableError, match="Retry-After 7200 s, longer than max_retry_after=3600"):
            search_photos(_client(srv.url, tmp_path), QUERY, progress=False)
    assert time.monotonic() - t0 < 5
