"""The face-shard schema: one Parquet row per (face, resolution).

A dataset folder holds its face rows under ``data/<resolution>/<split>/part-*.parquet`` and its
bookkeeping beside ``data/`` (``_dataset.json``, ``_status/``, ...; see :mod:`fdf.shards.writer`),
so ``pyarrow.dataset.dataset(DIR / "data", format="parquet")``, DuckDB and ``datasets`` yield face
rows only. Coordinates come in two frames:

* ``*_photo`` columns (``bbox_photo``, ``crop_photo``) are in pixels of the downloaded photo;
* ``bbox``, ``keypoints`` and ``landmarks68`` are in pixels of this row's crop, whose side is
  ``resolution``.

Keypoints are 7 x [x, y, visible] in COCO order: nose, left eye, right eye, left ear, right ear,
left shoulder, right shoulder (the 7 points FDF ships).
"""

from __future__ import annotations

import json

import pyarrow as pa

SCHEMA_VERSION = 1
KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder")
SPLITS = ("train", "validation")

# Hugging Face `datasets` decodes a struct<bytes, path> column as an image when the schema
# metadata says so; the field type must equal datasets.Image().pa_type exactly.
IMAGE_TYPE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])

_f32 = pa.float32()
_FIELDS = [
    ("face_id", pa.string()),
    ("photo_id", pa.string()),
    ("face_index", pa.int16()),
    ("split", pa.string()),
    ("resolution", pa.int16()),
    ("image", IMAGE_TYPE),
    ("bbox", pa.list_(_f32)),
    ("keypoints", pa.list_(pa.list_(_f32))),
    ("landmarks68", pa.list_(pa.list_(_f32))),
    ("bbox_photo", pa.list_(_f32)),
    ("crop_photo", pa.list_(_f32)),
    ("detector", pa.string()),
    ("score", _f32),
    ("yaw", _f32),
    ("pitch", _f32),
    ("roll", _f32),
    ("mouth_open", _f32),
    ("eye_open", _f32),
    ("smile", _f32),
    ("face_size", _f32),
    ("sharpness", _f32),
    ("exposure", _f32),
    ("landmark_fit", _f32),
    ("embedding", pa.list_(_f32)),
    ("dhash", pa.uint64()),  # 64-bit difference hash of this row's crop (fdf.shards.phash); null in older shards
    ("photo_width", pa.int32()),
    ("photo_height", pa.int32()),
    ("source", pa.string()),
    ("license_id", pa.int16()),
    ("license_name", pa.string()),
    ("license_url", pa.string()),
    ("owner_nsid", pa.string()),
    ("owner_name", pa.string()),
    ("title", pa.string()),
    ("photo_url", pa.string()),
    ("date_taken", pa.timestamp("s")),
    ("date_uploaded", pa.timestamp("s", tz="UTC")),
]
FACE_COLUMNS = tuple(name for name, _ in _FIELDS)
# Columns added after schema version 1 shards were written: absent there, null when rewritten.
OPTIONAL_COLUMNS = ("dhash",)
SCALAR_SCORE_COLUMNS = (
    "yaw",
    "pitch",
    "roll",
    "mouth_open",
    "eye_open",
    "smile",
    "face_size",
    "sharpness",
    "exposure",
    "landmark_fit",
)

_HF_DTYPES = {
    pa.string(): "string",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.uint64(): "uint64",
    pa.float32(): "float32",
}


def huggingface_features() -> dict:
    """The ``datasets`` features dict for the image column and the plain scalar columns.

    Nested columns are left out on purpose: ``datasets`` infers them from the Arrow type,
    and their JSON spelling changed between ``datasets`` versions.
    """
    features: dict[str, dict] = {}
    for name, typ in _FIELDS:
        if typ == IMAGE_TYPE:
            features[name] = {"_type": "Image"}
        elif typ in _HF_DTYPES:
            features[name] = {"dtype": _HF_DTYPES[typ], "_type": "Value"}
    return features


def face_schema() -> pa.Schema:
    """Arrow schema of a face shard, with the Hugging Face features in its metadata."""
    fields = [pa.field(name, typ) for name, typ in _FIELDS]
    meta = {
        b"huggingface": json.dumps({"info": {"features": huggingface_features()}}).encode(),
        b"fdf": json.dumps({"schema_version": SCHEMA_VERSION}).encode(),
    }
    return pa.schema(fields, metadata=meta)


FACE_SCHEMA = face_schema()

STATUS_SCHEMA = pa.schema(
    [
        pa.field("photo_id", pa.string()),
        pa.field("status", pa.string()),  # ok | no_faces | error
        pa.field("error", pa.string()),
        pa.field("faces", pa.int32()),
        pa.field("shard", pa.string()),
    ]
)
