"""A digest of every file a demo build wrote, with what changes from run to run taken out, so two
demo outputs can be compared byte for byte after a refactor (issue 18: "the demo output is
byte-identical"):

    .venv/bin/python scripts/demo_digest.py out/demo > before.txt     # old code
    .venv/bin/python scripts/demo_digest.py out/demo > after.txt      # new code, same --out
    diff before.txt after.txt

Taken out, and nothing else: the loopback server's port, the output folder's path, wall-clock
timestamps (ISO 8601, and Parquet timestamp columns), durations and rates (JSON keys ending in
``seconds`` or ``per_s``; "N s" and "images_per_s=N" in text). Photos, crops, embeddings, counts, licences and
every other byte are compared as written. Files whose names hold a content hash are listed by
their folder and hash.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

PORT = re.compile(r"127\.0\.0\.1:\d+")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?")
DURATION = re.compile(r"\b\d+(?:\.\d+)? ?(?:s|ms|min)\b")
TIME_KEYS = re.compile(r"(seconds|_at|time|started|finished|created|updated|elapsed|per_s|per_second)$")
RATE = re.compile(r"\b(\w*per_s(?:econd)?)=\d+(?:\.\d+)?")


def normal_text(text: str, out: str) -> str:
    text = text.replace(out, "OUT")
    text = PORT.sub("127.0.0.1:PORT", text)
    text = ISO_TIME.sub("TIME", text)
    text = RATE.sub(r"\1=RATE", text)
    return DURATION.sub("DURATION", text)


def normal_json(value, out: str):
    if isinstance(value, dict):
        return {
            k: ("TIME" if TIME_KEYS.search(k) and isinstance(v, (int, float, str)) else normal_json(v, out))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normal_json(v, out) for v in value]
    if isinstance(value, str):
        return normal_text(value, out)
    return value


def parquet_digest(path: Path, out: str) -> str:
    table = pq.read_table(path)
    h = hashlib.sha256(str(table.schema.remove_metadata()).encode())
    for name in table.column_names:
        column = table[name]
        h.update(name.encode())
        if pa.types.is_timestamp(column.type) or TIME_KEYS.search(name):
            h.update(str(column.null_count).encode())  # when, not whether, is what varies
            continue
        for value in column.to_pylist():
            if isinstance(value, str):
                value = normal_text(value, out)
            h.update(repr(value).encode())
    return h.hexdigest()


def file_digest(path: Path, out: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return parquet_digest(path, out)
    data = path.read_bytes()
    if suffix == ".json":
        value = normal_json(json.loads(data), out)
        data = json.dumps(value, sort_keys=True).encode()
    elif suffix in (".md", ".html", ".txt", ".csv", ".jsonl", ".yaml"):
        data = normal_text(data.decode("utf-8"), out).encode()
    return hashlib.sha256(data).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a demo build folder")
    args = ap.parse_args()
    out = args.out.resolve()
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel.endswith(".lock") or "/_state/" in f"/{rel}" or rel == "_ratelimit.json":
            continue  # locks, and the downloader's and rate limiter's clocks
        print(f"{file_digest(path, str(out))}  {rel}")


if __name__ == "__main__":
    main()
