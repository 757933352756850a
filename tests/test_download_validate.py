"""Validation of photo bytes and the small pure pieces of the downloader, on real photos."""

from __future__ import annotations

import hashlib
import struct
import time
import zlib
from email.utils import formatdate
from pathlib import Path

import pytest
from PIL import Image

from fdf.download import DownloadConfig, is_transient, plan_shards
from fdf.download.fetch import check_url, retry_after_seconds, robots_disallows
from fdf.download.store import find_photo_file, photo_relpath, write_photo
from fdf.download.validate import validate_image
from fdf.errors import FdfError

DATA = Path(__file__).parent / "data" / "download"
PHOTOS = sorted(DATA.glob("*.jpg"))


@pytest.mark.parametrize("path", PHOTOS, ids=lambda p: p.name)
def test_real_photo_is_ok_with_its_hash_and_size(path):
    data = path.read_bytes()
    check = validate_image(data, max_pixels=10_000_000)
    with Image.open(path) as img:
        assert (check.width, check.height) == img.size
    assert check.status == "ok" and check.format == "JPEG" and check.extension == "jpg"
    assert check.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("keep", [0.3, 0.9, -2])
def test_truncated_jpeg_is_caught(keep):
    data = PHOTOS[0].read_bytes()
    cut = data[:keep] if keep < 0 else data[: int(len(data) * keep)]
    check = validate_image(cut, max_pixels=10_000_000)
    assert check.status == "truncated", check


def test_html_error_page_is_not_an_image():
    check = validate_image(b"<!DOCTYPE html><html><body>This photo is no longer available</body></html>", 10**7)
    assert check.status == "not_image" and "HTML" in check.error
    assert validate_image(b"", 10**7).status == "truncated"


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a huge size, with almost no pixel data: a decompression bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_pixel_cap_is_checked_before_decoding():
    started = time.perf_counter()
    check = validate_image(_png_header_claiming(30000, 30000), max_pixels=50_000_000)
    assert check.status == "too_large"
    assert time.perf_counter() - started < 1.0  # decoding 900 Mpx would take far longer
    # A real photo over a small cap is refused too, with its size in the message.
    small_cap = validate_image(PHOTOS[0].read_bytes(), max_pixels=1000)
    assert small_cap.status == "too_large" and "max_pixels=1000" in small_cap.error


@pytest.mark.parametrize(
    "value, blocked",
    [
        ("noai", True),
        ("NoImageAI", True),
        ("googlebot: noai, noindex", True),
        ("otherbot: noimageai", True),
        ("noindex, nofollow", False),
        ("", False),
        ("noairline", False),
    ],
)
def test_robots_header(value, blocked):
    assert robots_disallows({"X-Robots-Tag": value}) is blocked


def test_retry_after_parses_seconds_and_dates():
    assert retry_after_seconds("7") == 7.0
    assert 25 < retry_after_seconds(formatdate(time.time() + 30, usegmt=True)) <= 30
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_only_http_urls_are_fetched():
    assert check_url("https://live.staticflickr.com/1/2_s_o.jpg") == ""
    assert "scheme 'ftp'" in check_url("ftp://example.org/a.jpg")
    assert check_url("file:///etc/passwd") and check_url("") and check_url(None) and check_url("http:///x")


def test_transient_statuses():
    assert all(is_transient(s) for s in ("timeout", "connection_error", "http_429", "http_500", "http_503"))
    assert not any(is_transient(s) for s in ("ok", "http_404", "not_image", "truncated", "too_large", "http_5"))


def test_bad_config_is_a_user_error():
    with pytest.raises(FdfError, match="jobs=0"):
        DownloadConfig(jobs=0)
    with pytest.raises(FdfError, match="read_timeout"):
        DownloadConfig(read_timeout=-1)


def test_shard_plan_covers_rows_and_feeds_every_worker():
    plan = plan_shards(10, DownloadConfig(jobs=4, shard_size=1000))
    assert sum(n for _, n in plan) == 10 and len(plan) >= 4
    plan = plan_shards(2500, DownloadConfig(jobs=2, shard_size=1000))
    assert [n for _, n in plan] == [1000, 1000, 500]
    assert [o for o, _ in plan] == [0, 1000, 2000]
    assert plan_shards(0, DownloadConfig()) == []


def test_photo_paths_are_safe_and_found_again(tmp_path):
    assert photo_relpath("123", "jpg").startswith("_photos/") and photo_relpath("123", "jpg").endswith("/123.jpg")
    weird = "../etc/passwd x"
    rel = write_photo(tmp_path, weird, "png", b"abc")
    assert ".." not in rel and (tmp_path / rel).read_bytes() == b"abc"
    assert find_photo_file(tmp_path, weird) == tmp_path / rel
    assert find_photo_file(tmp_path, "other") is None
