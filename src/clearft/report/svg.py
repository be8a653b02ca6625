"""Inline SVG charts as text: no chart library, no CDN, nothing to fetch when the file opens.

Every label that could come from data (a method name) goes through html.escape; numbers are
formatted by us. Pure functions of their arguments.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 40


def _x(v: float, width: int = WIDTH) -> float:
    return LEFT + v * (width - LEFT - RIGHT)


def _y(v: float, height: int = HEIGHT) -> float:
    return height - BOTTOM - v * (height - TOP - BOTTOM)


def _axes(width: int, height: int, x_label: str, y_label: str) -> list[str]:
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{_y(0, height)}" x2="{width - RIGHT}" y2="{_y(0, height)}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{_y(0, height)}"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f'<text class="tick" x="{_x(tick, width):.1f}" y="{height - BOTTOM + 14}" '
                     f'text-anchor="middle">{tick:g}</text>')
    parts.append(f'<text class="label" x="{(LEFT + width - RIGHT) / 2:.1f}" y="{height - 6}" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text class="label" x="12" y="{(TOP + height - BOTTOM) / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {(TOP + height - BOTTOM) / 2:.1f})">{escape(y_label)}</text>')
    return parts


def histogram_svg(bins: list[int], threshold: float | None, x_label: str = "confidence") -> str:
    """Bars over [0, 1]; bars left of the threshold are marked as below it, with a line at it."""
    top = max(bins) if bins and max(bins) > 0 else 1
    n = len(bins) or 1
    parts = [f'<svg class="chart" id="histogram" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="histogram of {escape(x_label)}" xmlns="http://www.w3.org/2000/svg">']
    parts += _axes(WIDTH, HEIGHT, x_label, "rows")
    parts.append(f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top}</text>')
    bar_w = (WIDTH - LEFT - RIGHT) / n
    for i, count in enumerate(bins):
        lo = i / n
        below = threshold is not None and (i + 1) / n <= threshold
        h = (count / top) * (HEIGHT - TOP - BOTTOM)
        cls = "bar below" if below else "bar"
        parts.append(
            f'<rect class="{cls}" x="{_x(lo):.1f}" y="{_y(0) - h:.1f}" width="{max(bar_w - 1, 1):.1f}" '
            f'height="{h:.1f}"><title>{lo:.2f}-{lo + 1 / n:.2f}: {count} rows</title></rect>'
        )
    if threshold is not None:
        x = _x(min(max(threshold, 0.0), 1.0))
        parts.append(f'<line class="threshold" x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{_y(0)}"/>')
        parts.append(f'<text class="threshold-label" x="{x + 4:.1f}" y="{TOP + 10}">'
                     f'threshold {threshold:.3g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def scatter_svg(points: list[tuple[float, float]], x_label: str, y_label: str) -> str:
    """One dot per row (a sample of rows), both scores on [0, 1]."""
    size = 320
    parts = [f'<svg class="chart" id="scatter" viewBox="0 0 {size} {size}" role="img" '
             f'aria-label="{escape(x_label)} against {escape(y_label)}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    parts += _axes(size, size, x_label, y_label)
    parts.append(f'<line class="diagonal" x1="{_x(0, size):.1f}" y1="{_y(0, size):.1f}" '
                 f'x2="{_x(1, size):.1f}" y2="{_y(1, size):.1f}"/>')
    for x, y in points:
        cx, cy = _x(min(max(x, 0.0), 1.0), size), _y(min(max(y, 0.0), 1.0), size)
        parts.append(f'<circle class="dot" cx="{cx:.1f}" cy="{cy:.1f}" r="2"/>')
    parts.append("</svg>")
    return "".join(parts)
