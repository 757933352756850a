#!/usr/bin/env bash
# Train the bundled 64 px generator on the MTFL face shards, resumably, then export its weights.
#   scripts/train_bundled_model.sh [STEPS]      (default: the config's steps)
# Run in the background:  nohup scripts/train_bundled_model.sh 4000 > runs/mtfl64.out 2>&1 &
# Stop it any time (kill the PID); running the same command again resumes from the newest
# checkpoint. Needs the shards first (../shared/data/mtfl through fdf sources/download/annotate
# at 64 px into .data/mtfl-shards).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=manifests/train_mtfl64.yaml
RUN=${RUN:-runs/mtfl64}
STEPS=${1:-}
FDF=.venv/bin/fdf
ls .data/mtfl-shards/part-*.parquet >/dev/null 2>&1 || { echo "no face shards in .data/mtfl-shards: build the MTFL shards first" >&2; exit 2; }
args=("$CONFIG" --out "$RUN")
[ -n "$STEPS" ] && args+=(--steps "$STEPS")
if ls "$RUN"/checkpoint-*.safetensors >/dev/null 2>&1; then args+=(--resume); fi
"$FDF" train "${args[@]}"
"$FDF" export-generator "$RUN" --out "$RUN/generator.safetensors"
echo "exported $RUN/generator.safetensors; evaluate with: $FDF evaluate-generator $RUN --data .data/mtfl-shards"
