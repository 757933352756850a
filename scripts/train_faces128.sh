#!/usr/bin/env bash
# The 128 px generator's training campaign on 2 CPU cores, in the background, across sessions:
#   nohup scripts/train_faces128.sh > runs/faces128.out 2>&1 &     (stop it with: kill PID)
# Runs manifests/train_faces128.yaml into runs/faces128 at low priority. Each call resumes from
# the newest checkpoint (exactly: data order, optimizer and RNG state are checkpointed), so a
# killed or timed-out run loses at most checkpoint_every_seconds of work. MINUTES (default 150)
# bounds one call with --time-limit, which checkpoints and stops cleanly.
# Needs the shards first: scripts/prepare_training_faces.sh. Export the EMA generator with
#   .venv/bin/fdf export-generator runs/faces128 --out runs/faces128/generator.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
# runs/faces128 trained box holes to step 1,984; the outline-hole config goes on from its weights:
#   INIT=runs/faces128/checkpoint-00001984.safetensors scripts/train_faces128.sh   (first call only)
RUN=${RUN:-runs/faces128-outline}
CONFIG=${CONFIG:-manifests/train_faces128.yaml}
MINUTES=${MINUTES:-150}
FDF=.venv/bin/fdf
compgen -G ".data/faces128-shards/part-*.parquet" >/dev/null || compgen -G ".data/faces128-shards/data/*/*/part-*.parquet" >/dev/null \
  || { echo "no face shards in .data/faces128-shards: run scripts/prepare_training_faces.sh first" >&2; exit 2; }

if ls "$RUN"/checkpoint-*.safetensors >/dev/null 2>&1; then
  exec nice -n 10 "$FDF" train --out "$RUN" --resume --time-limit "$MINUTES"
else
  exec nice -n 10 "$FDF" train "$CONFIG" --out "$RUN" --time-limit "$MINUTES" ${INIT:+--init-from "$INIT"}
fi
