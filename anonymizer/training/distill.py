"""Distil dlib's face descriptor into a small differentiable network (``IdentityNet``).

Targets are computed exactly as ``fdf evaluate-generator`` computes descriptors: the crop
upscaled to 256 px, dlib's 68-point shape found on the *original* crop, the descriptor of each
variant (the original, and each given generator's output) at that shape. The network learns to
map a 64 px crop to that descriptor, on the train split only; the report measures how well its
distances agree with dlib's on the validation split, for a generator it was trained on and for
any extra one.

Targets are cached in the output folder (``targets-<split>.npz``), so a second run, or one that
adds training epochs, does not recompute them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from joblib import Parallel, delayed
from tqdm import tqdm

from fdf.annotate.identity import face_embedding
from fdf.annotate.landmarks import predict_shape
from fdf.atomic import atomic_path
from fdf.errors import FdfError
from fdf.torch_data import FaceShardDataset

from ..generator import load_generator
from ..generator.conditioning import grow_boxes, to_float_image
from ..generator.identity import IdentityNet, IdentityNetConfig, save_identity_net

log = logging.getLogger(__name__)

REID_THRESHOLD = 0.6


class DistillError(FdfError):
    """The data or generators cannot be used for distillation."""


@dataclass
class DistillConfig:
    data: str = ""
    generators: list[str] = field(default_factory=list)  # checkpoints ('bundled': the packaged model) trained on
    check_generators: list[str] = field(default_factory=list)  # only in the validation report
    upscale_to: int = 256
    box_detector: str = "centerface"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    jobs: int = 2
    limit: int = 0  # faces per split (0: all); for quick runs and tests
    width: int = 16


def _descriptors_chunk(crops: dict, boxes: np.ndarray, upscale_to: int, box_detector: str) -> dict:

    out = {name: np.zeros((len(boxes), 128), np.float32) for name in crops}
    scale = upscale_to / crops["original"].shape[1]
    for i, box in enumerate(boxes):
        big = {k: cv2.resize(v[i], (upscale_to, upscale_to), interpolation=cv2.INTER_CUBIC) for k, v in crops.items()}
        shape = predict_shape(big["original"], box * scale, box_detector)
        for name, image in big.items():
            out[name][i] = face_embedding(image, shape)
    return out


def dlib_descriptors(crops: dict, boxes: np.ndarray, config: DistillConfig) -> dict:
    """Descriptors of every variant in ``crops`` (name -> N x R x R x 3), at the original's shape."""
    n = len(boxes)
    size = max(1, min(256, -(-n // max(1, config.jobs * 4))))
    chunks = [slice(s, s + size) for s in range(0, n, size)]
    parts = Parallel(n_jobs=config.jobs)(
        delayed(_descriptors_chunk)(
            {k: v[c] for k, v in crops.items()}, boxes[c], config.upscale_to, config.box_detector
        )
        for c in tqdm(chunks, desc="dlib descriptors", unit="chunk", disable=None)
    )
    return {k: np.concatenate([p[k] for p in parts]) for k in crops}


def _faces(data: str, resolution: int, split: str, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    dataset = FaceShardDataset(data, resolution, split)
    n = len(dataset) if not limit else min(limit, len(dataset))
    items = [dataset[i] for i in range(n)]
    if not items:
        raise DistillError(f"{data} has no {split} faces")
    crops = np.stack([it["image"].permute(1, 2, 0).numpy() for it in items])
    boxes = np.stack([it["bbox"].numpy() for it in items]).astype(np.float32)
    keypoints = np.stack([it["keypoints"].numpy() for it in items]).astype(np.float32)
    return crops, boxes, keypoints, [it["face_id"] for it in items]


def _variant_name(index: int) -> str:
    return f"generated{index}"


def split_targets(config: DistillConfig, split: str, generators: list[str], out_dir: Path) -> dict:
    """Crops and dlib descriptors of one split: 'original' and one 'generated<i>' per generator."""

    cache = out_dir / f"targets-{split}.npz"
    crops, boxes, keypoints, face_ids = _faces(config.data, 64, split, config.limit)
    variants = {"original": crops}
    for i, path in enumerate(generators):
        gen = load_generator(None if path == "bundled" else path)
        if gen.resolution != crops.shape[1]:
            crops, boxes, keypoints, face_ids = _faces(config.data, gen.resolution, split, config.limit)
            variants["original"] = crops
        if gen.hole != "box":
            raise DistillError(
                f"{path}: distillation targets come from box-hole generators, this one fills {gen.hole}s"
            )
        holes = grow_boxes(torch.from_numpy(boxes), gen.mask_dilation, gen.resolution).numpy()
        variants[_variant_name(i)] = gen.generate(crops, holes, keypoints, seeds=list(range(len(crops))))
    key = {
        "face_ids": face_ids,
        "generators": [str(Path(g).resolve()) if Path(g).exists() else g for g in generators],
        "upscale_to": config.upscale_to,
        "box_detector": config.box_detector,
    }
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            if str(saved["key"]) == repr(key):
                log.info("using cached %s targets from %s", split, cache)
                return {"crops": variants, "descriptors": {k: saved[k] for k in variants}}
    started = time.time()
    descriptors = dlib_descriptors(variants, boxes, config)
    log.info("%s: %d faces x %d variants in %.0f s", split, len(boxes), len(variants), time.time() - started)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.array(repr(key)), **descriptors)
    return {"crops": variants, "descriptors": descriptors}


def _to_tensor(crops: np.ndarray) -> torch.Tensor:
    return to_float_image(torch.from_numpy(crops).permute(0, 3, 1, 2))


def _predict(net: IdentityNet, crops: np.ndarray, batch: int = 256) -> np.ndarray:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(_to_tensor(crops[s : s + batch])) for s in range(0, len(crops), batch)]).numpy()


def agreement(net: IdentityNet, crops: dict, descriptors: dict) -> dict:
    """How the network's generated-vs-original distances agree with dlib's, per generated variant."""
    pred = {k: _predict(net, v) for k, v in crops.items()}
    report = {"descriptor_rmse": float(np.sqrt(((pred["original"] - descriptors["original"]) ** 2).sum(1).mean()))}
    for name in crops:
        if name == "original":
            continue
        true = np.linalg.norm(descriptors[name] - descriptors["original"], axis=1)
        est = np.linalg.norm(pred[name] - pred["original"], axis=1)
        leak, flagged = true < REID_THRESHOLD, est < REID_THRESHOLD
        report[name] = {
            "faces": int(len(true)),
            "dlib_mean_distance": float(true.mean()),
            "net_mean_distance": float(est.mean()),
            "distance_correlation": float(np.corrcoef(true, est)[0, 1]),
            "distance_mae": float(np.abs(true - est).mean()),
            "dlib_reid_rate": float(leak.mean()),
            # Of the faces dlib calls a match, how many the network also puts under the threshold.
            "net_recall_of_dlib_matches": float(flagged[leak].mean()) if leak.any() else None,
        }
    return report


def train_identity_net(config: DistillConfig, crops: dict, descriptors: dict) -> IdentityNet:
    """Regress every variant's crop to its dlib descriptor, plus a term on distances to the original."""
    torch.manual_seed(config.seed)
    net = IdentityNet(IdentityNetConfig(resolution=crops["original"].shape[1], width=config.width))
    names = list(crops)
    x = {k: torch.from_numpy(crops[k]).permute(0, 3, 1, 2) for k in names}
    y = {k: torch.from_numpy(descriptors[k]) for k in names}
    n = len(y["original"])
    steps_per_epoch = max(1, n // config.batch_size)
    total = config.epochs * steps_per_epoch
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.1)
    rng = torch.Generator().manual_seed(config.seed)
    bar = tqdm(total=total, desc="distil", unit="step", disable=None)
    for epoch in range(config.epochs):
        net.train()
        perm = torch.randperm(n, generator=rng)
        for s in range(steps_per_epoch):
            idx = perm[s * config.batch_size : (s + 1) * config.batch_size]
            # Every variant of the same faces in one batch, so the distance term sees pairs.
            batch = torch.cat([to_float_image(x[k][idx]) for k in names])
            target = torch.cat([y[k][idx] for k in names])
            # Small photometric noise: generated faces differ from real ones in texture.
            batch = batch + 0.02 * torch.randn(batch.shape, generator=rng)
            pred = net(batch)
            loss = F.mse_loss(pred, target) * 128
            m = len(idx)
            p0, t0 = pred[:m], target[:m]
            for j in range(1, len(names)):
                pj, tj = pred[j * m : (j + 1) * m], target[j * m : (j + 1) * m]
                loss = loss + F.l1_loss((pj - p0).norm(dim=1), (tj - t0).norm(dim=1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
        bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    bar.close()
    net.requires_grad_(False)
    return net.eval()


def distill_identity(config: DistillConfig, out_dir: str | Path) -> dict:
    """Compute targets, train the network, write ``identity.safetensors`` and return a report."""
    if not config.data:
        raise DistillError("no data given: a face-shard dataset with train and validation splits")
    if not config.generators:
        raise DistillError("give at least one generator checkpoint: the network must learn generated faces too")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    train = split_targets(config, "train", config.generators, out_dir)
    val = split_targets(config, "validation", config.generators + config.check_generators, out_dir)
    net = train_identity_net(config, train["crops"], train["descriptors"])
    report = {
        "config": asdict(config),
        "train_faces": int(len(train["descriptors"]["original"])),
        "train": agreement(net, train["crops"], train["descriptors"]),
        "validation": agreement(net, val["crops"], val["descriptors"]),
        "variants": {_variant_name(i): g for i, g in enumerate(config.generators + config.check_generators)},
        "seconds": round(time.time() - started, 1),
    }
    save_identity_net(net, out_dir / "identity.safetensors", {"report": report})
    return report
