"""URL lists (CSV, Parquet) -> manifest, with per-row rejection reasons."""

import hashlib

import pandas as pd
import pytest

from fdf.errors import SourceError
from fdf.manifest import read_manifest, write_manifest
from fdf.sources.url_list import url_list_to_manifest

CSV = """Image URL,license_url,license,Author,title,id
https://farm8.staticflickr.com/7205/6985418911_ea3e9e4b2d.jpg,https://creativecommons.org/licenses/by/2.0/deed.en,,Ann,Café,6985418911
ftp://example.org/b.jpg,,CC BY 2.0,Bob,B,
http://example.org/c.jpg,,Attribution-ShareAlike License,,C,
http://example.org/d.jpg,,,,,
javascript:alert(1),,,,,
http://example.org/e.jpg,,Mystery licence,,,
,,,,,
"""


def test_csv_accepts_and_rejects_with_reasons(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text(CSV, encoding="utf-8")
    result = url_list_to_manifest(path, url_column="image url")
    write_manifest(result.manifest, tmp_path / "m.parquet")
    m = read_manifest(tmp_path / "m.parquet")
    assert list(m["download_url"]) == [
        "https://farm8.staticflickr.com/7205/6985418911_ea3e9e4b2d.jpg",
        "http://example.org/c.jpg",
        "http://example.org/d.jpg",
    ]
    assert m["photo_id"].iloc[0] == "6985418911"
    assert m["photo_id"].iloc[1] == hashlib.sha1(b"http://example.org/c.jpg").hexdigest()[:16]
    assert m["license_id"].iloc[0] == 4 and m["license_id"].iloc[1] == 5  # URL variant; pre-2025 name
    assert pd.isna(m["license_id"].iloc[2])  # no licence: unknown, not assumed free
    assert m["owner_name"].iloc[0] == "Ann" and set(m["source"]) == {"urls"}
    rejected = result.rejected.set_index("line")["reason"].to_dict()
    assert set(rejected) == {3, 6, 7, 8}  # file lines, header is line 1
    assert "scheme 'ftp'" in rejected[3] and "scheme 'javascript'" in rejected[6]
    assert "unknown licence name 'Mystery licence'" in rejected[7] and rejected[8] == "empty URL"


def test_parquet_with_default_license(tmp_path):
    path = tmp_path / "list.parquet"
    pd.DataFrame({"url": ["https://a.org/1.jpg", "https://a.org/2.jpg"], "license_id": ["", "2"]}).to_parquet(path)
    result = url_list_to_manifest(path, license_url="http://creativecommons.org/licenses/by-sa/2.0/")
    assert list(result.manifest["license_id"]) == [5, 2]  # the default fills only the row without one
    assert result.rejected.empty


def test_bad_inputs(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("link,license_id\nhttps://a.org/1.jpg,4\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no URL column 'url'; columns are link, license_id"):
        url_list_to_manifest(path)
    with pytest.raises(SourceError, match="unknown Flickr licence id 99"):
        url_list_to_manifest(path, url_column="link", license_id=99)
    text_list = tmp_path / "list.txt"
    text_list.write_text("url\nhttps://a.org/1.jpg\n", encoding="utf-8")
    with pytest.raises(SourceError, match="unknown list format '.txt'"):
        url_list_to_manifest(text_list)
    with pytest.raises(SourceError, match="not found"):
        url_list_to_manifest(tmp_path / "none.csv")
    bad_id = tmp_path / "ids.csv"
    bad_id.write_text("url,license_id\nhttps://a.org/1.jpg,42\n", encoding="utf-8")
    assert url_list_to_manifest(bad_id).rejected["reason"].tolist() == ["unknown licence id '42'"]
