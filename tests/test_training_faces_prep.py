"""Training-face preparation: staging a collection with its licence, and annotating without
identity descriptors (scripts/stage_face_source.py, `fdf annotate --no-embeddings`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
from test_annotate_stage import write_download_dir

from fdf.shards import list_shards

ROOT = Path(__file__).resolve().parent.parent
STAGE = ROOT / "scripts" / "stage_face_source.py"
PHOTO = Path(__file__).parent / "data" / "shards" / "2437602091.jpg"


def stage(src: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STAGE), str(src), "--out", str(out)], capture_output=True, text=True)


def test_known_collection_gets_its_licence_and_only_its_images_folder(tmp_path):
    src = tmp_path / "UTKFace"
    (src / "data").mkdir(parents=True)
    shutil.copy(PHOTO, src / "data" / "a.jpg")
    (src / "README.md").write_text("not an image")
    res = stage(src, tmp_path / "stage")
    assert res.returncode == 0, res.stderr
    staged = tmp_path / "stage" / "utkface"
    assert sorted(p.name for p in (staged / "images").iterdir()) == ["a.jpg"]
    sidecar = json.loads((staged / "LICENSE.json").read_text())
    assert sidecar["license_id"] == 0 and "research" in sidecar["owner_name"]
    # The folder source reads the sidecar: every row has a licence and the collection as owner.
    manifest = tmp_path / "m.parquet"
    subprocess.run(
        [sys.executable, "-m", "fdf", "-q", "manifest", "folder", str(tmp_path / "stage"), "--out", str(manifest)],
        check=True,
        capture_output=True,
    )
    table = pq.read_table(manifest).to_pandas()
    assert list(table["license_id"]) == [0] and table["owner_name"][0].startswith("UTKFace")
    assert stage(src, tmp_path / "stage").returncode == 0  # staged already: kept as it is


def test_unknown_folder_without_licence_is_refused(tmp_path):
    src = tmp_path / "somefaces"
    src.mkdir()
    shutil.copy(PHOTO, src / "a.jpg")
    res = stage(src, tmp_path / "stage")
    assert res.returncode == 2
    assert "LICENSE.json" in res.stderr
    assert not (tmp_path / "stage" / "somefaces").exists()


def test_annotate_without_embeddings_writes_null_descriptors(tmp_path):
    download = write_download_dir(tmp_path / "dl", photo_ids=["2437602091"])
    out = tmp_path / "ds"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "fdf",
            "-q",
            "annotate",
            str(download),
            "--out",
            str(out),
            "--resolutions",
            "64",
            "--no-embeddings",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    rows = pq.read_table(list_shards(out)[0], columns=["embedding", "landmarks68"]).to_pylist()
    assert rows and all(r["embedding"] is None and len(r["landmarks68"]) == 68 for r in rows)
