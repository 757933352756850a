"""CPU training speed of the 128 px generator, one option at a time, in images/s.

Builds the trainer's own state (``_build_state``: generator, discriminator, EMA, Adam) for a
128 px config and times the trainer's own step (``train_step``: a discriminator update with lazy
R1, a generator update, the EMA) on real 128 px face crops. Each option changes one thing
against the baseline (float32, NCHW, eager, 2 threads, batch 16, faces decoded in memory):
bf16 autocast on the CPU, channels_last, torch.compile, batch size, threads, faces decoded per
batch from the shards, and the network's width. Options run round-robin, a few steps each per
round, with the order rotated every round, so that a burst of load from other jobs on the shared
machine hits every option; the table gives the median over rounds and the 1-minute load average
seen while each option ran. Round 0 is warm-up (and torch.compile's compilation, timed apart).

``--check-bf16 N`` instead trains two copies of the same model from the same weights on the same
batches for N steps, one in float32 and one under bf16 autocast (and a float32 channels_last copy
as the rounding-noise control), and writes their loss curves side by side.

Usage:
  python benchmarks/bench_train_speed.py --data .bench/faces128-sample [--config manifests/train_faces128.yaml]
      [--rounds 4] [--steps 2] [--variants baseline,channels_last,...] [--out benchmarks/results/train_speed]
  python benchmarks/bench_train_speed.py --data .bench/faces128-sample --check-bf16 12
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from anonymizer.generator.networks import count_parameters
from anonymizer.training import ddp
from anonymizer.training.config import config_from_dict, load_config
from anonymizer.training.data import CachedFaces, open_faces, training_batches
from anonymizer.training.trainer import _build_state, train_step
from fdf.atomic import atomic_write_text
from fdf.torch_data import decode_png

CPU = torch.device("cpu")
BASELINE = {
    "threads": 2,
    "batch": 16,
    "cpu_amp": False,
    "channels_last": False,
    "compile": False,
    "data": "memory",
    "base_channels": None,
    "max_channels": None,
}
# name -> (what changes against the baseline, overrides)
VARIANTS = {
    "baseline": ("float32, NCHW, eager, 2 threads, batch 16, faces in memory", {}),
    "threads 1": ("1 torch thread", {"threads": 1}),
    "batch 8": ("batch 8", {"batch": 8}),
    "batch 32": ("batch 32", {"batch": 32}),
    "channels_last": ("NHWC memory format", {"channels_last": True}),
    "torch.compile": ("compiled G and D forward passes", {"compile": True}),
    "bf16 autocast": ("bf16 autocast on the CPU (cpu_amp)", {"cpu_amp": True}),
    "decode per batch": ("faces decoded from the shards per batch (no workers, random order)", {"data": "shards"}),
    "channels 16-128": ("network 16-128 channels", {"base_channels": 16, "max_channels": 128}),
    "channels 24-192": ("network 24-192 channels", {"base_channels": 24, "max_channels": 192}),
    "channels 32-256": ("network 32-256 channels", {"base_channels": 32, "max_channels": 256}),
    "channels_last + 1 thread": ("NHWC memory format and 1 torch thread", {"channels_last": True, "threads": 1}),
    "channels_last + 1 thread + compile": (
        "NHWC, 1 torch thread and compiled forward passes",
        {"channels_last": True, "threads": 1, "compile": True},
    ),
    "1 thread + batch 32": ("1 torch thread, batch 32", {"threads": 1, "batch": 32}),
    "1 thread + decode per batch": ("1 torch thread, faces decoded per batch", {"threads": 1, "data": "shards"}),
}
# Options an order of magnitude slower: one step per round, timed in the first SLOW_ROUNDS rounds only.
SLOW = {"bf16 autocast"}
SLOW_ROUNDS = 2


def base_values(config_path: Path) -> dict:
    config = load_config(config_path)
    return {
        "network": config.network.to_dict(),
        "loss": vars(config.loss).copy(),
        "augment": vars(config.augment).copy(),
        "optim": vars(config.optim).copy(),
        "seed": config.seed,
        "ema_halflife_images": config.ema_halflife_images,
        "tensorboard": False,
    }


class Runner:
    """One option: its own trainer state and batch stream, stepped on demand."""

    def __init__(self, name: str, overrides: dict, values: dict, data: str, cached: CachedFaces):
        self.name, self.options = name, {**BASELINE, **overrides}
        o = self.options
        values = json.loads(json.dumps(values))
        for key in ("base_channels", "max_channels"):
            if o[key]:
                values["network"][key] = o[key]
        values.update(
            cpu_amp=o["cpu_amp"], channels_last=o["channels_last"], compile=o["compile"], threads=o["threads"]
        )
        values["data"] = {"path": data, "batch_size": o["batch"], "workers": 0}
        self.config = config_from_dict(values)
        torch.set_num_threads(o["threads"])
        self.state = _build_state(self.config, CPU)
        dataset = cached if o["data"] == "memory" else open_faces(data, self.config.network.resolution, "train")
        self.batches = training_batches(dataset, o["batch"], self.config.seed, 0, 0)
        self.params = count_parameters(self.state.generator), count_parameters(self.state.discriminator)
        self.first_step_s: float | None = None
        self.rates: list[float] = []
        self.loads: list[float] = []
        self.last_parts: dict = {}

    def step(self) -> None:
        batch = next(self.batches)  # decoding is part of the step when reading shards
        self.last_parts = train_step(self.state, self.config, batch, ddp.DistInfo(), CPU)
        self.state.step += 1

    def run(self, steps: int, record: bool) -> None:
        torch.set_num_threads(self.options["threads"])
        load = os.getloadavg()[0]
        started = time.perf_counter()
        for _ in range(steps):
            self.step()
        elapsed = time.perf_counter() - started
        if record:
            self.rates.append(steps * self.options["batch"] / elapsed)
            self.loads.append((load + os.getloadavg()[0]) / 2)


def decode_costs(data: str, resolution: int, limit: int = 256) -> dict:
    """ms per face: PNG decode alone, the shard Dataset in file order and in a shuffled order."""
    dataset = open_faces(data, resolution, "train")
    n = min(limit, len(dataset))
    pngs = [
        dataset._row_group(*map(int, dataset.index[i][:2]))["image"][int(dataset.index[i][2])]["bytes"]
        for i in range(n)
    ]
    started = time.perf_counter()
    for png in pngs:
        decode_png(png)
    png_ms = (time.perf_counter() - started) / n * 1000
    fresh = open_faces(data, resolution, "train")
    started = time.perf_counter()
    for i in range(n):
        fresh[i]
    sequential_ms = (time.perf_counter() - started) / n * 1000
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:n].tolist()
    fresh = open_faces(data, resolution, "train")
    started = time.perf_counter()
    for i in order:
        fresh[i]
    random_ms = (time.perf_counter() - started) / n * 1000
    return {
        "faces": n,
        "png_bytes_mean": sum(map(len, pngs)) / n,
        "png_decode_ms": png_ms,
        "dataset_sequential_ms": sequential_ms,
        "dataset_random_ms": random_ms,
        "load_average": os.getloadavg()[0],
    }


def machine() -> dict:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    flags = next(
        (
            line.split(":", 1)[1].split()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        ),
        [],
    )
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "mkldnn_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def speed_table(runners: list[Runner]) -> list[dict]:
    base = statistics.median(runners[0].rates) if runners[0].rates else float("nan")
    rows = []
    for r in runners:
        median = statistics.median(r.rates) if r.rates else float("nan")
        rows.append(
            {
                "option": r.name,
                "change": VARIANTS[r.name][0],
                "options": r.options,
                "g_params": r.params[0],
                "d_params": r.params[1],
                "rounds": len(r.rates),
                "images_per_second": median,
                "min": min(r.rates, default=float("nan")),
                "max": max(r.rates, default=float("nan")),
                "all": [round(v, 3) for v in r.rates],
                "vs_baseline": median / base,
                "paired": paired_ratio(r.rates, runners[0].rates),
                "load_average": statistics.median(r.loads) if r.loads else float("nan"),
                "first_step_s": r.first_step_s,
                "finite": all(v == v and abs(v) != float("inf") for v in r.last_parts.values()),
            }
        )
    return rows


def paired_ratio(rates: list[float], baseline: list[float]) -> float:
    """Median over rounds of this option's rate over the baseline's in the same round: the load
    drifts between rounds far more than within one, so a ratio inside a round is steadier."""
    ratios = [a / b for a, b in zip(rates, baseline)]
    return statistics.median(ratios) if ratios else float("nan")


def to_markdown(rows: list[dict], info: dict, decode: dict, command: str) -> str:
    m = info["machine"]
    lines = [
        "# Generator training speed on the CPU, per option (128 px)",
        "",
        f"`{command}`",
        "",
        f"Config `{info['config']}` at 128 px, loss {info['loss']}; the trainer's own `train_step` on "
        f"{info['faces']} real 128 px training faces (`{info['data']}`). {info['rounds']} timed rounds after a "
        f"warm-up round, {info['steps']} step(s) per option per round (bf16: 1 step in the first {SLOW_ROUNDS} rounds), "
        "options interleaved and the order "
        "rotated each round; images/s is the median over rounds (min-max beside it).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs), {m['memory_gb']} GiB, torch {m['torch']}, "
        f"CPU capability {m['cpu_capability']}, AVX512-BF16 {m['avx512_bf16']}, AMX {m['amx_bf16']}, "
        f"oneDNN bf16 {m['mkldnn_bf16']}; {m['date']}.",
        "",
        "| option | change against the baseline | G / D params | images/s (median) | min-max | x baseline | "
        "x baseline, paired by round | load avg | first step / steady step (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        steady = r["options"]["batch"] / r["images_per_second"]
        first = f"{r['first_step_s']:.0f} / {steady:.0f}" if r["first_step_s"] is not None else "-"
        lines.append(
            f"| {r['option']} | {r['change']} | {r['g_params'] / 1e6:.2f} M / {r['d_params'] / 1e6:.2f} M | "
            f"{r['images_per_second']:.2f} | {r['min']:.2f}-{r['max']:.2f} | {r['vs_baseline']:.2f} | "
            f"{r['paired']:.2f} | {r['load_average']:.1f} | {first} |"
        )
    if decode:
        lines += [
            "",
            f"Decoding ({decode['faces']} faces, mean PNG {decode['png_bytes_mean'] / 1e3:.1f} kB, load avg "
            f"{decode['load_average']:.1f}): PNG decode {decode['png_decode_ms']:.2f} ms/face; the shard Dataset "
            f"{decode['dataset_sequential_ms']:.2f} ms/face in file order, {decode['dataset_random_ms']:.2f} ms/face in a "
            "shuffled order (a row group re-read per face). Caching 50,000 faces in memory at the file-order rate: "
            f"{50000 * decode['dataset_sequential_ms'] / 1000 / 60:.1f} min at start-up, 2.46 GB.",
        ]
    return "\n".join(lines) + "\n"


def run_speed(args, values: dict) -> None:
    torch.manual_seed(0)
    names = args.variants.split(",") if args.variants else list(VARIANTS)
    if names[0] != "baseline":
        names = ["baseline"] + [n for n in names if n != "baseline"]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variant(s): {', '.join(sorted(unknown))}")
    decode = decode_costs(args.data, values["network"]["resolution"]) if not args.no_decode else {}
    torch.set_num_threads(2)
    cached = CachedFaces(open_faces(args.data, values["network"]["resolution"], "train"))
    runners = []
    for name in names:
        try:
            runners.append(Runner(name, VARIANTS[name][1], values, args.data, cached))
        except Exception as exc:  # e.g. torch.compile without a compiler: report and go on
            print(f"skipped {name}: {exc}", flush=True)
    for rnd in range(args.rounds + 1):
        order = runners[rnd % len(runners) :] + runners[: rnd % len(runners)]
        for r in order:
            if rnd == 0:  # warm-up; the first step of a compiled option includes compiling
                torch.set_num_threads(r.options["threads"])
                started = time.perf_counter()
                try:
                    r.step()
                except Exception as exc:
                    print(f"{r.name} failed: {exc}", flush=True)
                    runners.remove(r)
                    continue
                r.first_step_s = time.perf_counter() - started
                if r.name not in SLOW:
                    r.run(1, record=False)
            elif r.name not in SLOW:
                r.run(args.steps, record=True)
            elif rnd <= SLOW_ROUNDS:
                r.run(1, record=True)
            else:
                continue
            print(
                f"round {rnd} {r.name}: {r.rates[-1] if r.rates else 0:.2f} images/s, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        rows = speed_table(runners)
        info = {
            "config": str(args.config),
            "loss": values["loss"]["kind"],
            "data": args.data,
            "faces": len(cached),
            "rounds": rnd,
            "steps": args.steps,
            "machine": machine(),
        }
        command = "python benchmarks/bench_train_speed.py " + " ".join(f"'{a}'" if " " in a else a for a in args.argv)
        write(
            args.out,
            {"info": info, "decode": decode, "rows": rows, "command": command},
            to_markdown(rows, info, decode, command),
        )


def check_bf16(args, values: dict) -> None:
    """Loss curves of float32 vs bf16 autocast (and float32 channels_last, the rounding-noise control)."""
    torch.set_num_threads(2)
    cached = CachedFaces(open_faces(args.data, values["network"]["resolution"], "train"))
    batch = args.check_batch
    runners = {
        name: Runner(name, {**overrides, "batch": batch, "threads": 1}, values, args.data, cached)
        for name, overrides in (
            ("float32", {}),
            ("float32 channels_last", {"channels_last": True}),
            ("bf16 autocast", {"cpu_amp": True}),
        )
    }
    curves = {name: [] for name in runners}
    for step in range(args.check_bf16):
        for name, r in runners.items():
            r.step()
            curves[name].append({k: float(v) for k, v in r.last_parts.items()})
        print(step, {n: round(c[-1]["d_loss"], 4) for n, c in curves.items()}, flush=True)
    ref = runners["float32"].state.generator.state_dict()
    drift = {}
    for name, r in runners.items():
        other = r.state.generator.state_dict()
        num = sum(float((other[k] - ref[k]).pow(2).sum()) for k in ref)
        den = sum(float(ref[k].pow(2).sum()) for k in ref)
        drift[name] = (num / den) ** 0.5
    finite = all(v == v and abs(v) != float("inf") for c in curves["bf16 autocast"] for v in c.values())
    payload = {
        "curves": curves,
        "drift": drift,
        "finite": finite,
        "batch": batch,
        "steps": args.check_bf16,
        "machine": machine(),
    }
    write(args.out.with_name(args.out.name + "_bf16_check"), payload, bf16_markdown(payload))


def bf16_markdown(payload: dict) -> str:
    curves, drift = payload["curves"], payload["drift"]
    names = list(curves)
    keys = list(dict.fromkeys(k for c in curves["float32"] for k in c))
    lines = [
        f"# bf16 autocast vs float32 on the CPU: {payload['steps']} training steps, batch {payload['batch']}",
        "",
        "Same initial weights, same batches and random numbers. The float32 channels_last copy differs from "
        "float32 only by rounding order: it shows how far two runs drift from rounding alone. "
        "r1 is logged on the lazy R1 steps only.",
        "",
        "Relative L2 distance of the generator weights from the float32 run at the end: "
        + ", ".join(f"{n} {d:.2e}" for n, d in drift.items())
        + ".",
        "",
        "| step | " + " | ".join(f"{k} fp32 / cl / bf16" for k in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for step in range(payload["steps"]):
        cells = [" / ".join(f"{curves[n][step][k]:.4f}" if k in curves[n][step] else "-" for n in names) for k in keys]
        lines.append(f"| {step + 1} | " + " | ".join(cells) + " |")
    lines += ["", f"All bf16 losses finite: {payload['finite']}."]
    return "\n".join(lines) + "\n"


def write(out: Path, payload: dict, markdown: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out.with_suffix(".json"), json.dumps(payload, indent=1))
    atomic_write_text(out.with_suffix(".md"), markdown)


def main() -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="face shards with 128 px train rows")
    parser.add_argument(
        "--config",
        type=Path,
        default=Path("manifests/train_faces128.yaml"),
        help="network, loss, augment and optimizer settings; the speed options are set here",
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2, help="timed steps per option per round")
    parser.add_argument("--variants", default="", help=f"comma-separated subset of: {', '.join(VARIANTS)}")
    parser.add_argument("--no-decode", action="store_true", help="skip the decode-cost measurement")
    parser.add_argument(
        "--check-bf16",
        type=int,
        default=0,
        metavar="STEPS",
        help="compare loss curves of float32 and bf16 training instead of timing",
    )
    parser.add_argument("--check-batch", type=int, default=8)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train_speed"))
    parser.add_argument(
        "--render", action="store_true", help="only rewrite OUT.md from OUT.json (after editing the text)"
    )
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    if args.render and args.out.name.endswith("_bf16_check"):
        saved = json.loads(args.out.with_suffix(".json").read_text())
        saved.setdefault("steps", len(saved["curves"]["float32"]))
        write(args.out, saved, bf16_markdown(saved))
        return
    if args.render:
        saved = json.loads(args.out.with_suffix(".json").read_text())
        base = saved["rows"][0]["all"]
        for row in saved["rows"]:
            row["change"] = VARIANTS.get(row["option"], (row["change"],))[0]
            row["paired"] = paired_ratio(row["all"], base)
        write(args.out, saved, to_markdown(saved["rows"], saved["info"], saved["decode"], saved.get("command", "")))
        return
    values = base_values(args.config)
    if args.check_bf16:
        check_bf16(args, values)
    else:
        run_speed(args, values)


if __name__ == "__main__":
    main()
