"""The fake Flickr server, exercised only through real sockets with flickrapi and requests."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import flickrapi
import pytest
import requests
from conftest import FLICKR_TEST_KEY, FLICKR_TEST_SECRET, flickr_api
from PIL import Image

from fdf.flickr_server import (
    AdminError,
    Catalog,
    CatalogError,
    Faults,
    FlickrServer,
    admin_request,
    catalog_from_files,
    demo_catalog,
    synthetic_catalog,
)
from fdf.flickr_server.dates import to_unix
from fdf.flickr_server.demo_photos import demo_photo_paths
from fdf.licenses import license_table

KEYS = {FLICKR_TEST_KEY: FLICKR_TEST_SECRET}


def search_all(api, **params) -> list[dict]:
    """Page through a search the way a careful client does (stop at `pages`)."""
    out, page = [], 1
    while True:
        rsp = api.photos.search(page=page, **params)["photos"]
        out += rsp["photo"]
        if page >= rsp["pages"]:
            return out
        page += 1


# -- search ---------------------------------------------------------------------------------
def test_search_filters_match_catalog(flickr_server):
    catalog = synthetic_catalog(n=600, seed=3, licenses=(1, 2, 4, 5), no_cv_fraction=0.1)
    srv = flickr_server(catalog, api_keys=KEYS)
    api = flickr_api(srv)
    photos = [p for p in catalog.photos()]

    got = search_all(api, license="4,5", text="portrait", per_page=100, extras="license,tags")
    want = {
        p.id
        for p in photos
        if p.license in (4, 5) and ("portrait" in (p.title + " " + p.description).lower() or "portrait" in p.clean_tags)
    }
    assert {g["id"] for g in got} == want and want
    assert {g["license"] for g in got} <= {"4", "5"}  # strings, as Flickr sends them

    no_cv = search_all(api, tags="no_cv", extras="tags")  # raw tag no_cv is cleaned to nocv
    assert {g["id"] for g in no_cv} == {p.id for p in photos if "no_cv" in p.tags}
    assert all("nocv" in g["tags"].split() for g in no_cv)

    both = search_all(api, tags="park,beach", tag_mode="all", extras="tags")
    assert {g["id"] for g in both} == {p.id for p in photos if {"park", "beach"} <= set(p.tags)}
    either = search_all(api, tags="park,beach", tag_mode="any")
    assert len(either) == sum(1 for p in photos if {"park", "beach"} & set(p.tags)) > len(both)

    assert search_all(api, text="portrait", content_type=2) == []
    assert len(search_all(api, text="portrait", content_type=1, media="photos")) > 0

    owner = photos[0].owner
    mine = search_all(api, user_id=owner)
    assert {g["id"] for g in mine} == {p.id for p in photos if p.owner == owner}


def test_upload_and_taken_dates_are_inclusive(flickr_server, demo_catalog):
    srv = flickr_server(demo_catalog)
    api = flickr_api(srv)
    photos = sorted(demo_catalog.photos(), key=lambda p: p.date_upload)
    lo, hi = photos[3], photos[7]
    got = search_all(api, min_upload_date=lo.date_upload, max_upload_date=hi.date_upload, extras="date_upload")
    assert [g["id"] for g in got] == [p.id for p in reversed(photos[3:8])]  # date-posted-desc
    assert all(isinstance(g["dateupload"], str) for g in got)
    # MySQL datetime form, read as UTC, gives the same answer
    import datetime as dt

    as_text = lambda t: dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    got2 = search_all(api, min_upload_date=as_text(lo.date_upload), max_upload_date=as_text(hi.date_upload))
    assert [g["id"] for g in got2] == [g["id"] for g in got]
    taken = search_all(api, min_taken_date=lo.date_taken, max_taken_date=lo.date_taken, extras="date_taken")
    assert lo.id in {g["id"] for g in taken} and all(g["datetaken"] == lo.date_taken for g in taken)
    asc = search_all(api, min_upload_date="2000-01-01", sort="date-posted-asc")
    assert [g["id"] for g in asc] == [p.id for p in photos if p.visible]


def test_paging_total_and_4000_cap(flickr_server):
    catalog = synthetic_catalog(n=5000, seed=1)
    srv = flickr_server(catalog, api_keys=KEYS)
    api = flickr_api(srv)
    seen, pages = [], {}
    for page in range(1, 11):
        rsp = api.photos.search(min_upload_date="2019-01-01", per_page=500, page=page)["photos"]
        assert (rsp["total"], rsp["pages"], rsp["perpage"], rsp["page"]) == (5000, 10, 500, page)
        pages[page] = [p["id"] for p in rsp["photo"]]
        seen += pages[page]
    assert len(set(seen[:4000])) == 4000  # the first 4,000 are all different
    assert pages[9] == pages[8] and pages[10] == pages[8]  # past the cap: last reachable page again
    assert len(set(seen)) == 4000
    # per_page is capped at 500 and defaults to 100
    assert api.photos.search(text="portrait", per_page=5000)["photos"]["perpage"] == 500
    assert len(api.photos.search(text="portrait")["photos"]["photo"]) == 100


def test_extras_shapes(flickr_server, demo_catalog):
    srv = flickr_server(demo_catalog)
    api = flickr_api(srv)
    extras = (
        "license,date_upload,date_taken,owner_name,tags,machine_tags,description,url_o,url_l,url_z,o_dims,"
        "original_format,media"
    )
    photo = api.photos.search(text="astronaut", extras=extras)["photos"]["photo"][0]
    src = next(p for p in demo_catalog.photos() if p.id == photo["id"])
    assert photo["owner"] == src.owner and photo["ownername"] == src.owner_name
    assert photo["license"] == str(src.license) and photo["dateupload"] == str(src.date_upload)
    assert (photo["width_o"], photo["height_o"]) == (src.width, src.height) == (512, 512)
    assert "url_l" not in photo  # a 512 px original has no 1024 px Large size, as on Flickr
    assert photo["url_o"].startswith(srv.base_url) and photo["originalformat"] == "jpg"
    assert photo["description"] == {"_content": src.description} and photo["media"] == "photo"
    assert photo["farm"] == 66 and photo["ispublic"] == 1


# -- other methods ----------------------------------------------------------------------------
def test_licenses_get_info(flickr_server):
    api = flickr_api(flickr_server())
    rows = api.photos.licenses.getInfo()["licenses"]["license"]
    assert [r["id"] for r in rows] == list(range(17))
    assert {r["id"]: r["url"] for r in rows} == {i: lic.url for i, lic in license_table().items()}


def test_get_info_and_not_found_after_delete_or_private(flickr_server, demo_catalog):
    srv = flickr_server(demo_catalog)
    api = flickr_api(srv)
    target = next(p for p in demo_catalog.photos() if "no_cv" in p.tags)
    info = api.photos.getInfo(photo_id=target.id)["photo"]
    assert info["owner"]["nsid"] == target.owner and info["license"] == str(target.license)
    raw = {t["raw"]: t["_content"] for t in info["tags"]["tag"]}
    assert raw["no_cv"] == "nocv" and raw["sign language"] == "signlanguage"
    assert info["urls"]["url"][0]["_content"] == f"https://www.flickr.com/photos/{target.owner}/{target.id}/"
    assert info["dates"]["posted"] == str(target.date_upload) and info["title"]["_content"] == target.title

    srv.catalog.delete(target.id)
    with pytest.raises(flickrapi.FlickrError) as err:
        api.photos.getInfo(photo_id=target.id)
    assert err.value.code == 1 and f'Photo "{target.id}" not found (invalid ID)' in str(err.value)
    assert requests.get(srv.image_url(target.id), timeout=5).status_code == 404

    other = next(p for p in demo_catalog.photos() if p.visible)
    srv.catalog.make_private(other.id)
    with pytest.raises(flickrapi.FlickrError) as err:
        api.photos.getSizes(photo_id=other.id)
    assert err.value.code == 1
    assert other.id not in {p["id"] for p in search_all(api, min_upload_date=0)}


def test_get_sizes_match_served_images(flickr_server, demo_catalog):
    srv = flickr_server(demo_catalog)
    api = flickr_api(srv)
    photo = next(p for p in demo_catalog.photos() if p.width == 640)
    sizes = api.photos.getSizes(photo_id=photo.id)["sizes"]["size"]
    labels = [s["label"] for s in sizes]
    assert labels[0] == "Square" and labels[-1] == "Original" and "Medium 640" in labels and "Large" not in labels
    for size in sizes:
        rsp = requests.get(size["source"], timeout=5)
        assert rsp.status_code == 200 and rsp.headers["Content-Type"] == "image/jpeg"
        assert int(rsp.headers["Content-Length"]) == len(rsp.content)
        assert Image.open(io.BytesIO(rsp.content)).size == (size["width"], size["height"])
    original = requests.get(sizes[-1]["source"], timeout=5).content
    assert original == open(photo.image_path, "rb").read()
    # a wrong secret is a 404, like live.staticflickr.com
    assert requests.get(sizes[-1]["source"].replace(photo.original_secret, "0" * 10), timeout=5).status_code == 404


def test_key_signature_method_and_format_errors(flickr_server):
    srv = flickr_server(api_keys=KEYS)
    for key, secret, code in (
        ("nonsense", FLICKR_TEST_SECRET, 100),
        ("f" * 32, "x", 100),
        (FLICKR_TEST_KEY, "wrong-secret", 96),
    ):
        with pytest.raises(flickrapi.FlickrError) as err:
            flickr_api(srv, key, secret).photos.search(text="face")
        assert err.value.code == code
    plain = requests.get(
        srv.rest_url,
        params={
            "method": "flickr.photos.search",
            "text": "face",
            "api_key": "nope",
            "format": "json",
            "nojsoncallback": 1,
        },
        timeout=5,
    )
    assert plain.status_code == 200
    assert plain.json() == {"stat": "fail", "code": 100, "message": "Invalid API Key (Key has invalid format)"}
    api = flickr_api(srv)
    with pytest.raises(flickrapi.FlickrError) as err:
        api.do_flickr_call("flickr.photos.nonesuch")
    assert err.value.code == 112
    with pytest.raises(flickrapi.FlickrError) as err:
        api.photos.search()
    assert err.value.code == 3  # parameterless search
    # plain requests with api_key, default XML format and JSONP also work
    xml = requests.post(
        srv.rest_url,
        data={"method": "flickr.photos.search", "api_key": FLICKR_TEST_KEY, "text": "astronaut"},
        timeout=5,
    )
    assert xml.text.startswith("<?xml") and 'stat="ok"' in xml.text and 'total="1"' in xml.text
    jsonp = requests.get(
        srv.rest_url, params={"method": "flickr.test.echo", "api_key": FLICKR_TEST_KEY, "format": "json"}, timeout=5
    )
    assert jsonp.text.startswith("jsonFlickrApi({") and jsonp.text.endswith("})")


# -- faults -----------------------------------------------------------------------------------
def test_rest_faults_cycle_through_kinds(flickr_server):
    faults = Faults(rest_every=2, rest_kinds=("500", "502", "503", "429", "105"), retry_after=7)
    srv = flickr_server(faults=faults, api_keys=KEYS)
    params = {
        "method": "flickr.photos.search",
        "api_key": FLICKR_TEST_KEY,
        "text": "face",
        "format": "json",
        "nojsoncallback": 1,
    }
    answers = [requests.get(srv.rest_url, params=params, timeout=5) for _ in range(10)]
    assert [a.status_code for a in answers] == [200, 500, 200, 502, 200, 503, 200, 429, 200, 200]
    assert answers[7].headers["Retry-After"] == "7"
    assert answers[9].json() == {"stat": "fail", "code": 105, "message": "Service currently unavailable"}
    assert answers[0].json()["stat"] == "ok"
    stats = srv.stats()
    assert stats["rest"]["flickr.photos.search"] == 10 and stats["rest_faults"]["429"] == 1
    # flickrapi sees an HTTP error as FlickrError without a code
    srv.faults.update(rest_every=1, rest_kinds="503")
    with pytest.raises(flickrapi.FlickrError, match="Status code 503"):
        flickr_api(srv).photos.search(text="face")


def test_rate_limit_and_delay(flickr_server):
    srv = flickr_server(faults=Faults(rate_limit=3))
    params = {"method": "flickr.test.echo", "api_key": "any", "format": "json", "nojsoncallback": 1}
    codes = [requests.get(srv.rest_url, params=params, timeout=5).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:]
    srv.faults.update(rate_limit=0, rest_delay=0.4)
    start = time.monotonic()
    assert requests.get(srv.rest_url, params=params, timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.4
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(srv.rest_url, params=params, timeout=0.1)


def test_image_faults_seen_by_client(flickr_server, demo_catalog):
    ids = [p.id for p in demo_catalog.photos()][:8]
    kinds = ["404", "500", "500_once", "slow", "truncated", "html", "noai", "big"]
    faults = Faults(image_faults=dict(zip(ids, kinds)), slow_delay=3.0, big_bytes=8 * 2**20)
    srv = flickr_server(demo_catalog, faults=faults)
    url = {kind: srv.image_url(pid) for pid, kind in zip(ids, kinds)}
    original = {kind: demo_catalog[pid].read_image() for pid, kind in zip(ids, kinds)}

    assert requests.get(url["404"], timeout=5).status_code == 404
    assert [requests.get(url["500"], timeout=5).status_code for _ in range(2)] == [500, 500]
    once = [requests.get(url["500_once"], timeout=5) for _ in range(2)]
    assert [r.status_code for r in once] == [500, 200] and once[1].content == original["500_once"]
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(url["slow"], timeout=0.3)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url["truncated"], timeout=5)
    html = requests.get(url["html"], timeout=5)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    noai = requests.get(url["noai"], timeout=5)
    assert "noai" in noai.headers["X-Robots-Tag"] and noai.content == original["noai"]
    with requests.get(url["big"], stream=True, timeout=5) as big:
        assert int(big.headers["Content-Length"]) == 8 * 2**20
        first = next(big.iter_content(2**20))  # a careful client reads a little, then gives up
        assert first.startswith(b"\xff\xd8")

    stats = srv.stats()
    assert stats["images"][ids[2]] == 2 and stats["image_faults"]["500_once"] == 1
    assert stats["images"][ids[1]] == 2 and stats["image_status"]["404"] == 1


def test_seeded_image_fraction_is_deterministic(flickr_server):
    catalog = synthetic_catalog(n=200, seed=5)
    faults = Faults(image_fraction=0.25, image_kind="404", seed=11)
    srv = flickr_server(catalog, faults=faults)
    statuses = {p.id: requests.get(srv.image_url(p.id), timeout=5).status_code for p in catalog.photos()[:80]}
    again = {pid: requests.get(srv.image_url(pid), timeout=5).status_code for pid in statuses}
    assert statuses == again
    failed = sum(s == 404 for s in statuses.values())
    assert 8 <= failed <= 35  # about a quarter of 80


# -- admin from another process ---------------------------------------------------------------
def test_cli_server_admin_mutations(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "fdf",
        "-q",
        "serve-flickr",
        "--demo",
        "--json",
        "--api-key",
        f"{FLICKR_TEST_KEY}:{FLICKR_TEST_SECRET}",
        "--fault",
        "rest_every=0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["rest_url"] == info["base_url"] + "/services/rest/"

        class Remote:  # what flickr_api needs from a server
            rest_url = info["rest_url"]

        api = flickr_api(Remote)
        first = api.photos.search(min_upload_date=0, extras="license,tags", per_page=3)["photos"]["photo"]
        a, b, c = (p["id"] for p in first)
        base = info["base_url"]
        admin_request(base, "set_license", photo_id=a, license=6)
        admin_request(base, "add_tag", photo_id=b, tag="no_cv")
        admin_request(base, "delete", photo_id=c)
        assert api.photos.getInfo(photo_id=a)["photo"]["license"] == "6"
        assert "nocv" in api.photos.search(tags="no_cv", extras="tags")["photos"]["photo"][0]["tags"]
        with pytest.raises(flickrapi.FlickrError) as err:
            api.photos.getInfo(photo_id=c)
        assert err.value.code == 1
        admin_request(base, "set_image_fault", photo_id=a, kind="html")
        photo_a = admin_request(base, "photo", photo_id=a)["photo"]
        page = requests.get(f"{base}/{photo_a['server']}/{a}_{photo_a['original_secret']}_o.jpg", timeout=5)
        assert page.headers["Content-Type"].startswith("text/html")
        with pytest.raises(AdminError) as bad:
            admin_request(base, "set_license", photo_id=a, license=99)
        assert bad.value.status == 400
        with pytest.raises(AdminError):
            admin_request(base, "delete", photo_id="1")
        stats = admin_request(base, "stats")["stats"]
        assert stats["rest"]["flickr.photos.getInfo"] == 2 and stats["admin"]["set_license"] == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_input(tmp_path):
    bad = subprocess.run(
        [sys.executable, "-m", "fdf", "serve-flickr", "--catalog", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "catalog file not found" in bad.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "fdf", "serve-flickr", "--fault", "image:1=melt"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown image fault" in bad.stderr


# -- catalogs ---------------------------------------------------------------------------------
def test_synthetic_catalog_is_deterministic_and_honours_its_arguments():
    a = synthetic_catalog(
        n=2000, seed=7, min_upload="2019-01-01", max_upload="2019-02-01", licenses=(1, 5), no_cv_fraction=0.05
    )
    b = synthetic_catalog(
        n=2000, seed=7, min_upload="2019-01-01", max_upload="2019-02-01", licenses=(1, 5), no_cv_fraction=0.05
    )
    assert [p.to_record() for p in a] == [p.to_record() for p in b]
    photos = a.photos()
    assert {p.license for p in photos} == {1, 5}
    assert all(to_unix("2019-01-01") <= p.date_upload <= to_unix("2019-02-01") for p in photos)
    assert 50 <= sum("no_cv" in p.tags for p in photos) <= 150
    assert len({p.image_path for p in photos}) <= len(demo_photo_paths())
    ids = [int(p.id) for p in sorted(photos, key=lambda p: p.date_upload)]
    assert ids == sorted(ids)  # ids grow with upload time, as on Flickr
    with pytest.raises(CatalogError):
        synthetic_catalog(n=10, licenses=(99,))


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_catalog_save_load_round_trip(tmp_path, suffix, flickr_server):
    catalog = catalog_from_files(
        [
            demo_photo_paths()[0],
            {"image_bytes": demo_photo_paths()[1].read_bytes(), "title": "from bytes", "tags": ["No_CV"]},
        ]
    )
    catalog.set_license(catalog.photos()[0].id, 9)
    path = catalog.save(tmp_path / f"catalog{suffix}")
    loaded = Catalog.load(path)
    assert [p.to_record() for p in loaded] == [p.to_record() for p in catalog]
    srv = flickr_server(loaded)
    from_bytes = loaded.photos()[1]
    assert requests.get(srv.image_url(from_bytes.id), timeout=5).content == from_bytes.image_bytes
    with pytest.raises(CatalogError):
        Catalog.load(tmp_path / "missing.json")


def test_demo_catalog_ships_with_package(demo_catalog):
    photos = demo_catalog.photos()
    assert len(photos) == 30
    assert {p.license for p in photos} == {0, 1, 2, 4, 5, 8}
    for p in photos:
        assert os.path.exists(p.image_path) and Image.open(p.image_path).size == (p.width, p.height)
    credits = (demo_photo_paths()[0].parent / "CREDITS.md").read_text()
    assert all(p.name in credits for p in demo_photo_paths())


def test_server_start_stop_and_port_in_use():
    with FlickrServer(demo_catalog()) as srv:
        port = srv.port
        assert requests.get(srv.base_url + "/nothing", timeout=5).status_code == 404
        from fdf.flickr_server import ServerError

        with pytest.raises(ServerError):
            FlickrServer(demo_catalog(), port=port).start()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)
