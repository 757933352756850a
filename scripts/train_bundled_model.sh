#!/usr/bin/env bash
# Train the bundled 64 px generator on the MTFL face shards, resumably, then export its weights.
#   scripts/train_bundled_model.sh [STEPS]      (default: the config's steps)
# Run in the background:  nohup scripts/train_bundled_model.sh > runs/mtfl64.out 2>&1 &
# Two phases, as the bundled model was made (MODEL_CARD.md):
#   1. manifests/train_mtfl64.yaml into runs/mtfl64 (STEPS overrides its steps);
#   2. manifests/train_mtfl64_identity.yaml (the identity loss in dlib's space, 750 steps) into
#      runs/mtfl64-identity, from phase 1's EMA weights.
# Stop it any time (kill the PID); running the same command again resumes from the newest
# checkpoint of the phase it was in. Needs the shards first: scripts/prepare_mtfl_shards.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/mtfl64}
STEPS=${1:-}
FDF=.venv/bin/fdf
compgen -G ".data/mtfl-shards/part-*.parquet" >/dev/null || compgen -G ".data/mtfl-shards/data/*/*/part-*.parquet" >/dev/null \
  || { echo "no face shards in .data/mtfl-shards: run scripts/prepare_mtfl_shards.sh first" >&2; exit 2; }
resume_or() {  # resume a run folder that has checkpoints, else start it with the given arguments
  local run=$1; shift
  if ls "$run"/checkpoint-*.safetensors >/dev/null 2>&1; then "$FDF" train --out "$run" --resume; else "$FDF" train "$@" --out "$run"; fi
}
args=(manifests/train_mtfl64.yaml)
[ -n "$STEPS" ] && args+=(--steps "$STEPS")
resume_or "$RUN" "${args[@]}"
"$FDF" export-generator "$RUN" --out "$RUN/generator.safetensors"
resume_or "$RUN-identity" manifests/train_mtfl64_identity.yaml --init-from "$RUN/generator.safetensors"
"$FDF" export-generator "$RUN-identity" --out "$RUN-identity/generator.safetensors"
echo "exported $RUN-identity/generator.safetensors; evaluate with: $FDF evaluate-generator $RUN-identity --data .data/mtfl-shards --limit 1000 --seeds 3 --attacker-views"
