"""The feature importance of a model version as an SVG bar chart (server-rendered, no script),
for the version page: one chart per method, the newest explanation of each."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from loopml.core.entities import ModelExplanation

__all__ = ["importance_panels", "importance_svg"]

#: Bars drawn per chart (the most important features).
TOP = 15
_ROW, _LABEL, _BAR, _VALUE = 18, 170, 260, 90


def importance_svg(found: ModelExplanation, *, top: int = TOP) -> Markup:
    """A horizontal bar per feature (most important first), labelled with its name and its
    importance ± spread; each bar carries ``data-feature`` and ``data-value`` and a
    ``<title>``. Negative importances (a shuffle that helped, by chance) draw as empty bars."""
    shown = found.top(top)
    largest = max((f.importance for f in shown if math.isfinite(f.importance)), default=0.0)
    scale = largest if largest > 0 else 1.0
    width, height = _LABEL + _BAR + _VALUE, _ROW * len(shown) + 4
    parts = []
    for i, feature in enumerate(shown):
        value = feature.importance if math.isfinite(feature.importance) else 0.0
        length = max(0.0, _BAR * value / scale)
        y = i * _ROW + 2
        name = escape(feature.feature)
        text = f"{feature.importance:.4g} ± {feature.spread:.2g}"
        parts.append(
            f'<text x="{_LABEL - 6}" y="{y + 12}" text-anchor="end">{name}</text>'
            f'<rect class="bar" x="{_LABEL}" y="{y + 2}" width="{length:.1f}" '
            f'height="{_ROW - 6}" data-feature="{name}" data-value="{feature.importance!r}">'
            f"<title>{name}: {text}</title></rect>"
            f'<text x="{_LABEL + length + 4:.1f}" y="{y + 12}" class="muted">{text}</text>'
        )
    return Markup(
        f'<svg class="importance" data-method="{escape(found.method)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" font-size="12" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )


def importance_panels(found: Sequence[ModelExplanation]) -> list[tuple[ModelExplanation, Markup]]:
    """The newest explanation of each method (``found`` is newest first), with its chart."""
    seen: set[str] = set()
    panels = []
    for explanation in found:
        if explanation.method not in seen:
            seen.add(explanation.method)
            panels.append((explanation, importance_svg(explanation)))
    return panels
