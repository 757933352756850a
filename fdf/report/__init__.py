"""Reports a curator would rather look at than read: an HTML page plus the same figures as PNG.

* :mod:`.inputs` — find what to report on (a build folder or a face-shard dataset) and load it;
* :mod:`.figures` — matplotlib figures (stages, failures, licences, pose, expression, face size);
* :mod:`.samples` — a grid of sample crops with their keypoints drawn;
* :mod:`.page` — the HTML page and :func:`make_report`.
"""

from .page import ReportResult, make_report

__all__ = ["ReportResult", "make_report"]
