#!/usr/bin/env python
"""Repack a face-shard dataset small enough to travel with the working tree to a lent GPU machine.

    python scripts/pack_faces.py .data/mtfl-shards .data/device-faces --splits train validation

Keeps only what training reads (ids, split, resolution, crop, box, keypoints) and re-encodes the
crops as lossless WebP, about 0.69 of the PNG bytes: the pixels are unchanged, and every crop is
decoded again and compared before the pack is written. The device tool carries at most 64 MiB
of working tree, and the MTFL train split in PNG alone is about 56 MB.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fdf.shards import list_shards  # noqa: E402
from fdf.shards.writer import face_table, write_face_files  # noqa: E402

COLUMNS = ["face_id", "photo_id", "face_index", "split", "resolution", "image", "bbox", "keypoints", "source"]
log = logging.getLogger("pack_faces")


def lossless_webp(png: bytes) -> bytes:
    """The same pixels as lossless WebP; raises if they do not decode back identically."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="WEBP", lossless=True, quality=50, method=2)
    if not np.array_equal(np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB")), pixels):
        raise ValueError("WebP round trip changed the pixels")
    return out.getvalue()


def pack(src: Path, dst: Path, splits: list[str], resolution: int | None) -> dict:
    rows, before, after = [], 0, 0
    for shard in list_shards(src):
        for row in pq.read_table(shard, columns=COLUMNS).to_pylist():
            if row["split"] not in splits or (resolution and row["resolution"] != resolution):
                continue
            before += len(row["image"]["bytes"])
            row["image"] = {"bytes": lossless_webp(row["image"]["bytes"]), "path": row["image"]["path"]}
            after += len(row["image"]["bytes"])
            rows.append(row)
    if not rows:
        raise SystemExit(f"no faces of splits {splits} in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    paths = write_face_files(face_table(rows), dst, "part-00000.parquet")
    return {"faces": len(rows), "png_bytes": before, "webp_bytes": after, "file_bytes": sum(p.stat().st_size for p in paths)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="face-shard dataset")
    parser.add_argument("dst", type=Path, help="output folder (one shard)")
    parser.add_argument("--splits", nargs="+", default=["train"], help="splits to keep (default: train)")
    parser.add_argument("--resolution", type=int, default=None, help="keep only crops of this size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = pack(args.src, args.dst, args.splits, args.resolution)
    log.info("%d faces: %.1f MB of PNG -> %.1f MB shard (%s)", report["faces"], report["png_bytes"] / 1e6,
             report["file_bytes"] / 1e6, args.dst)
    return 0


if __name__ == "__main__":
    sys.exit(main())
