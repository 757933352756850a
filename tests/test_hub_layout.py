"""The Hub layout of face datasets (issue 17): a real annotate and select output loads in one line
in Hugging Face ``datasets`` (by its README configs and as plain Parquet), DuckDB, pandas and
``pyarrow.dataset``, each giving exactly the face rows; a dataset of the old layout still opens,
and ``fdf migrate`` moves it, resumably."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
import yaml
from test_audit_acceptance import KEY, PHOTOS, SECRET, build, make_catalog

from fdf.annotate.stage import AnnotateConfig, annotate
from fdf.flickr_server import FlickrServer
from fdf.select import SelectConfig, select_faces
from fdf.shards import FACE_SCHEMA, dataset_counts, list_shards, read_dataset_info, read_faces, read_shard
from fdf.shards.reader import legacy_shards, shards_by_name
from fdf.shards.writer import README, README_MARK, write_dataset_json, write_face_shard

datasets = pytest.importorskip("datasets")
duckdb = pytest.importorskip("duckdb")

# val_fraction 0.6 puts 4 of these 6 photo ids in validation: both splits are there.
ANNOTATE = dict(
    resolutions=(64, 128), photos_per_shard=2, jobs=1, val_fraction=0.6, analyzer_options={"embeddings": False}
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """search -> download -> annotate (64 and 128 px, both splits) -> select, on loopback."""
    root = tmp_path_factory.mktemp("hub")
    with FlickrServer(make_catalog(PHOTOS), api_keys={KEY: SECRET}) as srv:
        build(srv, root, root / "faces-64")
    annotate(root / "download", root / "dataset", AnnotateConfig(**ANNOTATE))
    select_faces(root / "dataset", root / "selected", SelectConfig(), progress=False)
    return root


def face_rows(dataset) -> list[tuple]:
    return sorted(
        (r["face_id"], r["resolution"], r["split"])
        for r in read_faces(dataset, ["face_id", "resolution", "split"]).to_pylist()
    )


def load(*args, tmp_path, **kwargs):
    return datasets.load_dataset(*args, cache_dir=str(tmp_path / "hf-cache"), **kwargs)


@pytest.mark.parametrize("which", ["dataset", "selected"])
def test_every_reader_gets_exactly_the_face_rows(built, which, tmp_path):
    path = built / which
    rows = face_rows(path)
    counts = read_dataset_info(path)["counts"]
    assert len(rows) == counts["rows"] and {r[1] for r in rows} == {64, 128}
    splits = {r[2] for r in rows}
    assert splits == {"train", "validation"} if which == "dataset" else splits  # selection may empty one
    # Bookkeeping lies beside data/, never in it.
    assert (path / "_status").is_dir() and (path / "_dataset.json").is_file()
    assert all(p.relative_to(path).parts[0] == "data" for p in list_shards(path))
    if which == "selected":
        assert (path / "_decisions.parquet").is_file()

    # datasets: the README's configs (one per resolution, smallest the default) ...
    default = load(str(path), tmp_path=tmp_path)
    assert set(default) == splits  # a split without faces is not declared (datasets would fail on it)
    for split, ds in default.items():
        assert sorted(zip(ds["face_id"], ds["resolution"], ds["split"])) == [
            r for r in rows if r[1] == 64 and r[2] == split
        ]
    big = load(str(path), "128px", tmp_path=tmp_path)
    assert sum(len(ds) for ds in big.values()) == sum(r[1] == 128 for r in rows)
    image = next(iter(big.values()))[0]["image"]  # decoded as an image, from the schema's metadata
    assert image.size == (128, 128)
    # ... and as plain Parquet from the folder, with no bookkeeping columns or rows.
    plain = load("parquet", data_dir=str(path), tmp_path=tmp_path)
    got = sorted(r for ds in plain.values() for r in zip(ds["face_id"], ds["resolution"], ds["split"]))
    assert got == rows
    assert all(ds.column_names == list(FACE_SCHEMA.names) for ds in plain.values())

    # DuckDB, pandas and pyarrow on data/.
    n, faces = duckdb.sql(f"SELECT count(*), count(DISTINCT face_id) FROM '{path}/data/**/*.parquet'").fetchall()[0]
    assert (n, faces) == (counts["rows"], counts["faces"])
    assert duckdb.sql(f"SELECT count(*) FROM '{path}/data/64/*/*.parquet'").fetchall()[0][0] == counts["faces"]
    import pandas as pd

    assert len(pd.read_parquet(path / "data")) == counts["rows"]
    assert pads.dataset(path / "data", format="parquet").count_rows() == counts["rows"]


def test_readme_declares_the_configs_and_keeps_a_users_own(built, tmp_path):
    path = built / "dataset"
    text = (path / README).read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    assert [c["config_name"] for c in header["configs"]] == ["64px", "128px"]
    assert header["configs"][0]["default"] is True
    assert header["configs"][1]["data_files"] == [
        {"split": "train", "path": "data/128/train/*.parquet"},
        {"split": "validation", "path": "data/128/validation/*.parquet"},
    ]
    assert README_MARK in text and "load_dataset" in text

    copy = shutil.copytree(path, tmp_path / "copy")
    (copy / README).write_text("# my notes\n")
    write_dataset_json(copy, read_dataset_info(copy)["config"], dataset_counts(copy))
    assert (copy / README).read_text() == "# my notes\n"  # not one fdf wrote: kept


def to_old_layout(dataset, out):
    """The dataset as fdf wrote it before data/: one part-*.parquet per shard at the top."""
    shutil.copytree(dataset, out, ignore=shutil.ignore_patterns("data", README))
    for name, files in shards_by_name(list_shards(dataset)).items():
        write_face_shard(pa.concat_tables(read_shard(f) for f in files), out / name)
    return out


def test_old_layout_still_opens_and_migrates_resumably(built, tmp_path):
    new = built / "dataset"
    old = to_old_layout(new, tmp_path / "old")
    assert legacy_shards(old) and not (old / "data").exists()
    assert face_rows(old) == face_rows(new)
    picked = select_faces(old, tmp_path / "sel-old", SelectConfig(), progress=False)
    assert picked.faces_kept == json.loads((built / "selected" / "_select.json").read_text())["faces_kept"]

    # A migration killed after a shard's new files were written but before its old file went:
    # readers see each row once.
    first = legacy_shards(old)[0]
    table = read_shard(first)
    from fdf.shards.writer import face_file_path

    for (res, split), part in table.to_pandas().groupby(["resolution", "split"]):
        target = face_file_path(old, res, split, first.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(part, schema=table.schema, preserve_index=False), target)
    assert first.exists() and face_rows(old) == face_rows(new)

    run = subprocess.run([sys.executable, "-m", "fdf", "migrate", str(old), "--json"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["shards_moved"] == len(shards_by_name(list_shards(new))) and not summary["already_migrated"]
    assert not legacy_shards(old) and face_rows(old) == face_rows(new)
    assert sorted(p.relative_to(old).as_posix() for p in list_shards(old)) == sorted(
        p.relative_to(new).as_posix() for p in list_shards(new)
    )
    assert read_dataset_info(old)["counts"] == read_dataset_info(new)["counts"]
    plain = load(str(old), tmp_path=tmp_path)  # the README is written once the old shards are gone
    assert sum(len(ds) for ds in plain.values()) == read_dataset_info(old)["counts"]["by_resolution"]["64"]

    again = subprocess.run([sys.executable, "-m", "fdf", "migrate", str(old), "--json"], capture_output=True, text=True)
    assert again.returncode == 0 and json.loads(again.stdout)["already_migrated"]


def test_migrate_refuses_what_is_not_a_dataset_and_names_a_truncated_shard(built, tmp_path):
    run = subprocess.run([sys.executable, "-m", "fdf", "migrate", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 2 and "_dataset.json" in run.stderr and "Traceback" not in run.stderr
    old = to_old_layout(built / "dataset", tmp_path / "old")
    victim = legacy_shards(old)[-1]
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

    def files():  # the (empty) lock file aside
        return sorted(p.relative_to(old) for p in old.rglob("*") if p.name != "_removals.lock")

    before = files()
    run = subprocess.run([sys.executable, "-m", "fdf", "migrate", str(old)], capture_output=True, text=True)
    assert run.returncode == 2 and victim.name in run.stderr and "Traceback" not in run.stderr
    assert files() == before  # nothing moved


def test_torch_dataset_reads_the_hub_layout(built):
    from fdf.torch_data import FaceShardDataset

    path = built / "dataset"
    ds = FaceShardDataset(path, 128, "train")
    want = sum(1 for r in face_rows(path) if r[1] == 128 and r[2] == "train")
    assert len(ds) == want
    item = ds[0]
    assert tuple(item["image"].shape) == (3, 128, 128) and np.isfinite(item["keypoints"].numpy()).all()
