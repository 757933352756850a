"""Face shards: the dataset format (Parquet, one row per face and resolution, under ``data/``)."""

from .reader import (
    DatasetError,
    ShardReadError,
    check_shards,
    completed_photo_ids,
    dataset_counts,
    list_shards,
    orphan_shards,
    read_dataset_info,
    read_faces,
    read_shard,
    read_status,
)
from .schema import FACE_COLUMNS, FACE_SCHEMA, KEYPOINT_NAMES, SCHEMA_VERSION, huggingface_features
from .split import photo_fraction, split_for_photo
from .writer import face_table, write_dataset_json, write_face_shard, write_status

__all__ = [
    "DatasetError",
    "ShardReadError",
    "check_shards",
    "completed_photo_ids",
    "dataset_counts",
    "list_shards",
    "orphan_shards",
    "read_dataset_info",
    "read_faces",
    "read_shard",
    "read_status",
    "FACE_COLUMNS",
    "FACE_SCHEMA",
    "KEYPOINT_NAMES",
    "SCHEMA_VERSION",
    "huggingface_features",
    "photo_fraction",
    "split_for_photo",
    "face_table",
    "write_dataset_json",
    "write_face_shard",
    "write_status",
]
