#!/usr/bin/env bash
# Create .venv and install the project with its test extras. Idempotent and quick when nothing
# changed. Installs the CPU build of torch (torch==2.13.0) first, so pip never pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# pip's exit status is kept; only the machine's noisy index warnings are filtered out.
pip_install() { .venv/bin/python -m pip install --quiet "$@" 2> >(grep -v "^WARNING: Location" >&2); }
stamp=.venv/.fdf-installed
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  pip_install --upgrade pip || true
  pip_install "torch==2.13.0"
  pip_install -e ".[test]"
  echo "$want" > "$stamp"
fi
