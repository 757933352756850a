"""Training batches from face shards (or an FDF folder), in an order that can resume exactly.

The order of global batch ``s`` depends only on the seed and ``s``: epoch ``e`` is a fixed
permutation drawn from ``seed + e``. A resumed run starts at its step; process ``r`` of ``W``
takes the ``r``-th slice of every global batch, so W processes see exactly the samples one
process would.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler, Subset
from tqdm import tqdm

from fdf.atomic import atomic_path
from fdf.errors import ConfigError
from fdf.torch_data import FaceShardDataset

log = logging.getLogger(__name__)


class ResumableBatchSampler(Sampler[list[int]]):
    """Endless per-process batches of dataset indices, starting at global step ``start_step``."""

    def __init__(
        self, size: int, global_batch: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1
    ):
        if global_batch % world_size:
            raise ConfigError(f"batch_size {global_batch} must be divisible by the {world_size} processes")
        if size < global_batch:
            raise ConfigError(f"the dataset has {size} faces, fewer than one batch of {global_batch}")
        self.size, self.global_batch, self.seed = size, global_batch, seed
        self.start_step, self.rank, self.world_size = start_step, rank, world_size
        self.steps_per_epoch = size // global_batch
        self.local_batch = global_batch // world_size

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed * 100003 + epoch))

    def batch_indices(self, step: int) -> list[int]:
        """This process's indices for global step ``step``."""
        epoch, position = divmod(step, self.steps_per_epoch)
        start = position * self.global_batch + self.rank * self.local_batch
        return self._permutation(epoch)[start : start + self.local_batch].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        epoch, perm = -1, None
        while True:
            e, position = divmod(step, self.steps_per_epoch)
            if e != epoch:
                epoch, perm = e, self._permutation(e)
            start = position * self.global_batch + self.rank * self.local_batch
            yield perm[start : start + self.local_batch].tolist()
            step += 1

    def __len__(self) -> int:  # endless; DataLoader only needs a number
        return 2**31


class CachedFaces(Dataset):
    """All faces of a dataset decoded once into memory.

    Reading the shards in row-group order takes a fraction of a millisecond per face, while
    random access re-reads a row group per face; caching turns epochs into pure indexing.
    ``store`` (a path without suffix) keeps the decoded faces on disk as ``<store>.npy`` and
    ``<store>.pt``, so the next start of a run loads them in seconds instead of decoding again
    (50,000 faces at 128 px: 2.5 GB, several minutes of PNG decoding on a busy 2-core machine).
    The store is used only while the dataset's shard files (names, sizes, times) are unchanged.
    """

    def __init__(self, dataset: Dataset, store: str | Path | None = None, resolution: int | None = None):
        fingerprint = _fingerprint(dataset)
        if store is None or not self._load(Path(store), fingerprint, dataset):
            self._decode(dataset, store, fingerprint)
        if resolution is not None and resolution != self.images.shape[-1]:
            self._rescale(resolution)

    def _decode(self, dataset: Dataset, store: str | Path | None, fingerprint: str) -> None:
        # Filled in place: stacking a list of decoded faces would hold every image twice at the
        # peak (5 GB instead of 2.5 GB for 50,000 faces at 128 px).
        first = dataset[0]
        n = len(dataset)
        self.images = torch.empty((n, *first["image"].shape), dtype=first["image"].dtype)
        self.boxes = torch.empty((n, *first["bbox"].shape), dtype=first["bbox"].dtype)
        self.keypoints = torch.empty((n, *first["keypoints"].shape), dtype=first["keypoints"].dtype)
        self.landmarks68 = torch.full((n, 68, 2), float("nan"))
        self.yaw = torch.full((n,), float("nan"))
        self.face_ids = []
        for i in tqdm(range(n), desc="cache faces", unit="face", disable=None):
            item = first if i == 0 else dataset[i]
            self.images[i], self.boxes[i], self.keypoints[i] = item["image"], item["bbox"], item["keypoints"]
            if "landmarks68" in item:
                self.landmarks68[i], self.yaw[i] = item["landmarks68"], item["yaw"]
            self.face_ids.append(item["face_id"])
        if store is not None:
            self._save(Path(store), fingerprint)

    def _load(self, store: Path, fingerprint: str, dataset: Dataset) -> bool:
        meta_path, images_path = store.with_name(store.name + ".pt"), store.with_name(store.name + ".npy")
        if not (meta_path.is_file() and images_path.is_file()):
            return False
        meta = torch.load(meta_path, weights_only=True)
        if meta.get("fingerprint") != fingerprint:
            log.info("%s is for another dataset; decoding the faces again", meta_path)
            return False
        self.images = torch.from_numpy(np.load(images_path))
        self.boxes, self.keypoints, self.face_ids = meta["boxes"], meta["keypoints"], list(meta["face_ids"])
        if "landmarks68" in meta:
            self.landmarks68, self.yaw = meta["landmarks68"], meta["yaw"]
        else:  # a store from before landmarks were kept: read them (no image decoding) and keep them
            landmarks, yaw = dataset.geometry() if hasattr(dataset, "geometry") else (None, None)
            n = len(self.face_ids)
            self.landmarks68 = (
                torch.full((n, 68, 2), float("nan")) if landmarks is None else torch.from_numpy(landmarks)
            )
            self.yaw = torch.full((n,), float("nan")) if yaw is None else torch.from_numpy(yaw)
            self._save_meta(store, fingerprint)
        log.info("loaded %d decoded faces from %s", len(self.face_ids), images_path)
        return True

    def _save(self, store: Path, fingerprint: str) -> None:
        with atomic_path(store.with_name(store.name + ".npy")) as tmp, open(tmp, "wb") as fh:
            np.save(fh, self.images.numpy())
        self._save_meta(store, fingerprint)  # written last: marks the store complete

    def _save_meta(self, store: Path, fingerprint: str) -> None:
        meta = {
            "fingerprint": fingerprint,
            "boxes": self.boxes,
            "keypoints": self.keypoints,
            "landmarks68": self.landmarks68,
            "yaw": self.yaw,
            "face_ids": self.face_ids,
        }
        with atomic_path(store.with_name(store.name + ".pt")) as tmp:
            torch.save(meta, tmp)

    def _rescale(self, resolution: int) -> None:
        """Shrink every face to ``resolution`` (:func:`shrink_faces`, in chunks: float copies of
        50,000 faces would be 10 GB)."""
        source = self.images.shape[-1]
        parts = [shrink_faces(self.images[i : i + 4096], resolution) for i in range(0, len(self.images), 4096)]
        self.images = torch.cat(parts)
        self.boxes, self.keypoints, self.landmarks68 = _scaled(
            self.boxes, self.keypoints, self.landmarks68, source // resolution
        )
        log.info("faces shrunk from %d to %d px", source, resolution)

    def __len__(self) -> int:
        return len(self.face_ids)

    def __getitem__(self, index: int) -> dict:
        return {
            "image": self.images[index],
            "bbox": self.boxes[index],
            "keypoints": self.keypoints[index],
            "landmarks68": self.landmarks68[index],
            "yaw": self.yaw[index],
            "face_id": self.face_ids[index],
        }


def _fingerprint(dataset: Dataset) -> str:
    """What the decoded faces depend on: split, resolution, count and each shard file's name, size and time."""
    files = [(Path(f).name, Path(f).stat().st_size, Path(f).stat().st_mtime_ns) for f in getattr(dataset, "files", [])]
    return json.dumps(
        {
            "root": str(getattr(dataset, "root", "")),
            "split": getattr(dataset, "split", ""),
            "resolution": getattr(dataset, "resolution", 0),
            "count": len(dataset),
            "files": files,
        }
    )


def collate_faces(items: list[dict]) -> dict:
    """Stack dataset items: image uint8 N x 3 x R x R, bbox N x 4, keypoints N x 7 x 3,
    landmarks68 N x 68 x 2 and yaw N (NaN where an item has none), face_id list."""
    return {
        "image": torch.stack([i["image"] for i in items]),
        "bbox": torch.stack([i["bbox"] for i in items]),
        "keypoints": torch.stack([i["keypoints"] for i in items]),
        "landmarks68": torch.stack([i.get("landmarks68", torch.full((68, 2), float("nan"))) for i in items]),
        "yaw": torch.stack([torch.as_tensor(i.get("yaw", float("nan")), dtype=torch.float32) for i in items]),
        "face_id": [i["face_id"] for i in items],
    }


def shrink_faces(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 faces (... x 3 x S x S) shrunk to ``resolution`` by area averaging; S a whole multiple."""
    source = images.shape[-1]
    if source % resolution:
        raise ConfigError(f"cannot shrink {source} px faces to {resolution} px: not a whole factor")
    batch = images.reshape(-1, *images.shape[-3:]).float()
    small = F.avg_pool2d(batch, source // resolution).round().clamp(0, 255).to(torch.uint8)
    return small.reshape(*images.shape[:-2], resolution, resolution)


def _scaled(boxes: torch.Tensor, keypoints: torch.Tensor, landmarks: torch.Tensor | None, factor: int):
    """Face geometry of crops shrunk by ``factor`` (keypoint visibility kept)."""
    keypoints = keypoints.clone()
    keypoints[..., :2] /= factor
    return boxes / factor, keypoints, None if landmarks is None else landmarks / factor


def shrink_item(item: dict, resolution: int) -> dict:
    """A dataset item shrunk to ``resolution`` (area average; boxes, keypoints and landmarks scaled)."""
    source = item["image"].shape[-1]
    if source == resolution:
        return item
    image = shrink_faces(item["image"], resolution)
    boxes, keypoints, landmarks = _scaled(
        item["bbox"], item["keypoints"], item.get("landmarks68"), source // resolution
    )
    out = {**item, "image": image, "bbox": boxes, "keypoints": keypoints}
    if landmarks is not None:
        out["landmarks68"] = landmarks
    return out


def open_faces(path: str, resolution: int, split: str = "train", source_resolution: int = 0) -> FaceShardDataset:
    """The dataset of one split; a clear error when the path is not set. ``source_resolution``
    (0: ``resolution``): read the faces stored at that size and shrink each to ``resolution``."""
    if not path:
        raise ConfigError("data.path is empty: set it in the config to a face-shard dataset or FDF folder")
    source = source_resolution or resolution
    transform = None if source == resolution else functools.partial(shrink_item, resolution=resolution)
    return FaceShardDataset(path, source, split, transform=transform)


def keep_sharp_faces(dataset: Dataset, sides: np.ndarray, min_source_px: int) -> Dataset:
    """The faces of ``dataset`` whose crop covers at least ``min_source_px`` pixels of the source
    photo (``sides``: :meth:`FaceShardDataset.source_sides`, same order); all of it for 0. Faces
    of unknown size are left out; a clear error when none is known or none is left."""
    if min_source_px <= 0:
        return dataset
    if len(sides) != len(dataset):
        raise ConfigError(f"{len(sides)} crop sizes for {len(dataset)} faces")
    known = np.isfinite(sides)
    if not known.any():
        raise ConfigError(
            f"data.min_source_px {min_source_px}: these faces record no crop_photo (an FDF folder or old "
            "shards), so their source size is unknown; set it to 0 or rebuild the shards"
        )
    keep = np.flatnonzero(known & (sides >= min_source_px))
    if len(keep) == 0:
        raise ConfigError(
            f"data.min_source_px {min_source_px} leaves no faces (largest crop {np.nanmax(sides):.0f} px)"
        )
    log.info(
        "min_source_px %d: %d of %d faces kept (%d from smaller crops, %d of unknown size left out)",
        min_source_px,
        len(keep),
        len(sides),
        int((known & (sides < min_source_px)).sum()),
        int((~known).sum()),
    )
    return Subset(dataset, keep.tolist())


def training_batches(
    dataset: Dataset, global_batch: int, seed: int, start_step: int, workers: int, rank: int = 0, world_size: int = 1
) -> Iterator[dict]:
    """Endless iterator of collated batches starting at ``start_step`` (decoded in ``workers`` processes)."""
    sampler = ResumableBatchSampler(len(dataset), global_batch, seed, start_step, rank, world_size)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=workers,
        collate_fn=collate_faces,
        persistent_workers=workers > 0,
        prefetch_factor=4 if workers > 0 else None,
    )
    return iter(loader)
