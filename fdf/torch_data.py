"""PyTorch Dataset over face shards (or an FDF folder), reading row groups lazily.

The index holds three integers per row (file, row group, row): building it reads only the
small ``split`` and ``resolution`` columns, and images are read one row group at a time
when asked for. Each DataLoader worker opens its own file handles.
"""

from __future__ import annotations

import io
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import Dataset

from .errors import FdfError
from .fdf_layout import FDF_SPLIT_DIRS, fdf_split_roots, load_fdf_arrays
from .shards import list_shards
from .shards.schema import SPLITS

_ROW_COLUMNS = ["face_id", "image", "keypoints", "bbox"]
#: Read when a shard has them (older shards may not): an outline hole follows them.
_GEOMETRY_COLUMNS = ["landmarks68", "yaw"]
#: No landmarks: 68 x 2 NaN (callers outline such a face by its box).
NO_LANDMARKS = np.full((68, 2), np.nan, np.float32)


def decode_png(data: bytes) -> torch.Tensor:
    """Decode image bytes to a uint8 tensor C x H x W (RGB)."""
    array = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


class FaceShardDataset(Dataset):
    """Faces of one split at one resolution, from a shard dataset or an FDF folder.

    Items are dicts: ``image`` (uint8 C x H x W), ``keypoints`` (float32 7 x 3: x, y, visible
    in crop pixels), ``bbox`` (float32 4, crop pixels), ``landmarks68`` (float32 68 x 2, crop
    pixels; NaN where the shard has none, and always for an FDF folder), ``yaw`` (float32
    degrees, NaN when unknown) and ``face_id``; ``transform`` (if given) is applied to the dict.
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike,
        resolution: int,
        split: str = "train",
        transform: Callable[[dict], dict] | None = None,
        cache_row_groups: int = 2,
    ):
        if split not in SPLITS:
            raise FdfError(f"split must be one of {SPLITS}, got {split!r}")
        self.root = Path(dataset_dir)
        self.resolution = int(resolution)
        self.split = split
        self.transform = transform
        self._cache_size = max(1, cache_row_groups)
        self._cache: OrderedDict = OrderedDict()
        self._handles: dict[int, pq.ParquetFile] = {}
        self._pid = os.getpid()
        if files := list_shards(self.root):
            self._fdf = None
            # Under data/<res>/<split>/ a file's place says which rows it holds; old-layout shards
            # (at the top) hold every resolution and split, and are filtered row by row.
            self.files = [
                f
                for f in files
                if f.parent.parent.parent != self.root / "data"
                or (f.parent.name == split and f.parent.parent.name == str(self.resolution))
            ]
            self.index = self._build_shard_index()
        else:
            self.files = []
            self._fdf = self._open_fdf()
            self.index = np.arange(len(self._fdf[1]))
        if len(self.index) == 0:
            raise FdfError(f"{self.root} has no {split} faces at resolution {self.resolution}")

    def _build_shard_index(self) -> np.ndarray:
        entries = []
        for file_idx, path in enumerate(self.files):
            meta = pq.ParquetFile(path)
            for group in range(meta.num_row_groups):
                cols = meta.read_row_group(group, columns=["split", "resolution"], use_threads=False)
                keep = np.flatnonzero(
                    (cols.column("split").to_numpy(zero_copy_only=False) == self.split)
                    & (cols.column("resolution").to_numpy() == self.resolution)
                )
                entries += [(file_idx, group, int(row)) for row in keep]
        return np.array(entries, dtype=np.int64).reshape(-1, 3)

    def _open_fdf(self):
        roots = dict((s or self.split, r) for r, s in fdf_split_roots(self.root))
        if self.split not in roots:
            raise FdfError(f"{self.root} has no {FDF_SPLIT_DIRS[self.split]}/ folder")
        root = roots[self.split]
        if not (root / "images" / str(self.resolution)).is_dir():
            raise FdfError(f"{root} has no images at resolution {self.resolution}")
        landmarks, boxes = load_fdf_arrays(root, self.resolution)
        return root, landmarks, boxes

    def __len__(self) -> int:
        return len(self.index)

    def _handle(self, file_idx: int) -> pq.ParquetFile:
        if os.getpid() != self._pid:  # forked into a worker: never share file handles
            self._handles, self._cache, self._pid = {}, OrderedDict(), os.getpid()
        if file_idx not in self._handles:
            self._handles[file_idx] = pq.ParquetFile(self.files[file_idx])
        return self._handles[file_idx]

    def _row_group(self, file_idx: int, group: int) -> dict:
        key = (file_idx, group)
        if key not in self._cache:
            # A row group is a few hundred faces: Arrow's thread pool would only add threads beside
            # the DataLoader's workers, which are the parallelism here.
            handle = self._handle(file_idx)
            columns = _ROW_COLUMNS + [c for c in _GEOMETRY_COLUMNS if c in handle.schema_arrow.names]
            table = handle.read_row_group(group, columns=columns, use_threads=False)
            self._cache[key] = table.to_pydict()
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return self._cache[key]

    def _shard_item(self, index: int) -> dict:
        file_idx, group, row = (int(v) for v in self.index[index])
        cols = self._row_group(file_idx, group)
        return {
            "image": decode_png(cols["image"][row]["bytes"]),
            "keypoints": torch.tensor(cols["keypoints"][row], dtype=torch.float32).reshape(-1, 3),
            "bbox": torch.tensor(cols["bbox"][row], dtype=torch.float32),
            "landmarks68": torch.from_numpy(_landmarks(cols["landmarks68"][row] if "landmarks68" in cols else None)),
            "yaw": torch.tensor(_finite_or_nan(cols["yaw"][row] if "yaw" in cols else None)),
            "face_id": cols["face_id"][row],
        }

    def geometry(self) -> tuple[np.ndarray, np.ndarray]:
        """(landmarks68 N x 68 x 2, yaw N) of every face in index order, read without decoding
        any image (NaN where unknown)."""
        n = len(self)
        landmarks = np.repeat(NO_LANDMARKS[None], n, axis=0)
        yaw = np.full(n, np.nan, np.float32)
        if self._fdf:
            return landmarks, yaw
        for (file_idx, group), rows in _group_rows(self.index):
            handle = self._handle(file_idx)
            columns = [c for c in _GEOMETRY_COLUMNS if c in handle.schema_arrow.names]
            if not columns:
                continue
            cols = handle.read_row_group(int(group), columns=columns, use_threads=False).to_pydict()
            for position, row in rows:
                if "landmarks68" in cols:
                    landmarks[position] = _landmarks(cols["landmarks68"][row])
                if "yaw" in cols:
                    yaw[position] = _finite_or_nan(cols["yaw"][row])
        return landmarks, yaw

    def source_sides(self) -> np.ndarray:
        """Side in pixels of the source photo of each face's square crop (``crop_photo``), float32
        in index order, read without decoding any image: how much of the photo a stored face
        holds (a 128 px face cut from an 85 px crop is an upscaled, blurred one). NaN where a row
        has no crop, and for every face of an FDF folder."""
        sides = np.full(len(self), np.nan, np.float32)
        if self._fdf:
            return sides
        for (file_idx, group), rows in _group_rows(self.index):
            handle = self._handle(file_idx)
            if "crop_photo" not in handle.schema_arrow.names:
                continue
            crops = handle.read_row_group(int(group), columns=["crop_photo"], use_threads=False).column(0).to_pylist()
            for position, row in rows:
                sides[position] = crop_side(crops[row])
        return sides

    def _fdf_item(self, index: int) -> dict:
        root, landmarks, boxes = self._fdf
        frac = landmarks[index]
        visible = np.all((frac >= 0) & (frac <= 1), axis=1, keepdims=True).astype(np.float32)
        return {
            "image": decode_png((root / "images" / str(self.resolution) / f"{index}.png").read_bytes()),
            "keypoints": torch.from_numpy(np.concatenate([frac * self.resolution, visible], axis=1)),
            "bbox": torch.from_numpy(boxes[index].copy()),
            "landmarks68": torch.from_numpy(NO_LANDMARKS.copy()),
            "yaw": torch.tensor(float("nan")),
            "face_id": f"{root.name}_{index}",
        }

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        item = self._fdf_item(int(self.index[index])) if self._fdf else self._shard_item(index)
        return self.transform(item) if self.transform else item


def crop_side(crop) -> float:
    """Side in photo pixels of a ``crop_photo`` cell [x0, y0, x1, y1] (the shorter one); NaN when missing."""
    if crop is None or len(crop) != 4:
        return float("nan")
    return float(min(crop[2] - crop[0], crop[3] - crop[1]))


def _landmarks(value) -> np.ndarray:
    """A shard's landmarks68 cell as float32 68 x 2 (NaN when missing or malformed)."""
    if value is None:
        return NO_LANDMARKS.copy()
    points = np.asarray(value, dtype=np.float32)
    return points.reshape(68, 2) if points.size == 136 else NO_LANDMARKS.copy()


def _finite_or_nan(value) -> float:
    return float(value) if value is not None and np.isfinite(value) else float("nan")


def _group_rows(index: np.ndarray):
    """((file, row group), [(position in index, row), ...]) for each row group the index uses."""
    groups: dict = {}
    for position, (file_idx, group, row) in enumerate(index.tolist()):
        groups.setdefault((file_idx, group), []).append((position, row))
    return groups.items()
