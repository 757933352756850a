"""Takedowns on a real face-shard dataset: which files change, resuming a killed removal, the
removal log as later builds read it, removal lists, and the commercial-safe dataset subset."""

from __future__ import annotations

import hashlib
import json
import shutil

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from test_audit_acceptance import ANNOTATE, KEY, SECRET, build, make_catalog

from fdf.annotate.stage import AnnotateConfig, annotate
from fdf.audit.photos import load_photos
from fdf.audit.subset import write_commercial_subset
from fdf.audit.takedown import (
    REMOVALS_FILE,
    TakedownError,
    apply_removal_log,
    is_removed,
    parse_removal_list,
    read_removal_log,
    remove_photos,
    removed_owners,
    removed_photo_ids,
)
from fdf.errors import FdfError
from fdf.flickr_server import FlickrServer
from fdf.licenses import get_license
from fdf.shards import dataset_counts, list_shards, orphan_shards, read_dataset_info, read_faces, read_status
from pipelines.cli import main

# Some licences here forbid commercial use or adaptation, for the commercial-safe subset.
PHOTOS = [
    ("again_f023", "1111@N01", 4),
    ("book_f033", "1111@N01", 6),
    ("eat_f014", "2222@N02", 2),
    ("hungry_f014", "2222@N02", 4),
    ("milk_f015", "3333@N03", 11),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("takedown-build")
    with FlickrServer(make_catalog(PHOTOS), api_keys={KEY: SECRET}) as srv:
        build(srv, root)
    assert len(list_shards(root / "dataset")) == 3  # 5 photos, 2 per shard
    return root


@pytest.fixture
def dataset(built, tmp_path):
    shutil.copytree(built, tmp_path / "w")
    return tmp_path / "w" / "dataset"


def file_hashes(dataset) -> dict[str, str]:
    return {p.relative_to(dataset).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in list_shards(dataset)}


def rows(dataset) -> dict[tuple, dict]:
    return {(r["face_id"], r["resolution"]): r for r in read_faces(dataset).to_pylist()}


def files_of(dataset, photo_id) -> set[str]:
    """The face files holding rows of ``photo_id`` (one per resolution, under data/)."""
    return {
        p.relative_to(dataset).as_posix()
        for p in list_shards(dataset)
        if photo_id in pq.read_table(p, columns=["photo_id"])["photo_id"].to_pylist()
    }


def test_remove_one_photo_rewrites_only_its_shard(dataset):
    before, hashes = rows(dataset), file_hashes(dataset)
    victim = sorted({r["photo_id"] for r in before.values()})[1]
    targets = files_of(dataset, victim)
    assert targets and all(t.startswith("data/") for t in targets)
    result = remove_photos(dataset, photo_ids=[victim, "999"], reason="owner e-mail")
    assert result.photo_ids_removed == [victim] and result.requested_not_found == ["999"]
    assert set(result.shards_rewritten) | set(result.shards_deleted) == targets
    assert result.shards_untouched == len(hashes) - len(targets)
    after = rows(dataset)
    assert set(after) == {k for k, r in before.items() if r["photo_id"] != victim}
    assert all(after[k] == before[k] for k in after)
    new_hashes = file_hashes(dataset)
    assert {n for n in hashes if new_hashes.get(n) != hashes[n]} == targets
    status = {r["photo_id"]: r for r in read_status(dataset).to_pylist()}
    assert status[victim]["status"] == "removed" and status[victim]["faces"] == 0
    assert read_dataset_info(dataset)["counts"] == dataset_counts(dataset)
    assert removed_photo_ids(dataset) == {victim, "999"} and is_removed(dataset, "999")
    entry = read_removal_log(dataset).entries[-1]
    assert entry["reason"] == "owner e-mail" and entry["matched_photo_ids"] == [victim]

    # Applying the log again changes nothing: every shard keeps its bytes.
    again = apply_removal_log(dataset)
    assert again.rows_removed == 0 and again.shards_untouched == len(new_hashes)
    assert file_hashes(dataset) == new_hashes


def test_emptied_shard_is_deleted_and_dataset_stays_consistent(dataset):
    target = list_shards(dataset)[0]
    ids = set(pq.read_table(target, columns=["photo_id"])["photo_id"].to_pylist())
    result = remove_photos(dataset, photo_ids=ids)
    assert result.shards_deleted == [target.relative_to(dataset).as_posix()] and not target.exists()
    assert orphan_shards(dataset) == []  # its status table stays, marking the photos removed
    assert (
        pads.dataset(str(dataset / "data"), format="parquet").count_rows()
        == read_dataset_info(dataset)["counts"]["rows"]
    )


def test_a_killed_removal_is_finished_by_the_log(dataset):
    """The log is written before any shard: a removal killed after that point leaves the log;
    the next apply (or any `fdf remove`) finishes it, and builds already honour it."""
    owner = "2222@N02"
    (dataset / REMOVALS_FILE).write_text(json.dumps({"owners": [owner], "photo_ids": [], "reason": "x"}) + "\n")
    assert owner in {r["owner_nsid"] for r in rows(dataset).values()}  # shards not rewritten yet
    assert removed_owners(dataset) == {owner}
    result = apply_removal_log(dataset)
    assert result.rows_removed > 0
    assert owner not in {r["owner_nsid"] for r in rows(dataset).values()}


def test_broken_log_stops_removal_and_builds(dataset, built):
    (dataset / REMOVALS_FILE).write_text('{"photo_ids": ["1"]}\n{"photo_ids": [\n')
    with pytest.raises(TakedownError, match="line 2"):
        read_removal_log(dataset)
    # A build must not go on as if nothing had been removed.
    with pytest.raises(FdfError):
        annotate(built / "download", dataset, AnnotateConfig(**ANNOTATE))


def test_removal_list_file_through_the_cli(dataset, tmp_path, capsys):
    faces = read_faces(dataset, columns=["photo_id", "owner_nsid", "photo_url"]).to_pylist()
    by_url = faces[0]
    owner = next(f["owner_nsid"] for f in faces if f["owner_nsid"] != by_url["owner_nsid"])
    listing = tmp_path / "takedowns.txt"
    listing.write_text(f"# requests of this week\n{by_url['photo_url']}\n\nowner:{owner}  # by e-mail\n")
    assert main(["-q", "remove", str(dataset), "--list", str(listing), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    expected = {by_url["photo_id"]} | {f["photo_id"] for f in faces if f["owner_nsid"] == owner}
    assert set(summary["photo_ids_removed"]) == expected
    left = {r["photo_id"] for r in rows(dataset).values()}
    assert not left & expected and left == {f["photo_id"] for f in faces} - expected

    listing.write_text("this is not an id!\n")
    assert main(["-q", "remove", str(dataset), "--list", str(listing)]) == 2
    assert "line 1" in capsys.readouterr().err
    assert main(["-q", "remove", str(dataset)]) == 2
    assert main(["-q", "remove", str(tmp_path), "--photo", "1"]) == 2
    assert main(["-q", "remove", str(dataset), "--from-audit"]) == 2  # no revalidation saved yet


def test_parse_removal_list_kinds():
    photos, owners = parse_removal_list(
        "123\nphoto:456\nowner:789@N02\n12345678@N00\nhttps://www.flickr.com/photos/someone/42/in/album\n"
    )
    assert photos == ["123", "456", "42"] and owners == ["789@N02", "12345678@N00"]


def test_commercial_safe_subset_of_a_dataset(dataset, tmp_path):
    remove_photos(dataset, photo_ids=["999"])  # a takedown the subset must carry along
    out = tmp_path / "safe"
    summary = write_commercial_subset(dataset, out)
    src = rows(dataset)
    subset = rows(out)
    safe = {
        k
        for k, r in src.items()
        if get_license(r["license_id"]).commercial and get_license(r["license_id"]).derivatives
    }
    assert set(subset) == safe and 0 < len(safe) < len(src)
    assert all(subset[k] == src[k] for k in subset)
    assert summary["photos"] == len({k[0] for k in safe})
    assert read_dataset_info(out)["counts"] == dataset_counts(out) and orphan_shards(out) == []
    assert removed_photo_ids(out) == {"999"}
    assert load_photos(out).photos["photo_id"].tolist() == sorted({r["photo_id"] for r in subset.values()})
    with pytest.raises(FdfError, match="not empty"):
        write_commercial_subset(dataset, out)


def test_audit_of_a_download_folder(built, capsys):
    assert main(["-q", "audit", str(built / "download"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "download" and report["photos"] == len(PHOTOS)
    assert report["flags"]["nd"]["count"] == sum(not get_license(lic).derivatives for _, _, lic in PHOTOS)
    assert report["flags"]["nc"]["count"] == sum(not get_license(lic).commercial for _, _, lic in PHOTOS)


def test_remove_from_a_build_folder_reaches_every_dataset(dataset, tmp_path, capsys):
    build_dir = tmp_path / "build"
    shutil.copytree(dataset, build_dir / "faces")
    write_commercial_subset(build_dir / "faces", build_dir / "selected")
    owner = "1111@N01"
    assert all(owner in {r["owner_nsid"] for r in rows(build_dir / d).values()} for d in ("faces", "selected"))
    assert main(["-q", "remove", str(build_dir), "--owner", owner, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["datasets"]) == {str(build_dir / "faces"), str(build_dir / "selected")}
    for d in ("faces", "selected"):
        assert owner not in {r["owner_nsid"] for r in rows(build_dir / d).values()}
        assert removed_owners(build_dir / d) == {owner}
    assert main(["-q", "remove", str(tmp_path / "nothing-here"), "--owner", owner]) == 2


def test_concurrent_removals_both_hold(dataset):
    import subprocess
    import sys

    ids = sorted({r["photo_id"] for r in rows(dataset).values()})[:2]
    procs = [
        subprocess.Popen([sys.executable, "-m", "fdf", "-q", "remove", str(dataset), "--photo", pid]) for pid in ids
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert removed_photo_ids(dataset) == set(ids) and len(read_removal_log(dataset).entries) == 2
    assert not {r["photo_id"] for r in rows(dataset).values()} & set(ids)
