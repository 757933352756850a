#!/usr/bin/env bash
# Set up (if needed) and run the main job on bundled data: a loopback Flickr-compatible server
# serving bundled CC BY 4.0 / public-domain photos, then search and download against it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/fdf demo --out "${1:-out/demo}"
