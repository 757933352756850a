"""Truncation (and the discriminator as a picker) on validation crops, judged by YuNet.

    python benchmarks/truncation_crops.py runs/outline64/checkpoint-00007485.safetensors \\
        runs/outline64/config.yaml [--psi 1,0.7,0.5,0] [--faces 96] [--grid out.png] [--json-out rows.json]

For every 7th validation face of the run's data (``--faces`` of them): the training hole, then
four latents per face through the EMA generator at each truncation ``psi`` (style pulled towards
the mapping's mean). YuNet (OpenCV Zoo, not used in training) looks for a face in each generated
crop, upscaled to 256 px; a face counts as found at score 0.9. ``--by-critic`` also draws 8
latents at psi 1 and compares the discriminator's pick (best score) with a random one. The checkpoint
must be a training checkpoint (it holds the EMA generator and, for ``--by-critic``, the discriminator).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from anonymizer.generator.conditioning import build_condition, to_float_image, to_uint8_image
from anonymizer.generator.networks import Discriminator, Generator, fill_hole
from anonymizer.judges.yunet import YuNetDetector
from anonymizer.training import load_config
from anonymizer.training.checkpoint import module_state, read_checkpoint
from anonymizer.training.data import collate_faces, open_faces
from anonymizer.training.trainer import training_holes

FOUND = 0.9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("config", type=Path, help="the run's config.yaml")
    ap.add_argument("--psi", default="1,0.7,0.5,0")
    ap.add_argument("--faces", type=int, default=96)
    ap.add_argument("--by-critic", action="store_true")
    ap.add_argument("--grid", type=Path, default=None, help="PNG: originals, inputs, one row per psi (16 faces)")
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    res = cfg.network.resolution
    data = open_faces(cfg.data.path, res, "validation", cfg.data.source_resolution)
    faces = collate_faces([data[i] for i in range(0, min(len(data), 7 * args.faces), 7)][: args.faces])
    tensors, _ = read_checkpoint(args.checkpoint)
    gen = Generator(cfg.network)
    gen.load_state_dict(module_state(tensors, "generator_ema"))
    gen.eval()
    real = to_float_image(faces["image"])
    holes, known = training_holes(faces, cfg.network, res)
    condition, _ = build_condition(real, holes, faces["keypoints"], known)
    yunet = YuNetDetector(0.5, max_side=None)

    def score(image: torch.Tensor) -> float:
        crop = cv2.resize(to_uint8_image(image[None]).numpy()[0], (256, 256), interpolation=cv2.INTER_CUBIC)
        return max((f.score for f in yunet.detect(np.ascontiguousarray(crop))), default=0.0)

    def latents(k: int) -> torch.Tensor:
        return torch.randn(len(real), cfg.network.z_dim, generator=torch.Generator().manual_seed(1000 + k))

    rows = {"faces": len(real), "originals_found": float(np.mean([score(r) >= FOUND for r in real])), "psi": {}}
    grid = [real[:16], condition[:16, :3]]
    w_avg = gen.mean_w()
    with torch.no_grad():
        for psi in (float(p) for p in args.psi.split(",")):
            scores = []
            for k in range(4):
                fake = fill_hole(gen(condition, latents(k), psi, w_avg), condition)
                scores.append([score(f) for f in fake])
                if k == 0:
                    grid.append(fake[:16])
            scores = np.array(scores)
            rows["psi"][str(psi)] = {
                "found": round(float(np.mean(scores >= FOUND)), 4),
                "mean_score": round(float(scores.mean()), 4),
            }
            print(f"psi {psi}: YuNet finds {np.mean(scores >= FOUND):.1%} (mean score {scores.mean():.3f})")
        if args.by_critic:
            critic = Discriminator(cfg.network)
            critic.load_state_dict(module_state(tensors, "discriminator"))
            critic.eval()
            fakes = [fill_hole(gen(condition, latents(k)), condition) for k in range(8)]
            d = torch.stack([critic(f, condition) for f in fakes], 1).numpy()
            y = np.array([[score(f[i]) for f in fakes] for i in range(len(real))])
            pick = np.arange(len(real))
            corr = [np.corrcoef(d[i], y[i])[0, 1] for i in range(len(real)) if y[i].std() > 0]
            rows["by_critic"] = {
                "best": round(float(np.mean(y[pick, d.argmax(1)] >= FOUND)), 4),
                "random": round(float(np.mean(y >= FOUND)), 4),
                "worst": round(float(np.mean(y[pick, d.argmin(1)] >= FOUND)), 4),
                "correlation": round(float(np.mean(corr)), 3),
            }
            print(f"critic's pick of 8: {rows['by_critic']}")
    print(f"originals: YuNet finds {rows['originals_found']:.1%}")
    if args.grid:
        tiles = [to_uint8_image(r).numpy() for r in grid]
        image = np.concatenate([np.concatenate(list(t), 1) for t in tiles], 0)
        scale = max(1, 128 // res)
        cv2.imwrite(
            str(args.grid), cv2.resize(image[:, :, ::-1], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        )
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
