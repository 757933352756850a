"""`fdf credits` with hostile owner ids, titles and URLs (issue 17, items 3 and 4): CREDITS.md
links are http(s) only and percent-encoded, and credits.csv never holds a live formula."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys

import pandas as pd
import pytest

from fdf.audit.credits import credit_rows, credits_csv, credits_markdown, safe_url
from fdf.manifest import write_manifest

HOSTILE = [
    {
        "photo_id": "1",
        "owner_nsid": "123@N00\n<script>alert(1)</script>",
        "owner_name": "",
        "title": "<img src=x onerror=alert(1)>",
        "page_url": "https://example.com/a>\n<script>alert(2)</script>",
    },
    {
        "photo_id": "2",
        "owner_nsid": "123@N00",
        "owner_name": '=HYPERLINK("http://evil","x")',
        "title": "+SUM(A1:A9)",
        "page_url": "javascript:alert(3)",
    },
    {
        "photo_id": "3",
        "owner_nsid": "",
        "owner_name": "@cmd",
        "title": "-2+3",
        "page_url": "https://example.com/x) [evil](javascript:alert(4)",
    },
    {
        "photo_id": "4",
        "owner_nsid": "",
        "owner_name": "\tTAB",
        "title": "ok title",
        "page_url": "data:text/html,<script>alert(5)</script>",
    },
]


def _manifest(tmp_path):
    df = pd.DataFrame(HOSTILE).assign(license_id=4, download_url="https://example.com/p.jpg")
    path = tmp_path / "m.parquet"
    write_manifest(df, path)
    return path


def test_link_destinations_are_http_only_and_percent_encoded():
    assert safe_url("javascript:alert(1)") == ""
    assert safe_url("data:text/html,x") == ""
    assert safe_url("https:no-host") == ""
    assert safe_url("https://example.com/a>\n<b") == "https://example.com/a%3E%0A%3Cb"
    assert safe_url("https://example.com/caf%C3%A9?q=1&r=2#f") == "https://example.com/caf%C3%A9?q=1&r=2#f"


def test_credits_markdown_renders_without_live_html_or_script_links():
    markdown_it = pytest.importorskip("markdown_it")
    rows = credit_rows(pd.DataFrame(HOSTILE).rename(columns={"page_url": "photo_url"}).assign(license_id=4))
    text = credits_markdown(rows, "hostile <b>set</b>")
    html = markdown_it.MarkdownIt("commonmark").render(text)  # html=True: raw HTML would pass through
    for bad in ("<script", "<img", "<b>"):
        assert bad not in html, (bad, html)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert len(hrefs) == 2 + len(HOSTILE) + 1  # pages of photos 1 and 3, every licence, one author
    assert all(h.startswith(("https://", "http://")) and " " not in h for h in hrefs), hrefs
    assert 'href="https://example.com/a%3E%0A%3Cscript%3Ealert(2)%3C/script%3E"' in html
    # one bullet per photo: no newline smuggled a line of its own into the file
    assert len([line for line in text.splitlines() if line.startswith("- ")]) == len(HOSTILE)
    assert len(text.splitlines()) == 4 + len(HOSTILE)


def test_credits_csv_cells_are_never_formulas():
    rows = credit_rows(pd.DataFrame(HOSTILE).rename(columns={"page_url": "photo_url"}).assign(license_id=4))
    got = list(csv.DictReader(io.StringIO(credits_csv(rows))))
    for row in got:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    by_id = {r["photo_id"]: r for r in got}
    assert by_id["2"]["author"] == '\'=HYPERLINK("http://evil","x")'  # shown, not run
    assert by_id["2"]["title"] == "'+SUM(A1:A9)" and by_id["3"]["title"] == "'-2+3"
    assert by_id["3"]["author"] == "'@cmd" and by_id["4"]["author"] == "TAB"  # fields are stripped


def test_cli_credits_on_a_hostile_manifest(tmp_path):
    manifest = _manifest(tmp_path)
    res = subprocess.run(
        [sys.executable, "-m", "fdf", "credits", str(manifest)], capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "CREDITS.md").read_text()
    assert "<script>" not in text and "(<javascript:" not in text and "(<data:" not in text
    table = (tmp_path / "credits.csv").read_text()
    assert "\n=" not in table and ",=" not in table and ",+" not in table and ",@" not in table


def test_a_killed_runs_temporaries_are_removed(tmp_path):
    from fdf.audit.credits import write_credits

    manifest = _manifest(tmp_path)
    (tmp_path / ".CREDITS.md.x1y2z3ab.tmp").write_text("half")
    (tmp_path / ".credits.csv.q9w8e7rt.tmp").write_text("half")
    write_credits(manifest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CREDITS.md", "credits.csv", "m.parquet"]
