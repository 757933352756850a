#!/usr/bin/env python
"""The generator's GPU training run, prepared for a lent machine with a fixed time budget.

Here (CPU), once: pack the faces and the starting weights into one ignored folder that fits the
device tool's 64 MiB working-tree limit:

    .venv/bin/python scripts/device_train.py prepare --data .data/mtfl-shards \\
        --init runs/ft-gan3/checkpoint-00014805.safetensors --dest .data/device

The 128 px generator (issue 14), from scratch or from the CPU campaign's checkpoint (``--init``
optional), with ~20,000 faces as lossy WebP (see manifests/train_faces128_gpu.yaml):

    .venv/bin/python scripts/device_train.py prepare --data .data/faces128-shards --resolution 128 \
        --limit 20000 --lossy-quality 90 --dest .data/device128

There (the device tool's `run`, carrying `.data/device`; its python3 has torch but not dlib):

    python3 scripts/device_train.py run --dest .data/device --minutes 8 --out "$OUT"

`run` trains `manifests/train_mtfl64_gpu.yaml` from the packed weights for the given minutes
(checkpointing every minute, so a killed run still leaves weights), then writes to --out: the
EMA generator of the last checkpoints (`gen-<step>.safetensors`, 4 MB each), the last checkpoint's
networks (`last.safetensors`: generator, EMA and discriminator, for `fdf train --init-from`), `log.jsonl`, the
last sample grid and `summary.json` (steps, images/s, device). Evaluate them back here with
`fdf evaluate-generator OUT/gen-<step>.safetensors --data .data/mtfl-shards --limit 1000`.
It imports only the training code (torch, pyarrow, PIL, yaml), not the `fdf` command.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

CONFIG = ROOT / "manifests" / "train_mtfl64_gpu.yaml"
KEEP_PREFIXES = ("generator.", "discriminator.", "generator_ema.")
log = logging.getLogger("device_train")


#: The device tool carries at most this much of ignored files with the working tree.
CARRY_LIMIT = 64 * 2**20


def _slim(checkpoint: Path, dest: Path) -> None:
    """The checkpoint's network weights only (no optimizer state), as ``--init-from`` reads them."""
    from safetensors.torch import save_file

    from anonymizer.training.checkpoint import read_checkpoint
    from fdf.atomic import atomic_path

    tensors, meta = read_checkpoint(checkpoint)
    slim = {k: v for k, v in tensors.items() if k.startswith(KEEP_PREFIXES)}
    with atomic_path(dest) as tmp:
        save_file(slim, str(tmp), metadata={k: meta[k] for k in ("info", "format") if k in meta})


def prepare(
    data: Path,
    init: Path | None,
    dest: Path,
    resolution: int | None = None,
    limit: int | None = None,
    lossy_quality: int | None = None,
    min_source_px: int = 0,
) -> dict:
    """Pack the train split (WebP: lossless, or lossy at ``lossy_quality``; at most about
    ``limit`` faces) and the weights (no optimizer state; none without ``init``) into ``dest``."""
    from pack_faces import pack

    shutil.rmtree(dest, ignore_errors=True)
    report = pack(data, dest / "faces", ["train"], resolution, limit, lossy_quality, min_source_px=min_source_px)
    if init is not None:
        _slim(init, dest / "init.safetensors")
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    if total > CARRY_LIMIT:
        raise SystemExit(
            f"{dest} holds {total / 2**20:.1f} MiB, over the device tool's 64 MiB: lower --limit or --lossy-quality"
        )
    return {**report, "init": str(init) if init else None, "dest_bytes": total}


def run(dest: Path, minutes: float, out: Path, config_path: Path, keep: int) -> dict:
    """Train for ``minutes`` from the packed weights and write the results to ``out``."""
    import torch

    from anonymizer.generator import export_generator
    from anonymizer.training import load_config, train
    from anonymizer.training.checkpoint import list_checkpoints

    # Resolved here: a relative override would be read against the config file's folder (manifests/),
    # and the device command passes --dest relative to the repository root.
    config = load_config(config_path, {"data.path": str((dest / "faces").resolve())})
    run_dir = Path("/tmp/fdf-device-run")
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.time()
    init = dest / "init.safetensors"
    summary = train(config, run_dir, init_from=init if init.exists() else None, time_limit=minutes * 60)
    out.mkdir(parents=True, exist_ok=True)
    exported = []
    checkpoints = list_checkpoints(run_dir)
    if checkpoints:  # generator, EMA and discriminator: the CPU campaign continues from it (--init-from)
        _slim(checkpoints[-1], out / "last.safetensors")
        exported.append("last.safetensors")
    for ckpt in checkpoints[-keep:]:
        step = int(ckpt.stem.split("-")[1])
        exported.append(export_generator(ckpt, out / f"gen-{step:08d}.safetensors").name)
    shutil.copy(run_dir / "log.jsonl", out / "log.jsonl")
    samples = sorted((run_dir / "samples").glob("step-*.png"))
    if samples:
        shutil.copy(samples[-1], out / "samples-last.png")
    result = {
        "steps": summary.end_step,
        "images_per_second": summary.images_per_second,
        "batch_size": config.data.batch_size,
        "wall_seconds": round(time.time() - started, 1),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "exported": exported,
        "config": config.to_dict(),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="pack faces and starting weights for the device (run here)")
    p.add_argument("--data", type=Path, required=True, help="face-shard dataset")
    p.add_argument("--init", type=Path, default=None, help="training checkpoint to start from (default: from scratch)")
    p.add_argument("--dest", type=Path, default=ROOT / ".data" / "device")
    p.add_argument("--resolution", type=int, default=None, help="keep only crops of this size")
    p.add_argument("--limit", type=int, default=None, help="at most about this many faces (whole photos, seeded)")
    p.add_argument("--lossy-quality", type=int, default=None, help="lossy WebP at this quality (default lossless)")
    p.add_argument(
        "--min-source-px", type=int, default=0, help="only faces whose crop covers this many photo pixels (default all)"
    )
    p = sub.add_parser("run", help="train for a fixed time and export (run on the device)")
    p.add_argument("--dest", type=Path, default=ROOT / ".data" / "device")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--keep", type=int, default=5, help="export the last N checkpoints (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "prepare":
        result = prepare(
            args.data, args.init, args.dest, args.resolution, args.limit, args.lossy_quality, args.min_source_px
        )
    else:
        result = run(args.dest, args.minutes, args.out, args.config, args.keep)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
