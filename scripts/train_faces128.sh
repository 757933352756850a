#!/usr/bin/env bash
# The 128 px generator's training campaign on 2 CPU cores, in the background, across sessions:
#   nohup scripts/train_faces128.sh > runs/grown128c.out 2>&1 &     (stop it with: kill PID)
# Runs CONFIG into RUN (below) at low priority. Each call resumes from
# the newest checkpoint (exactly: data order, optimizer and RNG state are checkpointed), so a
# killed or timed-out run loses at most checkpoint_every_seconds of work. MINUTES (default 150)
# bounds one call with --time-limit, which checkpoints and stops cleanly.
# Needs the shards first: scripts/prepare_training_faces.sh. Export the EMA generator with
#   .venv/bin/fdf export-generator runs/grown128b --out runs/grown128b/generator.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
# The campaign now grows the 64 px outline model (manifests/train_grown128.yaml, runs/grown128d):
# at ~9 images/s it starts from a working face, where the 128 px network from scratch
# (train_faces128.yaml: runs/faces128, box holes to step 1,984, then runs/faces128-outline,
# outline holes to step 281) learns at ~5 images/s and still drew blotches. The first call grows
# the networks of INIT (a 64 px training checkpoint, which holds the discriminator too):
#   INIT=runs/outline64/checkpoint-00007485.safetensors scripts/train_faces128.sh
# RUN=runs/faces128-outline CONFIG=manifests/train_faces128.yaml goes on with the scratch run.
# Since session 12 the campaign is runs/grown128b (manifests/train_grown128b.yaml: bilinear features
# into the top level), started from runs/grown128d's step 2,942 with
#   INIT=runs/grown128d/checkpoint-00002942.safetensors RUN=runs/grown128b CONFIG=manifests/train_grown128b.yaml
# Since session 13 it is runs/grown128c (manifests/train_grown128c.yaml: sharp faces only, from
# crops of at least 128 source pixels), started from runs/grown128b's step 3,000 with
#   INIT=runs/grown128b/checkpoint-00003000.safetensors RUN=runs/grown128c CONFIG=manifests/train_grown128c.yaml
RUN=${RUN:-runs/grown128c}
CONFIG=${CONFIG:-manifests/train_grown128c.yaml}
MINUTES=${MINUTES:-150}
FDF=.venv/bin/fdf
compgen -G ".data/faces128-shards/part-*.parquet" >/dev/null || compgen -G ".data/faces128-shards/data/*/*/part-*.parquet" >/dev/null \
  || { echo "no face shards in .data/faces128-shards: run scripts/prepare_training_faces.sh first" >&2; exit 2; }

if ls "$RUN"/checkpoint-*.safetensors >/dev/null 2>&1; then
  exec nice -n 10 "$FDF" train --out "$RUN" --resume --time-limit "$MINUTES"
else
  exec nice -n 10 "$FDF" train "$CONFIG" --out "$RUN" --time-limit "$MINUTES" ${INIT:+--init-from "$INIT"}
fi
