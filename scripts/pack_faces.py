#!/usr/bin/env python
"""Repack a face-shard dataset small enough to travel with the working tree to a lent GPU machine.

    python scripts/pack_faces.py .data/mtfl-shards .data/device-faces --splits train validation

Keeps only what training reads (ids, split, resolution, crop, box, keypoints, landmarks, yaw) and
re-encodes the crops as lossless WebP, about 0.69 of the PNG bytes: the pixels are unchanged, and every crop is
decoded again and compared before the pack is written. The device tool carries at most 64 MiB
of working tree, and the MTFL train split in PNG alone is about 56 MB.

128 px crops are ~30 KB as PNG and ~20 KB as lossless WebP, so 64 MiB holds ~3,000 of them:
``--lossy-quality Q`` re-encodes as lossy WebP instead (q 90: a few KB a face, a PSNR printed in
the report) and ``--limit N`` keeps the first N faces of a seeded shuffle of the photos.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fdf.shards import list_shards  # noqa: E402
from fdf.shards.writer import face_table, write_face_files  # noqa: E402
from fdf.torch_data import crop_side  # noqa: E402

COLUMNS = ["face_id", "photo_id", "face_index", "split", "resolution", "image", "bbox", "keypoints", "source"]
#: Packed when the source has them: outline-hole training (network.hole "outline") reads them.
GEOMETRY = ["landmarks68", "yaw", "crop_photo"]
log = logging.getLogger("pack_faces")


def lossless_webp(png: bytes) -> bytes:
    """The same pixels as lossless WebP; raises if they do not decode back identically."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="WEBP", lossless=True, quality=50, method=2)
    if not np.array_equal(np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB")), pixels):
        raise ValueError("WebP round trip changed the pixels")
    return out.getvalue()


def lossy_webp(png: bytes, quality: int) -> tuple[bytes, float]:
    """The crop as lossy WebP at ``quality``, and its PSNR (dB) against the original pixels."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="WEBP", quality=quality, method=4)
    back = np.asarray(Image.open(io.BytesIO(out.getvalue())).convert("RGB")).astype(np.float64)
    mse = float(((back - pixels) ** 2).mean())
    return out.getvalue(), (99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse))


def pack(
    src: Path,
    dst: Path,
    splits: list[str],
    resolution: int | None,
    limit: int | None = None,
    lossy_quality: int | None = None,
    seed: int = 0,
    min_source_px: int = 0,
) -> dict:
    """Pack ``src``'s faces of ``splits`` (and ``resolution``) into one shard under ``dst``;
    ``min_source_px``: only faces whose crop covers at least that many photo pixels (training's
    ``data.min_source_px``), so that ``limit`` counts the faces the run will train on."""

    def wanted_row(r: dict) -> bool:
        if r["split"] not in splits or (resolution and r["resolution"] != resolution):
            return False
        return not min_source_px or crop_side(r.get("crop_photo")) >= min_source_px

    keys = []
    for shard in list_shards(src):
        columns = ["photo_id", "split", "resolution"] + (["crop_photo"] if min_source_px else [])
        keys += [r["photo_id"] for r in pq.read_table(shard, columns=columns).to_pylist() if wanted_row(r)]
    photos = sorted(set(keys))
    if limit is not None:  # whole photos, in a seeded order: every face of a photo or none
        order = np.random.default_rng(seed).permutation(len(photos))
        per_photo = Counter(keys)
        chosen, count = set(), 0
        for i in order:
            if count >= limit:
                break
            chosen.add(photos[i])
            count += per_photo[photos[i]]
        photos = chosen
    wanted = set(photos)
    rows, before, after, psnr = [], 0, 0, []
    for shard in list_shards(src):
        names = pq.read_schema(shard).names
        for row in pq.read_table(shard, columns=COLUMNS + [c for c in GEOMETRY if c in names]).to_pylist():
            if not wanted_row(row) or row["photo_id"] not in wanted:
                continue
            before += len(row["image"]["bytes"])
            if lossy_quality is None:
                data = lossless_webp(row["image"]["bytes"])
            else:
                data, db = lossy_webp(row["image"]["bytes"], lossy_quality)
                psnr.append(db)
            row["image"] = {"bytes": data, "path": row["image"]["path"]}
            after += len(data)
            rows.append(row)
    if not rows:
        raise SystemExit(f"no faces of splits {splits} in {src}")
    dst.mkdir(parents=True, exist_ok=True)
    paths = write_face_files(face_table(rows), dst, "part-00000.parquet")
    report = {
        "faces": len(rows),
        "png_bytes": before,
        "webp_bytes": after,
        "file_bytes": sum(p.stat().st_size for p in paths),
    }
    if psnr:
        report["psnr_db_median"] = round(float(np.median(psnr)), 2)
        report["psnr_db_min"] = round(float(np.min(psnr)), 2)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path, help="face-shard dataset")
    parser.add_argument("dst", type=Path, help="output folder (one shard)")
    parser.add_argument("--splits", nargs="+", default=["train"], help="splits to keep (default: train)")
    parser.add_argument("--resolution", type=int, default=None, help="keep only crops of this size")
    parser.add_argument("--limit", type=int, default=None, help="at most about this many faces (whole photos, seeded)")
    parser.add_argument(
        "--lossy-quality", type=int, default=None, help="lossy WebP at this quality (default: lossless)"
    )
    parser.add_argument(
        "--min-source-px", type=int, default=0, help="only faces whose crop covers at least this many photo pixels"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = pack(
        args.src,
        args.dst,
        args.splits,
        args.resolution,
        args.limit,
        args.lossy_quality,
        min_source_px=args.min_source_px,
    )
    log.info(
        "%d faces: %.1f MB of PNG -> %.1f MB shard (%s)",
        report["faces"],
        report["png_bytes"] / 1e6,
        report["file_bytes"] / 1e6,
        args.dst,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
