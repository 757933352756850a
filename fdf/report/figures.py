"""Report figures, each a function that takes plain data and returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # files only, never a window (works on headless machines and in workers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

BEFORE, AFTER = "#9bb7d4", "#1f5c99"


def bar_chart(counts: dict, title: str, xlabel: str = "count", color: str = AFTER):
    """Horizontal bars of ``counts`` (label -> number), largest on top."""
    items = sorted(counts.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * max(len(items), 2) + 1.0))
    if items:
        labels, values = zip(*items)
        ax.barh([str(x) for x in labels], values, color=color)
        for y, v in enumerate(values):
            ax.text(v, y, f" {v:g}", va="center", fontsize=8)
    else:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    fig.tight_layout()
    return fig


def failures_chart(stages: list[dict], extra: dict | None = None):
    """Failures and drops by reason, one bar per (stage, reason)."""
    counts = {f"{s['name']}: {reason}": n for s in stages for reason, n in s.get("failures", {}).items()}
    for status, n in (extra or {}).items():  # download statuses the build summary did not list
        if status != "ok":
            counts.setdefault(f"download: {status}", n)
    return bar_chart(counts, "Failures and drops by reason", color="#c0504d")


def before_after_chart(histograms: dict, title: str):
    """Side-by-side bars per bin: before selection (light) and after (dark)."""
    bins = list(histograms.get("before", {}))
    before = [histograms["before"].get(b, 0) for b in bins]
    after = [histograms.get("after", {}).get(b, 0) for b in bins]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    x = np.arange(len(bins))
    ax.bar(x - 0.2, before, width=0.4, label="before selection", color=BEFORE)
    ax.bar(x + 0.2, after, width=0.4, label="selected", color=AFTER)
    ax.set_xticks(x, bins, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("faces")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def distribution_chart(values: dict[str, pd.Series], title: str, xlabel: str, bins: int = 20):
    """Overlaid histograms of one measure for several groups (e.g. all faces vs selected)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    finite = [v.dropna().to_numpy(dtype=float) for v in values.values()]
    edges = np.histogram_bin_edges(np.concatenate(finite) if any(len(f) for f in finite) else [0, 1], bins=bins)
    for (label, _), data, color in zip(values.items(), finite, (BEFORE, AFTER)):
        ax.hist(data, bins=edges, label=f"{label} ({len(data)})", color=color, alpha=0.85)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("faces")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def save(fig, path) -> None:
    """Write ``fig`` as PNG and free it (figures hold memory until closed)."""
    fig.savefig(path, dpi=100, format="png")
    plt.close(fig)
