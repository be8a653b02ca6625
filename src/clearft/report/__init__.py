"""The HTML report: load scored files or a run directory, build a JSON payload, fill one
self-contained template (no network needed to open it), and print a short summary."""

from __future__ import annotations

from clearft.report.build import ReportResult, build_report, summary_lines
from clearft.report.load import ReportInput, load_report_input

__all__ = ["ReportInput", "ReportResult", "build_report", "load_report_input", "summary_lines"]
