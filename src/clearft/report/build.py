"""load -> payload -> one HTML file, and the short summary the command line prints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clearft.data.options import DataOptions
from clearft.data.writers import write_text_atomic
from clearft.report.load import is_run_directory, load_report_input
from clearft.report.payload import build_payload
from clearft.report.render import render_html


@dataclass
class ReportResult:
    path: Path  # the HTML file written
    payload: dict[str, Any]  # everything the page shows (rows included)
    bytes_written: int


def default_output(first_input: str | Path) -> Path:
    """report.html inside a run directory, else `<stem>.report.html` beside the scored file."""
    p = Path(first_input)
    return p / "report.html" if is_run_directory(p) else p.with_name(p.stem + ".report.html")


def build_report(inputs: list[str | Path], output: str | Path | None = None, *,
                 threshold: float | None = None, page_size: int = 50, title: str | None = None,
                 data_options: DataOptions | None = None) -> ReportResult:
    """Write one self-contained HTML report of a run directory or of scored file(s)."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    report_input = load_report_input(list(inputs), data_options)
    payload = build_payload(report_input, threshold=threshold, page_size=page_size, title=title)
    path = Path(output) if output is not None else default_output(inputs[0])
    size = write_text_atomic(path, render_html(payload))
    return ReportResult(path=path, payload=payload, bytes_written=size)


def _f(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def summary_lines(payload: dict[str, Any]) -> list[str]:
    """A short plain-text table for the terminal: counts, threshold, agreement, accuracy."""
    c = payload["counts"]
    chart = payload["chart"]
    lines = [
        f"{'rows':<24}{c['rows']}",
        f"{'scored':<24}{c['scored']}",
        f"{'failed to score':<24}{c['errors']}",
        f"{'unparsed outputs':<24}{c.get('unknown_outputs', 0)} (counted as unknown)",
        f"{'median confidence':<24}{_f(chart['median'])}",
    ]
    if payload["threshold"] is not None:
        lines.append(f"{'threshold':<24}{payload['threshold']:.3g} ({c['below_threshold']} rows below)")
    for status in ("kept", "dropped", "corrected"):
        if status in c["status"]:
            lines.append(f"{status:<24}{c['status'][status]}")
    if c["corrected"] and "corrected" not in c["status"]:
        lines.append(f"{'corrected':<24}{c['corrected']}")
    agreement = payload["agreement"]
    if agreement is not None:
        methods = agreement["methods"]
        for i in range(len(methods)):
            for j in range(i + 1, len(methods)):
                rho = agreement["spearman"][i][j]
                lines.append(f"{'spearman':<24}{methods[i]} vs {methods[j]}: {_f(rho)}")
    if payload["accuracy"]:
        lines.append("accuracy")
        for label, result in payload["accuracy"].items():
            result = result if isinstance(result, dict) else {"accuracy": result}
            lines.append(f"  {str(label):<22}{_f(result.get('accuracy'))} (n={_f(result.get('n'))})")
    lines.extend(f"warning: {w}" for w in payload["warnings"])
    return lines
