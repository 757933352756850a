"""Local folders with licence sidecars -> manifest, on a real photo."""

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from fdf.errors import SourceError
from fdf.manifest import read_manifest, write_manifest
from fdf.sources.local_folder import folder_to_manifest

PHOTO = Path(__file__).parent / "data" / "sources" / "einstein.jpg"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "photos"
    (root / "portraits" / "more").mkdir(parents=True)
    (root / "unlabelled").mkdir()
    (root / ".cache").mkdir()
    shutil.copy(PHOTO, root / "portraits" / "einstein.jpg")
    shutil.copy(PHOTO, root / "unlabelled" / "same_bytes.JPEG")  # same photo, second folder
    with Image.open(PHOTO) as im:
        im.convert("L").save(root / "portraits" / "more" / "grey.png")
        im.resize((100, 125)).save(root / "unlabelled" / "small.webp")
    shutil.copy(PHOTO, root / ".cache" / "hidden.jpg")
    (root / "notes.txt").write_text("not an image")
    (root / "portraits" / "LICENSE.json").write_text(
        json.dumps(
            {"license_url": "https://creativecommons.org/publicdomain/mark/1.0/", "owner_name": "Orren Jack Turner"}
        )
    )
    (root / "licenses.csv").write_text(
        "file,license_id,owner_name,title,source_url\n"
        "portraits/more/grey.png,4,Someone Else,Grey copy,https://example.org/grey\n"
    )
    return root


def test_folder_rows_ids_and_licences(tree, tmp_path):
    df, stats = folder_to_manifest(tree, progress=False)
    write_manifest(df, tmp_path / "m.parquet")
    m = read_manifest(tmp_path / "m.parquet").set_index("local_path")
    assert stats.images == 4 and stats.duplicates == 1 and stats.photos == len(m) == 3
    einstein = m.loc[str((tree / "portraits" / "einstein.jpg").resolve())]
    assert einstein["photo_id"] == hashlib.sha256(PHOTO.read_bytes()).hexdigest()[:16]
    assert einstein["license_id"] == 10 and einstein["owner_name"] == "Orren Jack Turner"
    assert (einstein["width"], einstein["height"]) == Image.open(PHOTO).size
    grey = m.loc[str((tree / "portraits" / "more" / "grey.png").resolve())]
    # The per-file entry overrides the folder-wide LICENSE.json above it.
    assert (
        grey["license_id"] == 4
        and grey["owner_name"] == "Someone Else"
        and grey["page_url"] == "https://example.org/grey"
    )
    small = m.loc[str((tree / "unlabelled" / "small.webp").resolve())]
    assert pd.isna(small["license_id"]) and stats.unlicensed == 1  # never assumed free
    assert m["download_url"].isna().all() and set(m["source"]) == {"folder"}


def test_licensed_copy_wins_over_unlicensed_duplicate(tmp_path):
    root = tmp_path / "r"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    shutil.copy(PHOTO, root / "a" / "x.jpg")  # sorted first, no licence
    shutil.copy(PHOTO, root / "b" / "y.jpg")
    (root / "b" / "LICENSE.json").write_text('{"license_id": 9}')
    df, _ = folder_to_manifest(root, progress=False)
    assert len(df) == 1 and df["license_id"].item() == 9 and df["local_path"].item().endswith("y.jpg")


def test_sidecar_errors_name_file_and_line(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    shutil.copy(PHOTO, root / "x.jpg")
    (root / "licenses.csv").write_text("file,license_id\nx.jpg,4\nx.jpg,77\n")
    with pytest.raises(SourceError, match=r"licenses\.csv: line 3: unknown licence id '77'"):
        folder_to_manifest(root, progress=False)
    (root / "licenses.csv").write_text("name,license_id\n")
    with pytest.raises(SourceError, match=r"line 1: needs a 'file' column"):
        folder_to_manifest(root, progress=False)
    (root / "licenses.csv").unlink()
    (root / "LICENSE.json").write_text('{"license": 4}')
    with pytest.raises(SourceError, match=r"LICENSE\.json: unknown keys license"):
        folder_to_manifest(root, progress=False)
    with pytest.raises(SourceError, match="not a folder"):
        folder_to_manifest(root / "x.jpg", progress=False)
