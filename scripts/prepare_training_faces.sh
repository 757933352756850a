#!/usr/bin/env bash
# Build the 128 px generator's training data through the project's own pipeline:
#   scripts/prepare_training_faces.sh SRC...      (default: UTKFace, All-Age-Faces, MTFL)
# Each SRC is a fetched repository (bare git directory) or a folder; known collections get their
# licence sidecar from manifests/training_face_sources.yaml (research use only; they include
# minors), any other folder must carry a LICENSE.json. Steps: stage -> fdf manifest folder ->
# fdf download (local files, validated, hashed) -> fdf annotate at 128 px without identity
# descriptors -> face shards in $OUT (default .data/faces128-shards), one row per face with its
# licence, owner (the collection and its terms) and source URL. Resumable: every step skips
# what is done, so run it again after an interruption. Never commit .data/.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-.data/faces128}
OUT=${OUT:-.data/faces128-shards}
JOBS=${JOBS:-2}
FDF=.venv/bin/fdf
PY=.venv/bin/python
if [ $# -eq 0 ]; then
  set -- /work/.mirror/xerow03+UTKFace/repo /work/.mirror/middleyuan+All-Age-Faces-Dataset/repo ../shared/data/mtfl
fi
mkdir -p "$WORK/sources"
for src in "$@"; do
  nice "$PY" scripts/stage_face_source.py "$src" --out "$WORK/sources"
done
# One manifest over all staged collections: each folder's LICENSE.json applies to its images.
if [ ! -f "$WORK/manifest.parquet" ]; then
  "$FDF" -q manifest folder "$WORK/sources" --out "$WORK/manifest.parquet.tmp.parquet"
  mv "$WORK/manifest.parquet.tmp.parquet" "$WORK/manifest.parquet"
fi
nice "$FDF" -q download "$WORK/manifest.parquet" --out "$WORK/download" --jobs "$JOBS" --no-progress
nice "$FDF" annotate "$WORK/download" --out "$OUT" --resolutions 128 --no-embeddings --jobs "$JOBS" \
  --photos-per-shard 512 --json
