"""Render an AuditReport as Markdown, HTML or JSON."""

from __future__ import annotations

import html
import json

from .checks import FLAGS
from .report import AuditReport

FORMATS = ("md", "json", "html")


def md_escape(text) -> str:
    """Text safe inside a Markdown table cell or link label."""
    if text is None:
        return ""
    out = str(text).replace("\\", "\\\\").replace("\n", " ").replace("\r", " ")
    for ch in "|[]*_`<>":
        out = out.replace(ch, "\\" + ch)
    return out


def yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _tables(report: AuditReport) -> list[tuple[str, list[str], list[list]]]:
    """(title, header, rows) of every table in the report, shared by Markdown and HTML."""
    tables = [
        (
            "Licences",
            ["id", "licence", "photos", "faces", "commercial", "adaptations", "ShareAlike"],
            [
                [
                    lic["license_id"],
                    lic["name"],
                    lic["photos"],
                    lic["faces"] if lic["faces"] is not None else "-",
                    yes_no(lic["commercial"]),
                    yes_no(lic["derivatives"]),
                    yes_no(lic["share_alike"]),
                ]
                for lic in report.licenses
            ],
        ),
        (
            "Flags",
            ["flag", "photos", "meaning"],
            [[k, report.flag_counts.get(k, 0), v] for k, v in FLAGS.items()],
        ),
    ]
    if report.flagged:
        # A generator: a report may flag a million photos, rendered line by line.
        tables.append(
            (
                "Flagged photos",
                ["photo", "owner", "licence", "flags", "missing attribution"],
                (
                    [f["photo_id"], f["owner_nsid"], f["license_id"], ", ".join(f["flags"]), ", ".join(f["missing"])]
                    for f in report.flagged
                ),
            )
        )
    rev = report.revalidation
    if rev is not None:
        tables.append(
            (
                "Revalidation findings per photo",
                ["photo", "owner", "finding", "licence now", "remove", "detail"],
                [
                    [
                        f.photo_id,
                        f.owner_nsid,
                        f.reason,
                        f"{f.new_license_id} ({f.new_license_name})" if f.new_license_id is not None else "",
                        yes_no(f.revoked),
                        f.detail,
                    ]
                    for f in rev.findings
                ],
            )
        )
        tables.append(
            (
                "Revalidation findings per owner",
                ["owner", "photos", "findings"],
                [
                    [
                        owner,
                        len({f.photo_id for f in found}),
                        ", ".join(sorted({f"{f.photo_id}: {f.reason}" for f in found})),
                    ]
                    for owner, found in rev.by_owner().items()
                ],
            )
        )
    return tables


def _summary_lines(report: AuditReport) -> list[str]:
    lines = [
        f"{report.kind} {report.path}: {report.photos} photos"
        + (f", {report.faces} faces" if report.faces is not None else "")
    ]
    if not report.tags_known:
        lines.append("tags are not recorded for these rows: the no_cv flag could not be checked statically")
    if report.removed:
        lines.append(
            f"removal log: {report.removed.get('photos', 0)} photo ids and "
            f"{report.removed.get('owners', 0)} owners removed so far"
        )
    rev = report.revalidation
    if rev is None:
        lines.append("not revalidated against Flickr (use --revalidate)")
    else:
        counts = ", ".join(f"{k} {v}" for k, v in rev.counts().items())
        skipped = f" ({rev.photos_skipped} not on Flickr, not checked)" if rev.photos_skipped else ""
        lines.append(
            f"revalidated {rev.photos_checked} photos{skipped} at {rev.checked_at} via {rev.api_url}: {counts}"
        )
    return lines


def to_markdown(report: AuditReport) -> str:
    out = ["# Licence audit", "", *[f"- {md_escape(line)}" for line in _summary_lines(report)], ""]
    for title, header, rows in _tables(report):
        out += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
        out.append("")
    return "\n".join(out)


def to_html(report: AuditReport) -> str:
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Licence audit</title>',
        "<style>table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}</style>",
        "</head><body>",
        "<h1>Licence audit</h1>",
        "<ul>",
    ]
    out += [f"<li>{e(line)}</li>" for line in _summary_lines(report)]
    out.append("</ul>")
    for title, header, rows in _tables(report):
        out += [f"<h2>{e(title)}</h2>", "<table>", "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
        out += ["<tr>" + "".join(f"<td>{e('' if c is None else str(c))}</td>" for c in row) + "</tr>" for row in rows]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def to_json(report: AuditReport) -> str:
    """``report.to_dict()`` as indented JSON, the flagged photos encoded one at a time."""
    report_dict = report.to_dict() if not report.flagged else None
    if report_dict is not None:
        return json.dumps(report_dict, indent=2, default=str) + "\n"
    flagged, report.flagged = report.flagged, type(report.flagged)(report.flagged.table.slice(0, 0))
    try:
        head = json.dumps(report.to_dict(), indent=2, default=str)
    finally:
        report.flagged = flagged
    marker = '"flagged_photos": []'
    before, after = head.split(marker, 1)
    items = ",\n".join(_indent(json.dumps(f, indent=2, default=str), 4) for f in flagged)
    return f'{before}"flagged_photos": [\n{items}\n  ]{after}\n'


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())


def render(report: AuditReport, fmt: str) -> str:
    """The report in ``fmt`` ('md', 'json' or 'html')."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return {"md": to_markdown, "json": to_json, "html": to_html}[fmt](report)
