"""Training throughput of the generator (images/s) on this machine's CPU, and on CUDA when present.

Trains the given config for a few steps per (device, batch size) in a temporary run folder and
reads images/s from the run's log, skipping the first logged window (start-up, first batches).

Usage: python benchmarks/bench_train.py --data .data/mtfl-shards [--config manifests/train_mtfl64.yaml]
       [--steps 40] [--batch-sizes 16,32] [--threads 1,2] [--out benchmarks/results/train.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from anonymizer.generator.networks import Discriminator, Generator, count_parameters
from anonymizer.training import load_config, train
from fdf.atomic import atomic_write_text


def measure(config_path: Path, data: str, device: str, batch: int, steps: int, workers: int, threads: int) -> dict:
    config = load_config(config_path)
    config.threads = threads
    config.data.path, config.data.batch_size, config.data.workers = data, batch, workers
    config.device, config.steps, config.tensorboard = device, steps, False
    config.log_every = max(1, steps // 4)
    config.sample_every = config.checkpoint_every = steps
    with tempfile.TemporaryDirectory() as tmp:
        started = time.time()
        summary = train(config, Path(tmp) / "run")
        wall = time.time() - started
        log = [json.loads(line) for line in (Path(tmp) / "run" / "log.jsonl").read_text().splitlines()]
    steady = [r["images_per_second"] for r in log[1:]] or [log[-1]["images_per_second"]]
    return {
        "device": torch.cuda.get_device_name(0)
        if device == "cuda"
        else f"CPU ({os.cpu_count()} cores, {threads} threads)",
        "batch": batch,
        "steps": steps,
        "images_per_second": sum(steady) / len(steady),
        "overall_images_per_second": summary.images_per_second,
        "wall_s": wall,
        "load_average": os.getloadavg()[0],
        "loss": config.loss.kind,
        "resolution": config.network.resolution,
        "g_params": count_parameters(Generator(config.network)),
        "d_params": count_parameters(Discriminator(config.network)),
    }


def to_markdown(rows: list[dict], config_path: Path) -> str:
    lines = [
        "# Generator training throughput",
        "",
        f"Config `{config_path}` ({rows[0]['resolution']} px, loss {rows[0]['loss']}, generator "
        f"{rows[0]['g_params'] / 1e6:.2f} M parameters, discriminator {rows[0]['d_params'] / 1e6:.2f} M), "
        "reading face shards with DataLoader workers. images/s: mean over logged windows after the first.",
        f"Machine: {platform.platform()}, torch {torch.__version__}.",
        "",
        "| device | batch | steps | images/s | overall images/s | load avg (1 min) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['device']} | {r['batch']} | {r['steps']} | {r['images_per_second']:.1f} | "
            f"{r['overall_images_per_second']:.1f} | {r['load_average']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", type=Path, default=Path("manifests/train_mtfl64.yaml"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-sizes", default="16")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", default="1", help="torch CPU threads to try, comma-separated")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [
        measure(args.config, args.data, d, int(b), args.steps, args.workers, int(t))
        for d in devices
        for b in args.batch_sizes.split(",")
        for t in (args.threads.split(",") if d == "cpu" else ["0"])
    ]
    text = to_markdown(rows, args.config)
    print(text)
    if args.out:
        atomic_write_text(args.out, text)


if __name__ == "__main__":
    main()
