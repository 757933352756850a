"""The report page: every figure as a PNG, and one HTML file that shows them with the numbers."""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from PIL import Image

from ..atomic import atomic_path, atomic_write_text
from ..select.balance import BalanceConfig, bin_labels, histogram
from . import figures
from .inputs import ReportInputs, load_inputs
from .samples import sample_grid

log = logging.getLogger(__name__)


@dataclass
class ReportResult:
    """Where the report went and which figures it holds (file names under ``out_dir``)."""

    out_dir: str
    index_html: str
    figures: list[str] = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def _stage_counts(build: dict, download_counts: dict) -> dict:
    stages = {s["name"]: s for s in build.get("stages", [])}
    counts = {}
    if "source" in stages:
        counts["photos found"] = stages["source"]["counts"].get("photos", 0)
    if download_counts or "download" in stages:
        from_summary = stages.get("download", {}).get("counts", {}).get("ok", 0)
        counts["photos downloaded"] = download_counts.get("ok", from_summary)
    if "annotate" in stages:
        counts["photos with faces"] = stages["annotate"]["counts"].get("photos_with_faces", 0)
        counts["faces detected"] = stages["annotate"]["counts"].get("faces", 0)
    if "select" in stages:
        counts["faces selected"] = stages["select"]["counts"].get("faces_kept", 0)
    return counts


def _pose_histograms(inputs: ReportInputs) -> dict:
    if inputs.select_info.get("histograms"):
        return inputs.select_info["histograms"]
    # A dataset without a selection record: one histogram, shown as "after" only.
    cfg, out = BalanceConfig(), {}
    for name, col, edges in (
        ("yaw", "yaw", cfg.yaw_edges),
        ("pitch", "pitch", cfg.pitch_edges),
        ("expression", cfg.expression_column, cfg.expression_edges),
    ):
        h = histogram(pd.Series(bin_labels(inputs.faces[col].to_numpy(float), edges)), edges)
        out[name] = {"before": {k: 0 for k in h}, "after": h}
    return out


def _figures(inputs: ReportInputs, out: Path) -> dict[str, str]:
    """Write each figure; return {file name: caption}."""
    made: dict[str, str] = {}

    def emit(name: str, fig, caption: str) -> None:
        with atomic_path(out / name) as tmp:
            figures.save(fig, tmp)
        made[name] = caption

    stage_counts = _stage_counts(inputs.build, inputs.download_counts)
    if stage_counts:
        emit("stages.png", figures.bar_chart(stage_counts, "Counts per stage"), "Counts per stage")
    if inputs.build.get("stages") or inputs.download_counts:
        emit(
            "failures.png",
            figures.failures_chart(inputs.build.get("stages", []), inputs.download_counts),
            "Failures (download, annotate) and drops (select) by reason",
        )
    licences = inputs.faces["license_name"].fillna("unknown").value_counts().to_dict()
    emit("licenses.png", figures.bar_chart(licences, "Licence mix of the faces"), "Licence mix")
    for name, hist in _pose_histograms(inputs).items():
        emit(
            f"{name}.png",
            figures.before_after_chart(hist, f"{name.capitalize()} histogram"),
            f"{name.capitalize()} bins before and after selection",
        )
    sizes = {"selected": inputs.faces["face_size"]}
    if inputs.all_faces is not None and len(inputs.all_faces):
        sizes = {"all detected": inputs.all_faces["face_size"], **sizes}
    emit(
        "face_size.png",
        figures.distribution_chart(sizes, "Face size", "face size (photo pixels)"),
        "Face-size distribution",
    )
    grid = sample_grid(inputs.faces_dir)
    if grid is not None:
        with atomic_path(out / "samples.png") as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
        made["samples.png"] = "Sample crops with keypoints (nose red, eyes green/blue, ears, shoulders)"
    return made


def _table(counts: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in counts.items())
    return f"<table>{rows}</table>"


def _html(inputs: ReportInputs, made: dict[str, str], counts: dict) -> str:
    stages = inputs.build.get("stages", [])
    stage_rows = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{s.get('seconds', 0):.1f} s</td>"
        f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in s.get('counts', {}).items()))}</td>"
        f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in s.get('failures', {}).items()) or 'none')}</td></tr>"
        for s in stages
    )
    stage_table = (
        (
            f"<h2>Stages</h2><table><tr><th>stage</th><th>time</th><th>counts</th>"
            f"<th>failures / drops</th></tr>{stage_rows}</table>"
        )
        if stages
        else ""
    )
    figs = "".join(
        f'<figure><img src="{html.escape(n)}" alt="{html.escape(c)}"><figcaption>{html.escape(c)}</figcaption></figure>'
        for n, c in made.items()
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}figure{display:inline-block;"
        "margin:8px;vertical-align:top}img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(inputs.title)}</title>"
        f"<style>{style}</style></head><body><h1>{html.escape(inputs.title)}</h1>"
        f"<h2>Counts</h2>{_table(counts)}{stage_table}<h2>Figures</h2>{figs}</body></html>\n"
    )


def make_report(path: str | Path, out_dir: str | Path, build_summary: dict | None = None) -> ReportResult:
    """Write ``out_dir/index.html`` and its PNG figures for a build folder or a face dataset."""
    inputs = load_inputs(path, build_summary)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = _figures(inputs, out)
    counts = {
        "faces": len(inputs.faces),
        "photos": int(inputs.faces["photo_id"].nunique()),
        "owners": int(inputs.faces["owner_nsid"].nunique()),
        **_stage_counts(inputs.build, inputs.download_counts),
    }
    if inputs.decisions is not None:
        reasons = inputs.decisions["reason"].dropna().value_counts().to_dict()
        counts.update({f"dropped: {k}": int(v) for k, v in sorted(reasons.items())})
    index = out / "index.html"
    atomic_write_text(index, _html(inputs, made, counts))
    record = {"counts": counts, "figures": list(made)}
    atomic_write_text(out / "report.json", json.dumps(record, indent=2, default=str) + "\n")
    log.info("report: %s (%d figures)", index, len(made))
    return ReportResult(str(out), str(index), list(made), counts)
