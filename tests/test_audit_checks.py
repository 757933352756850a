"""Static licence/attribution checks on a real manifest file, the report formats, --fail-on,
and the commercial-safe subset of a manifest."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd
import pytest

from fdf.audit.checks import FLAGS
from fdf.audit.photos import AuditInputError, load_photos
from fdf.audit.render import md_escape, render
from fdf.audit.report import build_report
from fdf.licenses import license_table
from fdf.manifest import read_manifest, write_manifest
from pipelines.cli import main

# From the issue: the licences whose terms forbid adaptations (a face crop is one).
ND_IDS = {3, 6, 13, 16}


def base_row(photo_id: str, license_id) -> dict:
    return {
        "photo_id": photo_id,
        "download_url": f"https://live.staticflickr.com/1/{photo_id}_s_o.jpg",
        "page_url": f"https://www.flickr.com/photos/9@N01/{photo_id}/",
        "owner_nsid": "9@N01",
        "owner_name": "someone",
        "title": f"photo {photo_id}",
        "license_id": license_id,
        "tags": ["face"],
    }


@pytest.fixture
def manifest(tmp_path):
    """One photo per Flickr licence, plus rows with each kind of problem."""
    rows = [base_row(f"lic{lid}", lid) for lid in license_table()]
    rows += [
        {**base_row("no_title", 4), "title": ""},
        {**base_row("no_author", 4), "owner_name": None},
        {**base_row("no_source", 4), "page_url": None},
        {**base_row("no_licence", None)},
        {**base_row("optout", 4), "tags": ["portrait", "No_CV"]},
        {**base_row("mismatch", 4), "license_url": "https://creativecommons.org/licenses/by-nc/2.0/"},
        {**base_row("deed_url", 4), "license_url": "http://creativecommons.org/licenses/by/2.0/deed.en"},
    ]
    path = tmp_path / "manifest.parquet"
    write_manifest(pd.DataFrame(rows), path)
    return path


def flags_by_photo(path) -> dict[str, list[str]]:
    report = build_report(load_photos(path))
    flagged = {f["photo_id"]: f["flags"] for f in report.flagged}
    return {pid: flagged.get(pid, []) for pid in read_manifest(path)["photo_id"]}


def test_licence_flags_follow_the_licence_table(manifest):
    flags = flags_by_photo(manifest)
    table = license_table()
    assert {lid for lid in table if "nd" in flags[f"lic{lid}"]} == ND_IDS
    assert {lid for lid in table if "nc" in flags[f"lic{lid}"]} == {
        lic.id for lic in table.values() if lic.id and not lic.commercial
    }
    assert {lid for lid in table if "sa" in flags[f"lic{lid}"]} == {lic.id for lic in table.values() if lic.share_alike}
    assert {lid for lid in table if "unknown" in flags[f"lic{lid}"]} == {0}
    assert "unknown" in flags["no_licence"]
    # CC BY 4.0 and the public-domain marks raise nothing at all
    assert flags["lic11"] == [] and flags["lic9"] == [] and flags["lic10"] == []


def test_attribution_opt_out_and_mismatch_flags(manifest):
    flags = flags_by_photo(manifest)
    report = build_report(load_photos(manifest))
    missing = {f["photo_id"]: f["missing"] for f in report.flagged}
    assert missing["no_title"] == ["title"] and missing["no_author"] == ["author"]
    assert missing["no_source"] == ["source"]
    assert "license_url" in missing["lic0"]  # All Rights Reserved has no licence to link to
    assert flags["optout"] == ["nocv"]
    assert flags["mismatch"] == ["mismatch"]
    assert flags["deed_url"] == []  # the same licence written another way is no mismatch
    assert report.flag_counts == {k: sum(k in v for v in flags.values()) for k in FLAGS}


def test_formats_carry_the_same_findings(manifest):
    report = build_report(load_photos(manifest))
    data = json.loads(render(report, "json"))
    assert data["photos"] == len(read_manifest(manifest))
    assert {f["photo_id"] for f in data["flagged_photos"]} == {f["photo_id"] for f in report.flagged}
    md = render(report, "md")
    html_text = render(report, "html")
    cells: list[str] = []

    class Cells(HTMLParser):
        def handle_data(self, data):
            cells.append(data)

    Cells().feed(html_text)
    for f in report.flagged:
        assert md_escape(f["photo_id"]) in md and f["photo_id"] in cells
    with pytest.raises(ValueError):
        render(report, "pdf")


def test_cli_fail_on_gates_by_exit_status(manifest, tmp_path, capsys):
    assert main(["-q", "audit", str(manifest), "--fail-on", "nd"]) == 1
    assert "nd (4 photos)" in capsys.readouterr().err
    clean = tmp_path / "clean.parquet"
    write_manifest(pd.DataFrame([base_row("a", 4), base_row("b", 11)]), clean)
    assert main(["-q", "audit", str(clean), "--fail-on", ",".join(FLAGS), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == 2
    assert main(["-q", "audit", str(clean), "--fail-on", "nd,bogus"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["-q", "audit", str(tmp_path / "absent.parquet")]) == 2


def test_report_file_in_each_format(manifest, tmp_path, capsys):
    for fmt in ("md", "html", "json"):
        out = tmp_path / f"report.{fmt}"
        assert main(["-q", "audit", str(manifest), "--format", fmt, "--report", str(out)]) == 0
        assert "lic6" in out.read_text()
    assert capsys.readouterr().out == ""  # with --report and no --json, stdout stays empty


def test_commercial_safe_subset_of_a_manifest(manifest, tmp_path):
    out = tmp_path / "safe.parquet"
    assert main(["-q", "audit", str(manifest), "--commercial-safe", "--out", str(out)]) == 0
    kept = set(read_manifest(out)["photo_id"])
    allowed = {f"lic{lic.id}" for lic in license_table().values() if lic.commercial and lic.derivatives}
    assert allowed <= kept
    assert not kept & {f"lic{lid}" for lid in ND_IDS | {0, 1, 2, 14, 15}}
    assert "mismatch" not in kept and "no_licence" not in kept
    assert main(["-q", "audit", str(manifest), "--commercial-safe"]) == 2  # needs --out


def test_bad_inputs_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(AuditInputError, match="not a Parquet manifest"):
        load_photos(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AuditInputError, match="neither a face-shard dataset"):
        load_photos(tmp_path / "empty")
