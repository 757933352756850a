#!/usr/bin/env python
"""The generator's GPU training run, prepared for a lent machine with a fixed time budget.

Here (CPU), once: pack the faces and the starting weights into one ignored folder that fits the
device tool's 64 MiB working-tree limit:

    .venv/bin/python scripts/device_train.py prepare --data .data/mtfl-shards \\
        --init runs/ft-gan3/checkpoint-00014805.safetensors --dest .data/device

There (the device tool's `run`, carrying `.data/device`; its python3 has torch but not dlib):

    python3 scripts/device_train.py run --dest .data/device --minutes 8 --out "$OUT"

`run` trains `manifests/train_mtfl64_gpu.yaml` from the packed weights for the given minutes
(checkpointing every minute, so a killed run still leaves weights), then writes to --out: the
EMA generator of the last checkpoints (`gen-<step>.safetensors`, 4 MB each), `log.jsonl`, the
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


def prepare(data: Path, init: Path, dest: Path) -> dict:
    """Pack the train split (lossless WebP) and the weights (no optimizer state) into ``dest``."""
    from safetensors.torch import save_file

    from anonymizer.training.checkpoint import read_checkpoint
    from fdf.atomic import atomic_path
    from pack_faces import pack

    report = pack(data, dest / "faces", ["train"], None)
    tensors, meta = read_checkpoint(init)
    slim = {k: v for k, v in tensors.items() if k.startswith(KEEP_PREFIXES)}
    with atomic_path(dest / "init.safetensors") as tmp:
        save_file(slim, str(tmp), metadata={k: meta[k] for k in ("info", "format") if k in meta})
    total = sum(p.stat().st_size for p in dest.rglob("*") if p.is_file())
    return {**report, "init": str(init), "dest_bytes": total}


def run(dest: Path, minutes: float, out: Path, config_path: Path, keep: int) -> dict:
    """Train for ``minutes`` from the packed weights and write the results to ``out``."""
    import torch

    from anonymizer.generator import export_generator
    from anonymizer.training import load_config, train
    from anonymizer.training.checkpoint import list_checkpoints

    config = load_config(config_path)
    config.data.path = str(dest / "faces")
    run_dir = Path("/tmp/fdf-device-run")
    shutil.rmtree(run_dir, ignore_errors=True)
    started = time.time()
    summary = train(config, run_dir, init_from=dest / "init.safetensors", time_limit=minutes * 60)
    out.mkdir(parents=True, exist_ok=True)
    exported = []
    for ckpt in list_checkpoints(run_dir)[-keep:]:
        step = int(ckpt.stem.split("-")[1])
        exported.append(export_generator(ckpt, out / f"gen-{step:08d}.safetensors").name)
    shutil.copy(run_dir / "log.jsonl", out / "log.jsonl")
    samples = sorted((run_dir / "samples").glob("step-*.png"))
    if samples:
        shutil.copy(samples[-1], out / "samples-last.png")
    result = {
        "steps": summary.end_step, "images_per_second": summary.images_per_second,
        "batch_size": config.data.batch_size, "wall_seconds": round(time.time() - started, 1),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__, "exported": exported, "config": config.to_dict(),
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="pack faces and starting weights for the device (run here)")
    p.add_argument("--data", type=Path, required=True, help="face-shard dataset")
    p.add_argument("--init", type=Path, required=True, help="training checkpoint to start from")
    p.add_argument("--dest", type=Path, default=ROOT / ".data" / "device")
    p = sub.add_parser("run", help="train for a fixed time and export (run on the device)")
    p.add_argument("--dest", type=Path, default=ROOT / ".data" / "device")
    p.add_argument("--minutes", type=float, default=8.0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--config", type=Path, default=CONFIG)
    p.add_argument("--keep", type=int, default=5, help="export the last N checkpoints (default 5)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.command == "prepare":
        result = prepare(args.data, args.init, args.dest)
    else:
        result = run(args.dest, args.minutes, args.out, args.config, args.keep)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
