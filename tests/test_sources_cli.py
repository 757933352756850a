"""`fdf manifest ...` run as a real subprocess: outputs, --json, and one-line errors (exit 2)."""

import json
import subprocess
import sys
from pathlib import Path

from fdf.manifest import read_manifest

DATA = Path(__file__).parent / "data" / "sources"


def fdf(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "fdf", "-q", "manifest", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_yfcc_then_show_json(tmp_path):
    out = tmp_path / "y.parquet"
    done = fdf("yfcc", DATA / "yfcc_25col.tsv.bz2", "--out", out, "--license", "1,2,4,5", "--limit", "3", "--json")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts["photos_written"] == 3 and counts["layout"] == 25
    shown = json.loads(fdf("show", out, "--json").stdout)
    assert shown["photos"] == 3 == len(read_manifest(out))
    assert shown["per_source"] == {"yfcc100m": 3}
    assert sum(shown["per_license"].values()) == 3 and shown["missing"]["download_url_or_local_path"] == 0


def test_fdf_metainfo_urls_folder_and_show(tmp_path):
    meta = tmp_path / "f.parquet"
    assert fdf("fdf-metainfo", DATA / "fdf_metainfo_sample.json", "--out", meta).returncode == 0
    shown = fdf("show", meta)
    assert "FDF faces: 5" in shown.stdout and "download_url_or_local_path: 4" in shown.stdout

    urls = tmp_path / "list.csv"
    urls.write_text("url,owner\nhttps://a.org/1.jpg,Ann\nfile:///etc/passwd,Eve\n", encoding="utf-8")
    rejected = tmp_path / "rejected.csv"
    done = fdf("urls", urls, "--out", tmp_path / "u.parquet", "--license-id", "4", "--rejected", rejected, "--json")
    counts = json.loads(done.stdout)
    assert (counts["accepted"], counts["rejected"], counts["no_license"]) == (1, 1, 0)
    assert "line" in rejected.read_text() and "file:///etc/passwd" in rejected.read_text()

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "e.jpg").write_bytes((DATA / "einstein.jpg").read_bytes())
    done = fdf("folder", folder, "--out", tmp_path / "d.parquet", "--json")
    assert json.loads(done.stdout)["unlicensed"] == 1
    assert "unknown: 1" in fdf("show", tmp_path / "d.parquet").stdout


def test_errors_are_one_line_exit_2(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("1\t2\t3\n", encoding="utf-8")
    for args in (
        ("yfcc", bad, "--out", tmp_path / "x.parquet"),
        ("yfcc", bad, "--out", tmp_path / "x.parquet", "--license", "1,99"),
        ("urls", bad, "--out", tmp_path / "x.parquet"),
        ("show", tmp_path / "missing.parquet"),
    ):
        done = fdf(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("fdf manifest: error: "), done.stderr
    assert not (tmp_path / "x.parquet").exists()
