"""Response-time charts drawn on the server as inline SVG: they work without JavaScript.

:func:`line_chart` is generic (series of ``(time, value)`` points over a time range); the
caller gives the translated title, description and tick labels. The SVG carries
``role="img"`` with its ``<title>`` and ``<desc>`` (a sentence with the figures) as text
alternative; series are told apart by colour *and* dash pattern, and named in a legend.
Colours come from the page's CSS classes (``chart-s0``…), so dark mode applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 34
#: dash patterns, one per series, so that colour is not the only difference
DASHES = ("", "6 4", "2 3", "10 3 2 3", "1 6")


@dataclass(frozen=True, slots=True)
class Series:
    """One line: a name for the legend and ``(unix time, value)`` points in time order."""

    name: str
    points: Sequence[tuple[float, float]]


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^n not below ``value`` (axis maximum)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10 ** exponent
        if candidate >= value * 0.999999:
            return candidate
    return 10 ** (exponent + 1)


def _path(points: Sequence[tuple[float, float]], x: Callable[[float], float],
          y: Callable[[float], float], gap: float) -> str:
    """SVG path data; a jump longer than ``gap`` seconds starts a new segment (no data)."""
    out, previous = [], None
    for t, v in points:
        command = "L" if previous is not None and t - previous <= gap else "M"
        out.append(f"{command}{x(t):.1f},{y(v):.1f}")
        previous = t
    return "".join(out)


def line_chart(series: Sequence[Series], since: float, until: float, *, title: str, desc: str,
               x_ticks: Sequence[tuple[float, str]], y_format: Callable[[float], str],
               gap: float, chart_id: str = "chart", empty_text: str = "") -> Markup:
    """An accessible SVG line chart.

    :param gap: seconds between two points beyond which the line is broken.
    :param empty_text: written in the chart when no series has a point.
    """
    top_value = nice_ceiling(max((v for s in series for _, v in s.points), default=0) * 1.05)
    span = max(until - since, 1.0)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - since) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - (v / top_value) * plot_h

    parts = [
        (f'<svg class="chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
         f'role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
         'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'),
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]
    # horizontal grid with value labels
    for i in range(5):
        value = top_value * i / 4
        py = y(value)
        parts.append(f'<line class="chart-grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                     f'y1="{py:.1f}" y2="{py:.1f}"/>')
        parts.append(f'<text class="chart-label" x="{LEFT - 6}" y="{py + 4:.1f}" '
                     f'text-anchor="end">{escape(y_format(value))}</text>')
    for t, label in x_ticks:
        if since <= t <= until:
            px = x(t)
            parts.append(f'<line class="chart-grid" x1="{px:.1f}" x2="{px:.1f}" '
                         f'y1="{TOP}" y2="{TOP + plot_h}"/>')
            parts.append(f'<text class="chart-label" x="{px:.1f}" y="{HEIGHT - 12}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    if not any(s.points for s in series) and empty_text:
        parts.append(f'<text class="chart-empty" x="{LEFT + plot_w / 2:.1f}" '
                     f'y="{TOP + plot_h / 2:.1f}" text-anchor="middle">{escape(empty_text)}</text>')
    for index, line in enumerate(series):
        if not line.points:
            continue
        dash = DASHES[index % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<path class="chart-line chart-s{index % len(DASHES)}"{dash_attr} '
                     f'd="{_path(line.points, x, y, gap)}"/>')
        if len(line.points) == 1:  # a lone point draws no line: mark it
            t, v = line.points[0]
            parts.append(f'<circle class="chart-dot chart-s{index % len(DASHES)}" '
                         f'cx="{x(t):.1f}" cy="{y(v):.1f}" r="3"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(series: Sequence[Series]) -> Markup:
    """An HTML list naming each line next to a sample of its colour and dash pattern."""
    items = []
    for index, line in enumerate(series):
        dash = DASHES[index % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(
            '<li><svg width="32" height="10" aria-hidden="true" focusable="false">'
            f'<line class="chart-line chart-s{index % len(DASHES)}"{dash_attr} '
            f'x1="0" y1="5" x2="32" y2="5"/></svg> {escape(line.name)}</li>')
    return Markup('<ul class="chart-legend">' + "".join(items) + "</ul>")


def median(values: Sequence[float]) -> float | None:
    """The median of ``values`` (None when empty)."""
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
