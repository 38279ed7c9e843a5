"""A metric per subgroup: estimates with interval whiskers, one row per group."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from grader.charts._axes import _axis, _Panel
from grader.charts._canvas import _LegendItem, _text
from grader.charts._chart import _Chart
from grader.charts._data import _plottable, _vector
from grader.charts._style import _BLUE, _INK, _MUTED, _TICK_SIZE
from grader.charts._text import _estimate_text, _format_value, _plural, _text_width


def subgroup_chart(
    groups: Sequence[str],
    values: ArrayLike,
    ci_low: ArrayLike,
    ci_high: ArrayLike,
    *,
    overall: float | None,
    metric_title: str,
    not_estimable: Sequence[str] = (),
    attribute: str | None = None,
) -> str:
    """A metric per subgroup: points with interval whiskers, one row per group.

    ``attribute`` names what the groups are (e.g. ``"sex"``) in the title.

    Parameters
    ----------
    groups : sequence of str
        Row labels, top to bottom.
    values, ci_low, ci_high : array-like of shape (len(groups),)
        The estimate and its interval per group; a NaN interval draws the point alone.
    overall : float or None
        The metric on all cases, drawn as a vertical dashed line.
    metric_title : str
        The metric's name, for the title and the x axis.
    not_estimable : sequence of str, default=()
        Groups where the metric is undefined; they are greyed out and say so. A group with
        a NaN value is treated the same, and names not in ``groups`` are added as rows.
    """
    labels = [str(group) for group in groups]
    estimates, lows, highs = (
        _vector(values, "values"),
        _vector(ci_low, "ci_low"),
        _vector(ci_high, "ci_high"),
    )
    lengths = {
        "groups": len(labels),
        "values": estimates.size,
        "ci_low": lows.size,
        "ci_high": highs.size,
    }
    if len(set(lengths.values())) > 1:
        got = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"groups, values, ci_low and ci_high must have the same length; got {got}")
    extra = [name for name in dict.fromkeys(str(n) for n in not_estimable) if name not in labels]
    rows = labels + extra
    padded = (np.concatenate([a, np.full(len(extra), np.nan)]) for a in (estimates, lows, highs))
    estimates, lows, highs = (np.where(_plottable(a), a, np.nan) for a in padded)
    blocked = set(map(str, not_estimable))
    shown = np.isfinite(estimates) & np.array([row not in blocked for row in rows], dtype=bool)
    overall_value = float(overall) if overall is not None and _plottable(overall) else math.nan
    candidates = np.concatenate([estimates[shown], lows[shown], highs[shown], [overall_value]])
    candidates = candidates[np.isfinite(candidates)]
    low, high = (
        (float(candidates.min()), float(candidates.max())) if candidates.size else (0.0, 1.0)
    )
    plot_width, row_height = 260.0, 24.0
    x = _axis(metric_title, low, high, length=plot_width)
    texts = [
        _estimate_text(v, lo, hi) if ok else "\u2014"
        for v, lo, hi, ok in zip(
            estimates.tolist(), lows.tolist(), highs.tolist(), shown.tolist(), strict=True
        )
    ]
    column = max((_text_width(t, _TICK_SIZE) for t in texts), default=0.0)
    description = (
        f"{metric_title} in {_plural(len(rows), 'subgroup')}, each with its interval"
        + (f"; {int((~shown).sum())} not estimable" if (~shown).any() else "")
        + (
            f"; overall {_format_value(overall_value)} (dashed line)."
            if math.isfinite(overall_value)
            else "."
        )
    )
    chart = _Chart(
        "subgroups",
        f"{metric_title} by {attribute}" if attribute else f"{metric_title} by subgroup",
        description,
        x=x,
        panels=[_Panel(max(1, len(rows)) * row_height, categories=rows)],
        plot_width=plot_width,
        right_column=column,
    )
    if not rows:
        chart.message("no subgroups to draw")
    centres = chart.ys(np.arange(len(rows)))
    for index, (row, centre, text, ok) in enumerate(
        zip(rows, centres.tolist(), texts, shown.tolist(), strict=True)
    ):
        chart.body.append(_text(chart.right + 8, centre + 3.5, text, fill=_INK if ok else _MUTED))
        if not ok:
            chart.body.append(
                f'<rect x="{chart.left + 1:.1f}" y="{centre - row_height / 2 + 2:.1f}" '
                f'width="{chart.content_width - 2:.1f}" height="{row_height - 4:.1f}" fill="#f3f3f5"/>'
                + _text(
                    chart.left + 8,
                    centre + 3.5,
                    "not estimable",
                    fill=_MUTED,
                    extra=' font-style="italic"',
                )
            )
            continue
        px = chart.xs([estimates[index], lows[index], highs[index]])
        whisker = ""
        if np.isfinite(lows[index]) and np.isfinite(highs[index]):
            whisker = (
                f'<path d="M{px[1]:.1f} {centre:.1f}H{px[2]:.1f}M{px[1]:.1f} {centre - 5:.1f}v10'
                f'M{px[2]:.1f} {centre - 5:.1f}v10" stroke="{_BLUE}" stroke-width="1.5" fill="none"/>'
            )
        chart.add_series(
            "subgroup",
            f"{row}: {text}",
            whisker + f'<circle cx="{px[0]:.1f}" cy="{centre:.1f}" r="4" fill="{_BLUE}"/>',
            0,
        )
    chart.legend.append(_LegendItem("estimate and interval", _BLUE, "whisker", width=1.5))
    if math.isfinite(overall_value):
        label = f"overall {_format_value(overall_value)}"
        px = chart.xs([overall_value])[0]
        panel = chart.panels[0]
        chart.add_series(
            "overall",
            label,
            f'<line x1="{px:.1f}" y1="{panel.top:.1f}" x2="{px:.1f}" y2="{panel.top + panel.height:.1f}" '
            f'stroke="{_INK}" stroke-width="1.25" stroke-dasharray="5 3"/>',
            0,
        )
        chart.legend.append(_LegendItem(label, _INK, dashed=True, width=1.25))
    return chart.render()
