#!/usr/bin/env bash
# Build the bundled generator's training data: ../shared/data/mtfl (12,995 80x80 face crops,
# research use) through the project's own pipeline -- folder source -> download (local files,
# validated) -> annotate at 64 px -- into .data/mtfl-shards. Resumable: run it again after an
# interruption. About 30-40 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-../shared/data/mtfl}
FDF=.venv/bin/fdf
mkdir -p .data
[ -f .data/mtfl-manifest.parquet ] || "$FDF" -q manifest folder "$SRC" --out .data/mtfl-manifest.parquet
"$FDF" -q download .data/mtfl-manifest.parquet --out .data/mtfl-download --jobs 2 --no-progress
"$FDF" -q annotate .data/mtfl-download --out .data/mtfl-shards --resolutions 64 --jobs 2 --photos-per-shard 256
