"""Issue 5 acceptance: a dataset built from a Flickr-compatible loopback server, then audited
against the server after the owners changed things, then taken down by owner and rebuilt.

The dataset is built once per module through the real stages (search -> download -> annotate)
from bundled CC BY 4.0 demo frames; each test works on its own copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fdf.annotate.stage import AnnotateConfig, annotate
from fdf.audit.revalidate import DELETED, LICENSE_CHANGED, OPTED_OUT
from fdf.download import DownloadConfig, download_manifest
from fdf.flickr import FlickrClient, FlickrConfig, SearchQuery, search_photos
from fdf.flickr_server import Catalog, FlickrServer, catalog_from_files
from fdf.flickr_server.demo_photos import demo_photo_dir
from fdf.licenses import get_license
from fdf.shards import dataset_counts, list_shards, read_dataset_info, read_faces

KEY, SECRET = "0123456789abcdef0123456789abcdef", "fedcba9876543210"
# (demo frame, owner NSID, licence id): one face each, four owners, only licences that allow
# adaptation, so every flag the server causes later is the server's doing.
PHOTOS = [
    ("again_f023", "1111@N01", 4),
    ("book_f033", "1111@N01", 11),
    ("eat_f014", "2222@N02", 5),
    ("hungry_f014", "2222@N02", 4),
    ("milk_f015", "3333@N03", 9),
    ("no_f019", "4444@N04", 12),
]
EXTRA_PHOTOS = [("sorry_f022", "2222@N02", 4), ("thanks_f015", "4444@N04", 4)]  # uploaded after the build
ANNOTATE = dict(resolutions=(64,), photos_per_shard=2, jobs=1, analyzer_options={"embeddings": False})


def make_catalog(photos=PHOTOS) -> Catalog:
    """The same catalog (same photo ids) every time it is called."""
    items = [
        {
            "image_path": str(demo_photo_dir() / f"{name}.jpg"),
            "owner": owner,
            "owner_name": f"user {owner}",
            "license": lic,
            "title": name.replace("_", " "),
            "tags": ["portrait"],
        }
        for name, owner, lic in photos
    ]
    return catalog_from_files(items)


def build(server: FlickrServer, root: Path, dataset: Path | None = None) -> Path:
    """search -> download -> annotate against ``server``; returns the dataset folder."""
    client = FlickrClient(
        FlickrConfig(api_key=KEY, api_secret=SECRET, api_url=server.rest_url, rate_state=str(root / "rate.json"))
    )
    manifest = root / f"manifest-{len(list(root.glob('manifest-*.parquet')))}.parquet"
    search_photos(client, SearchQuery(license_ids=list(range(1, 17)), min_upload_date=0), out=manifest, progress=False)
    download_manifest(manifest, root / "download", DownloadConfig(jobs=1, threads=4), progress=False)
    dataset = dataset or root / "dataset"
    annotate(root / "download", dataset, AnnotateConfig(**ANNOTATE))
    return dataset


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("audit-build")
    with FlickrServer(make_catalog(), api_keys={KEY: SECRET}) as srv:
        dataset = build(srv, root)
    faces = read_faces(dataset, columns=["photo_id", "owner_nsid"]).to_pylist()
    assert len({f["photo_id"] for f in faces}) == len(PHOTOS), "every demo frame should give one face"
    return root


@pytest.fixture
def workdir(built, tmp_path) -> Path:
    """A private copy of the built download folder and dataset (dataset config points at the copy)."""
    shutil.copytree(built, tmp_path / "w")
    info_path = tmp_path / "w" / "dataset" / "_dataset.json"
    info = json.loads(info_path.read_text())
    info["config"]["download_dir"] = str(tmp_path / "w" / "download")
    info_path.write_text(json.dumps(info))
    return tmp_path / "w"


def fdf_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLICKR_API_KEY": KEY, "FLICKR_API_SECRET": SECRET, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "fdf", "-q", *args], capture_output=True, text=True, env=env, timeout=120
    )


def photo_ids_by_owner(dataset: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for row in read_faces(dataset, columns=["photo_id", "owner_nsid"]).to_pylist():
        out.setdefault(row["owner_nsid"], set()).add(row["photo_id"])
    return out


def rows_by_face(dataset: Path) -> dict[tuple, dict]:
    return {(r["face_id"], r["resolution"]): r for r in read_faces(dataset).to_pylist()}


def test_static_audit_of_built_dataset(workdir):
    dataset = workdir / "dataset"
    result = fdf_cli("audit", str(dataset), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    faces = read_faces(dataset, columns=["photo_id", "face_id", "license_id"]).to_pylist()
    assert report["kind"] == "dataset" and report["photos"] == len(PHOTOS) and report["faces"] == len(faces)
    assert report["tags_known"] is True  # read from the download folder named in _dataset.json
    by_licence = {lic["license_id"]: lic for lic in report["licenses"]}
    for lid in {lic for _, _, lic in PHOTOS}:
        assert by_licence[lid]["photos"] == sum(1 for _, _, lic in PHOTOS if lic == lid)
        assert by_licence[lid]["faces"] == len({f["face_id"] for f in faces if f["license_id"] == lid})
    share_alike = {p.id for p in make_catalog() if get_license(p.license).share_alike}
    assert report["flags"]["sa"]["count"] == len(share_alike) > 0
    assert all(report["flags"][k]["count"] == 0 for k in ("nd", "nc", "unknown", "attribution", "nocv", "mismatch"))


def test_revalidate_names_deleted_relicensed_and_opted_out(workdir, flickr_server):
    dataset = workdir / "dataset"
    srv = flickr_server(make_catalog(), api_keys={KEY: SECRET})  # same ids as the build's server
    ids = sorted(p.id for p in srv.catalog)
    deleted, relicensed, opted = ids[0], ids[2], ids[4]
    srv.catalog.delete(deleted)
    srv.catalog.set_license(relicensed, 6)  # CC BY-ND 2.0
    srv.catalog.add_tag(opted, "no_cv")
    args = ["audit", str(dataset), "--revalidate", "--api-url", srv.rest_url, "--rate-state", str(workdir / "rl.json")]

    result = fdf_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    rev = json.loads(result.stdout)["revalidation"]
    found = {(f["photo_id"], f["reason"]): f for f in rev["findings"]}
    assert set(found) == {(deleted, DELETED), (relicensed, LICENSE_CHANGED), (opted, OPTED_OUT)}
    change = found[(relicensed, LICENSE_CHANGED)]
    assert change["old_license_id"] == make_catalog()[relicensed].license
    assert (change["new_license_id"], change["new_license_name"]) == (6, get_license(6).name)
    assert all(f["revoked"] for f in rev["findings"])
    owner_of = {pid: srv.catalog[pid].owner for pid in ids}
    assert rev["by_owner"] == {owner_of[p]: [p] for p in (deleted, relicensed, opted)}  # three owners here
    assert rev["photos_checked"] == len(PHOTOS)
    assert Path(rev["file"]).is_file() and Path(rev["file"]).parent == dataset / "_audit"

    # --fail-on gates a release: findings fail, a flag that matches nothing does not.
    assert fdf_cli(*args, "--fail-on", "revoked", "--report", str(workdir / "r.md")).returncode == 1
    assert fdf_cli(*args, "--fail-on", "nd,nc,unknown", "--no-save").returncode == 0
    assert fdf_cli(*args, "--fail-on", "bogus").returncode == 2
    assert (workdir / "r.md").read_text().count(deleted) >= 1

    # fdf remove --from-audit takes down exactly what the latest revalidation found.
    before = rows_by_face(dataset)
    result = fdf_cli("remove", str(dataset), "--from-audit", "--json")
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["photo_ids_removed"]) == {deleted, relicensed, opted}
    after = rows_by_face(dataset)
    assert {k[0].split("_")[0] for k in set(before) - set(after)} == {deleted, relicensed, opted}
    assert all(after[k] == before[k] for k in after)


def test_remove_owner_keeps_other_rows_and_rebuild_does_not_bring_them_back(workdir, flickr_server):
    dataset = workdir / "dataset"
    owners = photo_ids_by_owner(dataset)
    owner = "2222@N02"
    assert owners[owner], "the owner has photos in the dataset"
    before = rows_by_face(dataset)
    shard_bytes = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in list_shards(dataset)}
    owner_shards = {
        p.name
        for p in list_shards(dataset)
        if owner in pq.read_table(p, columns=["owner_nsid"])["owner_nsid"].to_pylist()
    }

    result = fdf_cli("remove", str(dataset), "--owner", owner, "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert set(summary["photo_ids_removed"]) == owners[owner]

    after = rows_by_face(dataset)
    assert all(r["owner_nsid"] != owner for r in after.values())
    assert set(after) == {k for k, r in before.items() if r["owner_nsid"] != owner}
    assert all(after[k] == before[k] for k in after)  # every other row unchanged, image bytes included
    for p in list_shards(dataset):
        if p.name not in owner_shards:
            assert hashlib.sha256(p.read_bytes()).hexdigest() == shard_bytes[p.name], p.name
    info = read_dataset_info(dataset)
    assert info["counts"] == dataset_counts(dataset)
    assert info["counts"]["rows"] == len(after)
    assert info["counts"]["photos_by_status"]["removed"] == len(owners[owner])

    # The owner uploads more photos, another owner too; the next build must add only the latter.
    catalog = make_catalog(PHOTOS + EXTRA_PHOTOS)
    srv = flickr_server(catalog, api_keys={KEY: SECRET})
    build(srv, workdir, dataset)
    rebuilt = photo_ids_by_owner(dataset)
    assert owner not in rebuilt
    new_ids = {p.id for p in catalog if p.owner == "4444@N04"} - owners["4444@N04"]
    assert new_ids and new_ids <= rebuilt["4444@N04"], "a new photo of a kept owner is annotated"
    assert all(rows_by_face(dataset)[k] == after[k] for k in after)


def test_credits_and_card_leave_the_dataset_readable(workdir):
    import pyarrow.dataset as pads

    dataset = workdir / "dataset"
    result = fdf_cli("credits", str(dataset), "--json")
    assert result.returncode == 0, result.stderr
    assert fdf_cli("card", str(dataset)).returncode == 0
    docs = dataset / "_docs"
    csv_text = (docs / "credits.csv").read_text()
    card = (docs / "DATASET.md").read_text()
    for row in read_faces(dataset, columns=["photo_id", "photo_url", "owner_nsid", "license_url"]).to_pylist():
        assert row["photo_url"] in csv_text and row["license_url"] in csv_text
        assert f"https://www.flickr.com/people/{row['owner_nsid']}/" in (docs / "CREDITS.md").read_text()
    assert "iBUG 300-W" in card and "commercial" in card and "CenterFace" in card
    # Documents live under _docs/: pyarrow.dataset still reads only the shards.
    assert (
        pads.dataset(str(dataset / "data"), format="parquet").count_rows()
        == read_dataset_info(dataset)["counts"]["rows"]
    )
