"""The loopback Flickr-compatible server the build, download and Dask benchmarks run against:
`fdf serve-flickr --synthetic N` in its own process (imported by those scripts, which run with
benchmarks/ on sys.path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

KEY, SECRET = "benchkey", "benchsecret"


def start_server(n: int, workdir: Path) -> tuple[subprocess.Popen, str]:
    """A server of ``n`` synthetic photos (seed 1, none opted out of computer vision) started in
    ``workdir``; returns the process and its REST URL. Stop it with ``terminate``."""
    cmd = [sys.executable, "-m", "fdf", "-q", "serve-flickr", "--synthetic", str(n), "--seed", "1"]
    cmd += ["--no-cv-fraction", "0", "--api-key", f"{KEY}:{SECRET}", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=workdir)
    return proc, json.loads(proc.stdout.readline())["rest_url"]
