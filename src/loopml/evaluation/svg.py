"""Hand-built inline SVG charts for the offline evaluation report.

No plotting library and nothing fetched: every chart is a string of SVG elements with its
geometry computed here, sized by a ``viewBox`` so it scales with the page and prints sharply.
Three primitives cover the report: :func:`line_chart` (ROC, PR, calibration),
:func:`histogram` (regression residuals) and :func:`bar_chart` (a metric per slice, with
interval whiskers and a baseline marker). Text is escaped here, since labels come from user data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

CANDIDATE = "#2563eb"
BASELINE = "#d97706"
WORSE = "#dc2626"
BETTER = "#16a34a"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
MAX_POINTS = 300
_FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"'


@dataclass(frozen=True)
class Series:
    """One line of a :func:`line_chart`.

    Attributes:
        label: Shown in the legend.
        xs: X coordinates (already finite).
        ys: Y coordinates, same length.
        baseline: Draw in the baseline style (amber, dashed) instead of the candidate's.
        markers: Draw a dot at each point (calibration bins).
        notes: Per-point hover text for the markers (e.g. the bin's count).
    """

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    baseline: bool = False
    markers: bool = False
    notes: Sequence[str] = ()


@dataclass(frozen=True)
class Bar:
    """One row of a :func:`bar_chart`.

    Attributes:
        label: The slice name (user data; escaped when drawn).
        group: Rows with the same group are drawn under one heading, in order.
        support: Rows in the slice.
        value: The bar's length; None draws ``note`` instead of a bar.
        low: Lower end of the interval whisker.
        high: Upper end of the whisker.
        baseline: Where the baseline's marker goes, if any.
        tone: ``better``, ``worse`` or empty: colors the bar.
        note: Why there is no value.
    """

    label: str
    group: str
    support: int
    value: float | None
    low: float | None = None
    high: float | None = None
    baseline: float | None = None
    tone: str = ""
    note: str = ""


def downsample(
    xs: Sequence[float], ys: Sequence[float], max_points: int = MAX_POINTS
) -> tuple[list[float], list[float]]:
    """Keep at most ``max_points`` evenly spaced points, always both endpoints.

    Args:
        xs: X coordinates.
        ys: Y coordinates, same length.
        max_points: The most points to keep (at least 2).

    Returns:
        The kept x and y coordinates, in their original order.
    """
    n = min(len(xs), len(ys))
    if n <= max_points:
        return list(xs[:n]), list(ys[:n])
    keep = max(max_points, 2)
    idx = sorted({round(i * (n - 1) / (keep - 1)) for i in range(keep)})
    return [xs[i] for i in idx], [ys[i] for i in idx]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Return round tick values covering ``[lo, hi]`` (about ``count`` of them).

    Args:
        lo: The smallest value to cover.
        hi: The largest value to cover.
        count: The wanted number of intervals.

    Returns:
        Ascending ticks; the first is <= ``lo`` and the last is >= ``hi``.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step + 1e-9) * step
    ticks = [start]
    while ticks[-1] < hi - 1e-9 * step:
        ticks.append(start + len(ticks) * step)
    return [round(t, 12) for t in ticks]


def tick_label(value: float) -> str:
    """Format a tick value briefly (``0.2``, ``1,000``, ``-0.05``)."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.4g}"


class _Frame:
    """Maps data coordinates to pixels inside a plot area and draws its axes."""

    def __init__(
        self,
        *,
        x_ticks: list[float],
        y_ticks: list[float],
        width: float = 400,
        height: float = 300,
        margin: tuple[float, float, float, float] = (30, 14, 44, 52),
    ) -> None:
        self.width, self.height = width, height
        self.top, self.right, self.bottom, self.left = margin
        self.x_ticks, self.y_ticks = x_ticks, y_ticks
        self.x0, self.x1 = x_ticks[0], x_ticks[-1]
        self.y0, self.y1 = y_ticks[0], y_ticks[-1]

    def sx(self, x: float) -> float:
        plot = self.width - self.left - self.right
        return self.left + (x - self.x0) / ((self.x1 - self.x0) or 1.0) * plot

    def sy(self, y: float) -> float:
        plot = self.height - self.top - self.bottom
        return self.height - self.bottom - (y - self.y0) / ((self.y1 - self.y0) or 1.0) * plot

    def axes(self, x_label: str, y_label: str) -> list[str]:
        out: list[str] = []
        bottom, left = self.height - self.bottom, self.left
        for t in self.x_ticks:
            x = self.sx(t)
            out.append(_line(x, self.top, x, bottom, GRID))
            out.append(_text(x, bottom + 14, tick_label(t), anchor="middle", size=10))
        for t in self.y_ticks:
            y = self.sy(t)
            out.append(_line(left, y, self.width - self.right, y, GRID))
            out.append(_text(left - 5, y + 3.5, tick_label(t), anchor="end", size=10))
        out.append(_line(left, bottom, self.width - self.right, bottom, INK))
        out.append(_line(left, self.top, left, bottom, INK))
        mid_x = (left + self.width - self.right) / 2
        out.append(_text(mid_x, self.height - 8, x_label, anchor="middle", size=11))
        mid_y = (self.top + bottom) / 2
        out.append(
            f'<text x="14" y="{mid_y:.1f}" font-size="11" fill="{INK}" text-anchor="middle" '
            f'transform="rotate(-90 14 {mid_y:.1f})">{escape(y_label)}</text>'
        )
        return out


def _line(
    x1: float, y1: float, x2: float, y2: float, color: str, *, width: float = 1, extra: str = ""
) -> str:
    return (
        f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
        f'stroke="{color}" stroke-width="{width:g}"{extra}/>'
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", size: int = 11, color: str = INK
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{color}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="{escape(title)}" '
        f"{_FONT}><title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _legend(items: list[tuple[str, str, bool]], x: float, y: float) -> list[str]:
    out: list[str] = []
    for label, color, dashed in items:
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(
            f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 18:.1f}" y2="{y:.1f}" stroke="{color}" '
            f'stroke-width="2.5"{dash}/>'
        )
        out.append(_text(x + 22, y + 4, label, size=11))
        x += 30 + 6.5 * len(label)
    return out


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] = (0.0, 1.0),
    y_range: tuple[float, float] = (0.0, 1.0),
    diagonal: bool = False,
) -> str:
    """Draw lines on shared axes, with a legend above the plot.

    Args:
        series: The lines; each is downsampled to :data:`MAX_POINTS` points.
        title: The chart's accessible title.
        x_label: The x axis label.
        y_label: The y axis label.
        x_range: The x data range to cover.
        y_range: The y data range to cover.
        diagonal: Draw the ``y = x`` reference line (chance ROC, perfect calibration).

    Returns:
        One ``<svg>`` element.
    """
    frame = _Frame(x_ticks=nice_ticks(*x_range), y_ticks=nice_ticks(*y_range))
    body = frame.axes(x_label, y_label)
    if diagonal:
        lo, hi = max(frame.x0, frame.y0), min(frame.x1, frame.y1)
        dots = ' stroke-dasharray="2 3"'
        body.append(
            _line(frame.sx(lo), frame.sy(lo), frame.sx(hi), frame.sy(hi), MUTED, extra=dots)
        )
    legend: list[tuple[str, str, bool]] = []
    for s in series:
        color = BASELINE if s.baseline else CANDIDATE
        xs, ys = downsample(s.xs, s.ys)
        points = " ".join(
            f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in zip(xs, ys, strict=True)
        )
        dash = ' stroke-dasharray="6 4"' if s.baseline else ""
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"'
            f' stroke-linejoin="round"{dash}/>'
        )
        if s.markers and len(xs) <= 100:
            notes = list(s.notes) if len(s.notes) == len(xs) else [""] * len(xs)
            for x, y, note in zip(xs, ys, notes, strict=True):
                tip = f"<title>{escape(note)}</title>" if note else ""
                body.append(
                    f'<circle cx="{frame.sx(x):.1f}" cy="{frame.sy(y):.1f}" r="3" '
                    f'fill="{color}">{tip}</circle>'
                )
        legend.append((s.label, color, s.baseline))
    body.extend(_legend(legend, frame.left + 4, 14))
    return _svg(frame.width, frame.height, title, body)


def histogram(
    edges: Sequence[float],
    counts: Sequence[float],
    *,
    title: str,
    x_label: str,
    y_label: str = "rows",
    baseline: tuple[Sequence[float], Sequence[float]] | None = None,
    candidate_label: str = "candidate",
    baseline_label: str = "baseline",
) -> str:
    """Draw a histogram as bars, with an optional baseline histogram as a step outline.

    Args:
        edges: Bin edges (one more than ``counts``).
        counts: Rows per bin.
        title: The chart's accessible title.
        x_label: The x axis label.
        y_label: The y axis label.
        baseline: The baseline's ``(edges, counts)``, drawn as a dashed outline.
        candidate_label: Legend text for the bars.
        baseline_label: Legend text for the outline.

    Returns:
        One ``<svg>`` element.
    """
    all_edges = list(edges) + (list(baseline[0]) if baseline else [])
    all_counts = list(counts) + (list(baseline[1]) if baseline else [])
    frame = _Frame(
        x_ticks=nice_ticks(min(all_edges), max(all_edges)),
        y_ticks=nice_ticks(0.0, max(all_counts, default=1.0) or 1.0),
    )
    body = frame.axes(x_label, y_label)
    for lo, hi, count in zip(edges, edges[1:], counts, strict=False):
        x, y = frame.sx(lo), frame.sy(count)
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(frame.sx(hi) - x, 0.5):.1f}" '
            f'height="{frame.sy(0) - y:.1f}" fill="{CANDIDATE}" fill-opacity="0.55" '
            f'stroke="#fff" stroke-width="0.5"><title>[{tick_label(lo)}, {tick_label(hi)}): '
            f"{tick_label(count)}</title></rect>"
        )
    legend = [(candidate_label, CANDIDATE, False)]
    if baseline is not None:
        b_edges, b_counts = baseline
        pts = [(b_edges[0], 0.0)]
        for lo, hi, count in zip(b_edges, b_edges[1:], b_counts, strict=False):
            pts += [(lo, count), (hi, count)]
        pts.append((b_edges[len(b_counts)], 0.0))
        points = " ".join(f"{frame.sx(x):.1f},{frame.sy(y):.1f}" for x, y in pts)
        body.append(
            f'<polyline points="{points}" fill="none" stroke="{BASELINE}" stroke-width="2" '
            'stroke-dasharray="6 4"/>'
        )
        legend.append((baseline_label, BASELINE, True))
    if frame.x0 < 0 < frame.x1:
        x = frame.sx(0)
        body.append(
            _line(x, frame.top, x, frame.sy(frame.y0), INK, extra=' stroke-dasharray="2 3"')
        )
    body.extend(_legend(legend, frame.left + 4, 14))
    return _svg(frame.width, frame.height, title, body)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    metric: str,
    reference: float | None = None,
    label_chars: int = 34,
) -> str:
    """Draw one horizontal bar per row, grouped, with whiskers and baseline markers.

    Args:
        bars: The rows, in drawing order; a heading is drawn where the group changes.
        title: The chart's accessible title.
        metric: The metric's name, for the axis.
        reference: A value drawn as a dashed line across all rows (the overall metric).
        label_chars: Longer labels are cut with an ellipsis (the full text is the tooltip).

    Returns:
        One ``<svg>`` element.
    """
    row_h, head_h, label_w, plot_w, support_w = 22.0, 22.0, 230.0, 300.0, 80.0
    top = 30.0
    values = [v for b in bars for v in (b.value, b.low, b.high, b.baseline) if v is not None]
    if reference is not None:
        values.append(reference)
    ticks = nice_ticks(min([0.0, *values]), max([0.0, *values]) or 1.0)
    x0, x1 = ticks[0], ticks[-1]

    def sx(v: float) -> float:
        return label_w + (v - x0) / ((x1 - x0) or 1.0) * plot_w

    body: list[str] = []
    y, group = top, None
    for b in bars:
        if b.group != group:
            group = b.group
            y += 6 if y > top else 0
            body.append(
                f'<text x="4" y="{y + 15:.1f}" font-size="11" font-weight="600" '
                f'fill="{MUTED}">{escape(group.upper())}</text>'
            )
            y += head_h
        mid = y + row_h / 2
        short = b.label if len(b.label) <= label_chars else b.label[: label_chars - 1] + "…"
        body.append(
            f'<text x="{label_w - 8:.1f}" y="{mid + 4:.1f}" font-size="11" fill="{INK}" '
            f'text-anchor="end"><title>{escape(b.label)}</title>{escape(short)}</text>'
        )
        body.append(_text(label_w + plot_w + 10, mid + 4, f"n={b.support:,}", size=10, color=MUTED))
        if b.value is None:
            body.append(
                _text(sx(x0) + 6, mid + 4, f"not computable: {b.note}", size=10, color=MUTED)
            )
        else:
            color = {"worse": WORSE, "better": BETTER}.get(b.tone, CANDIDATE)
            left, right = sorted((sx(max(x0, min(0.0, x1))), sx(b.value)))
            body.append(
                f'<rect x="{left:.1f}" y="{y + 4:.1f}" width="{max(right - left, 1):.1f}" '
                f'height="{row_h - 8:.1f}" fill="{color}" fill-opacity="0.7"><title>'
                f"{escape(b.label)}: {b.value:.4g}</title></rect>"
            )
            if b.low is not None and b.high is not None:
                lo, hi = sx(b.low), sx(b.high)
                body.append(_line(lo, mid, hi, mid, INK, width=1.2))
                body.append(_line(lo, mid - 4, lo, mid + 4, INK))
                body.append(_line(hi, mid - 4, hi, mid + 4, INK))
        if b.baseline is not None:
            bx = sx(b.baseline)
            body.append(
                f'<path d="M{bx:.1f} {y + 1:.1f} l4 4 l-4 4 l-4 -4 z" fill="{BASELINE}">'
                f"<title>baseline: {b.baseline:.4g}</title></path>"
            )
        y += row_h
    bottom = y + 4
    axis = [_line(label_w, bottom, label_w + plot_w, bottom, INK)]
    for t in ticks:
        axis.append(_line(sx(t), top, sx(t), bottom, GRID))
        axis.append(_text(sx(t), bottom + 14, tick_label(t), anchor="middle", size=10))
    axis.append(_text(label_w + plot_w / 2, bottom + 32, metric, anchor="middle", size=11))
    if reference is not None:
        rx = sx(reference)
        axis.append(_line(rx, top - 4, rx, bottom, MUTED, extra=' stroke-dasharray="4 3"'))
        axis.append(
            _text(rx, top - 8, f"overall {reference:.4g}", anchor="middle", size=10, color=MUTED)
        )
    first = f"candidate {metric} with interval"
    bx = 34 + 5.6 * len(first)
    legend = (
        f'<rect x="4" y="6" width="14" height="10" fill="{CANDIDATE}" fill-opacity="0.7"/>'
        + _text(22, 15, first, size=10)
        + f'<path d="M{bx:.1f} 6 l4 4 l-4 4 l-4 -4 z" fill="{BASELINE}"/>'
        + _text(bx + 8, 15, "baseline", size=10)
    )
    width = label_w + plot_w + support_w
    return _svg(width, bottom + 40, title, [*axis, legend, *body])
