"""YFCC100M dump -> manifest: both layouts, compressions, filters, errors, constant memory."""

import bz2
import gzip
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from fdf.errors import SourceError
from fdf.manifest import read_manifest
from fdf.sources.yfcc import YfccConfig, iter_dump_lines, yfcc_to_manifest

DATA = Path(__file__).parent / "data" / "sources"


def _lines(name):
    return (DATA / name).read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("name", ["yfcc_23col.tsv", "yfcc_23col.tsv.bz2", "yfcc_25col.tsv", "yfcc_25col.tsv.bz2"])
def test_both_layouts_and_compressions_give_the_same_photos(tmp_path, name):
    stats = yfcc_to_manifest(DATA / name, tmp_path / "m.parquet", YfccConfig(license_ids=[1, 2, 4, 5]), progress=False)
    df = read_manifest(tmp_path / "m.parquet")
    raw = [line.split("\t") for line in _lines("yfcc_23col.tsv")]
    photos_cc = [r for r in raw if r[22] == "0" and "by-nd" not in r[16]]
    assert stats.layout == (25 if "25col" in name else 23)
    assert stats.lines_read == len(raw)
    assert stats.videos_skipped == sum(r[22] == "1" for r in raw)
    assert stats.license_filtered == 1  # the by-nd photo
    assert list(df["photo_id"]) == [r[0] for r in photos_cc]
    assert list(df["download_url"]) == [r[14] for r in photos_cc]
    assert list(df["secret"]) == [r[19] for r in photos_cc]
    assert set(df["source"]) == {"yfcc100m"}
    assert sorted(df["license_id"].astype(int)) == [1, 2, 4, 5]
    first = df.iloc[0]
    assert first["title"] == "Café at noon"  # URL-decoded, '+' as space
    assert list(first["tags"]) == ["canon", "new york", "café"]
    assert first["owner_name"] == "guckxzs" and first["owner_nsid"] == "39089491@N00"
    assert str(first["date_taken"]) == "2012-02-16 09:56:37"
    assert first["date_uploaded"].timestamp() == 1331840483
    assert first["longitude"] == pytest.approx(-81.804885)
    # yfcc_line is the 0-based position, which is what the 25-column file's own first column holds.
    positions = [i for i, r in enumerate(raw) if r[0] in set(df["photo_id"])]
    assert list(df["yfcc_line"]) == positions
    if "25col" in name:
        own = {line.split("\t")[1]: int(line.split("\t")[0]) for line in _lines("yfcc_25col.tsv")}
        assert list(df["yfcc_line"]) == [own[p] for p in df["photo_id"]]
        assert df["yfcc_hash"].str.fullmatch(r"[0-9a-f]{32}").all()
        assert stats.line_number_mismatches == 0
    else:
        assert df["yfcc_hash"].isna().all()


def test_gzip_and_limit(tmp_path):
    gz = tmp_path / "dump.gz"
    gz.write_bytes(gzip.compress((DATA / "yfcc_25col.tsv").read_bytes()))
    stats = yfcc_to_manifest(gz, tmp_path / "m.parquet", YfccConfig(limit=2), progress=False)
    assert stats.photos_written == 2
    assert len(read_manifest(tmp_path / "m.parquet")) == 2


def test_wrong_column_count_names_the_line_and_leaves_no_file(tmp_path):
    lines = _lines("yfcc_23col.tsv")
    lines.insert(3, "\t".join(lines[3].split("\t")[:20]))
    dump = tmp_path / "bad.tsv"
    dump.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "m.parquet"
    with pytest.raises(SourceError, match=r"bad\.tsv: line 4 has 20 tab-separated columns, expected 23"):
        yfcc_to_manifest(dump, out, progress=False)
    assert not out.exists() and list(tmp_path.glob(".*")) == []
    stats = yfcc_to_manifest(dump, out, YfccConfig(skip_bad_lines=True), progress=False)
    assert stats.bad_lines == 1 and stats.lines_read == len(lines)
    # Skipped lines still count: the line after the bad one keeps its own index.
    df = read_manifest(out)
    assert df.loc[df["photo_id"] == lines[4].split("\t")[0], "yfcc_line"].item() == 4


def test_not_a_dump_and_missing_file(tmp_path):
    with pytest.raises(SourceError, match="has 3 tab-separated columns; a YFCC100M dump has 23"):
        yfcc_to_manifest(_write(tmp_path / "x.tsv", "a\tb\tc\n"), tmp_path / "m.parquet", progress=False)
    with pytest.raises(SourceError, match="not found"):
        yfcc_to_manifest(tmp_path / "nope.bz2", tmp_path / "m.parquet", progress=False)
    broken = tmp_path / "broken.bz2"
    broken.write_bytes(bz2.compress((DATA / "yfcc_23col.tsv").read_bytes())[:300])
    with pytest.raises(SourceError, match="cannot read compressed data"):
        yfcc_to_manifest(broken, tmp_path / "m.parquet", progress=False)


def test_line_number_column_of_a_split_part_is_kept(tmp_path):
    # The second part of a split 25-column dump: its own line numbers start at 1000.
    lines = [line.split("\t") for line in _lines("yfcc_25col.tsv")]
    for i, cols in enumerate(lines):
        cols[0] = str(1000 + i)
    dump = _write(tmp_path / "part.tsv", "".join("\t".join(c) + "\n" for c in lines))
    stats = yfcc_to_manifest(dump, tmp_path / "m.parquet", progress=False)
    assert stats.line_number_mismatches == len(lines)
    assert read_manifest(tmp_path / "m.parquet")["yfcc_line"].min() == 1000
    stats = yfcc_to_manifest(dump, tmp_path / "m.parquet", YfccConfig(line_offset=1000), progress=False)
    assert stats.line_number_mismatches == 0


def test_iter_dump_lines_rejects_bad_line_number(tmp_path):
    cols = _lines("yfcc_25col.tsv")[0].split("\t")
    cols[0] = "zero"
    with pytest.raises(SourceError, match="line 1: line-number column is 'zero'"):
        list(iter_dump_lines(_write(tmp_path / "d.tsv", "\t".join(cols) + "\n")))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _generated_dump(path: Path, n: int) -> Path:
    template = _lines("yfcc_23col.tsv")[0].split("\t")
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            template[0] = str(10**10 + i)
            fh.write("\t".join(template) + "\n")
    return path


PEAK_RSS_SCRIPT = """
import resource, sys
from fdf.sources.yfcc import YfccConfig, yfcc_to_manifest
stats = yfcc_to_manifest(sys.argv[1], sys.argv[2], YfccConfig(row_group_size=2500), progress=False)
print(stats.row_groups, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kib(dump: Path, out: Path) -> tuple[int, int]:
    # A fresh process per run, so each peak is that run's own (tracemalloc slows parsing ~10x).
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_SCRIPT, str(dump), str(out)], capture_output=True, text=True, check=True
    )
    groups, peak = done.stdout.split()
    return int(peak), int(groups)


def test_memory_stays_flat_as_the_dump_grows(tmp_path):
    small = _generated_dump(tmp_path / "small.tsv", 5_000)
    large = _generated_dump(tmp_path / "large.tsv", 50_000)
    peak_small, groups_small = _peak_rss_kib(small, tmp_path / "small.parquet")
    peak_large, groups_large = _peak_rss_kib(large, tmp_path / "large.parquet")
    assert (groups_small, groups_large) == (2, 20)
    # Ten times the lines (+45k rows, ~120 MiB if held as Python rows), about the same peak:
    # memory depends on the row group, not on the file.
    assert peak_large - peak_small < 40 * 1024, (peak_small, peak_large)
    assert pq.ParquetFile(tmp_path / "large.parquet").metadata.num_rows == 50_000
