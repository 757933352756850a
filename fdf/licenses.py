"""Flickr's licence table (ids 0-16) as data, with the permissions each licence grants.

Flickr renamed its licences in 2025 when it added the CC 4.0 family (ids 11-16), so
licences are keyed on the numeric id and on the URL, never on the name.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class License:
    """One Flickr licence and what it allows."""

    id: int
    name: str
    url: str
    commercial: bool
    derivatives: bool
    share_alike: bool
    attribution: bool
    public_domain: bool
    note: str = ""

    @property
    def is_creative_commons(self) -> bool:
        return "creativecommons.org" in self.url


def _truthy(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes"}


@functools.lru_cache(maxsize=1)
def license_table() -> dict[int, License]:
    """Return the licence table, keyed by Flickr's numeric licence id."""
    text = resources.files("fdf").joinpath("data/flickr_licenses.csv").read_text(encoding="utf-8")
    table: dict[int, License] = {}
    for row in csv.DictReader(text.splitlines()):
        lic = License(
            id=int(row["license_id"]),
            name=row["name"],
            url=row["url"],
            commercial=_truthy(row["commercial"]),
            derivatives=_truthy(row["derivatives"]),
            share_alike=_truthy(row["share_alike"]),
            attribution=_truthy(row["attribution"]),
            public_domain=_truthy(row["public_domain"]),
            note=row.get("note", ""),
        )
        table[lic.id] = lic
    return table


def get_license(license_id: int) -> License:
    """Return the licence with Flickr id ``license_id``; KeyError names the valid ids."""
    table = license_table()
    try:
        return table[int(license_id)]
    except (KeyError, ValueError, TypeError):
        raise KeyError(f"unknown Flickr licence id {license_id!r}; known ids are {sorted(table)}") from None


def normalize_license_url(url: str | None) -> str:
    """Canonical form of a licence URL for comparison: https, no 'www.', no trailing slash/deed."""
    if not url or not isinstance(url, str):  # None, "" and pandas' NaN for a missing value
        return ""
    u = url.strip().lower()
    u = re.sub(r"^https?://", "", u)
    u = re.sub(r"^www\.", "", u)
    u = re.sub(r"(deed\.[a-z_-]+|legalcode(\.[a-z_-]+)?)$", "", u)
    return u.rstrip("/")


@functools.lru_cache(maxsize=1)
def _ids_by_url() -> dict[str, int]:
    return {normalize_license_url(lic.url): lic.id for lic in license_table().values() if lic.url}


def license_id_from_url(url: str | None) -> int | None:
    """Map a licence URL (any http/https/www/deed variant) to Flickr's id; None if unknown.

    An empty URL is not mapped to 0: "no URL" means unknown, not All Rights Reserved.
    """
    key = normalize_license_url(url)
    return _ids_by_url().get(key) if key else None


def parse_license_ids(spec: str | list[int] | tuple[int, ...] | None) -> list[int]:
    """Parse '1,2,4,5' (or a list) into validated licence ids, keeping order, no repeats."""
    if spec is None or spec == "":
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[int] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        try:
            lid = int(text)
        except ValueError:
            raise ValueError(f"licence ids must be integers 0-16, got {text!r}") from None
        get_license(lid)  # validates
        if lid not in out:
            out.append(lid)
    return out
