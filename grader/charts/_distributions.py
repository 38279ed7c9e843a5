"""A class's results at a glance, for the dashboard: a histogram of values with the rubric's
reference lines across it, and a strip of dots per measure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from grader.charts._axes import _axis, _count_axis, _Panel, _tick_labels, nice_ticks
from grader.charts._canvas import _LegendItem, _text
from grader.charts._chart import _Chart
from grader.charts._data import _plottable, _skipped_note, _vector
from grader.charts._style import _BLUE, _GREEN, _INK, _MUTED, _TICK_SIZE, _VERMILLION
from grader.charts._text import _escape, _format_value, _plural, _short_value, _text_width
from grader.metrics._validation import check_positive_int


@dataclass(frozen=True)
class Spread:
    """The median and quartiles of some finite values: a strip chart's numbers in a table."""

    n: int
    median: float
    q1: float
    q3: float

    @staticmethod
    def of(values: Sequence[float]) -> Spread | None:
        """The spread of the finite ``values``; None when there is none."""
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return None
        q1, median, q3 = np.percentile(finite, [25, 50, 75]).tolist()
        return Spread(len(finite), median, q1, q3)


def spread_cell(spread: Spread | None, pattern: str = "%.3f") -> str:
    """A table cell's markup for ``spread``: the median, then the quartiles and n in small
    print; a dash when there is nothing to summarise."""
    if spread is None:
        return "\u2014"
    median, q1, q3 = (_escape(pattern % v) for v in (spread.median, spread.q1, spread.q3))
    return f'{median} <span class="how quartiles">({q1} \u2013 {q3}, n = {spread.n})</span>'


@dataclass(frozen=True)
class ReferenceLine:
    """A value of note drawn across a :func:`histogram_chart`, e.g. a rubric's floor.

    ``tone`` picks the style: ``"floor"`` (vermillion, dashed: what earns nothing),
    ``"target"`` (green, solid: what earns full points) or ``"neutral"`` (ink, dashed).
    """

    value: float
    label: str
    tone: Literal["floor", "target", "neutral"] = "neutral"


_TONES: dict[str, tuple[str, str]] = {
    "floor": (_VERMILLION, "5 3"),
    "target": (_GREEN, ""),
    "neutral": (_INK, "5 3"),
}


def histogram_chart(
    values: ArrayLike,
    *,
    title: str,
    x_title: str,
    low: float | None = None,
    high: float | None = None,
    bins: int = 20,
    references: Sequence[ReferenceLine] = (),
    noun: str = "student",
) -> str:
    """How many values fall in each of ``bins`` equal-width bins, with reference lines.

    The x axis covers the values, the reference lines and ``low``/``high`` where given;
    when both are given and nothing lies outside them the axis is exactly [low, high]
    (e.g. 0 to a rubric's maximum), else it is widened to round ticks. The y axis counts
    whole values. A value on an inner bin edge counts in the bin to its right; the
    highest value counts in the last bin.

    Examples
    --------
    >>> svg = histogram_chart([55, 62.5, 70, 70, 91], title="Total marks", x_title="marks",
    ...                       low=0, high=100, references=[ReferenceLine(65, "median")])
    >>> "5 students in 20 bins of 5 from 0 to 100" in svg
    True

    Parameters
    ----------
    values : array-like of shape (n,)
        One value per ``noun``; missing or non-finite ones are counted in a note.
    title, x_title : str
        The chart's title and the x axis's title.
    low, high : float, optional
        Ends the x axis must reach.
    bins : int, default=20
        At most this many bins (three where two cannot cover a range around zero), of a
        round width from :func:`nice_ticks`; a fixed axis whose ends are not multiples of
        a round width is cut in exactly ``bins`` equal parts instead.
    references : sequence of ReferenceLine, default=()
        Values drawn as vertical lines across the plot, each with a legend entry.
    noun : str, default="student"
        What one value stands for, in the legend and notes ("3 students").
    """
    bins = check_positive_int(bins, "bins")
    array = _vector(values, "values")
    shown = array[_plottable(array)]
    lines = [r for r in references if _plottable(r.value)]
    ends = [float(end) for end in (low, high) if end is not None and _plottable(end)]
    candidates = np.concatenate([shown, [r.value for r in lines], ends])
    span = (float(candidates.min()), float(candidates.max())) if candidates.size else (0.0, 1.0)
    fixed = low is not None and high is not None and span == (low, high) and low < high
    plot_width, plot_height = 320.0, 150.0
    # Round bin edges (a width of 1, 2, 2.5 or 5 times a power of ten) read more easily
    # than a range cut in equal parts; a fixed axis keeps its ends if they are not round.
    edges = np.asarray(nice_ticks(span[0], span[1], max_ticks=bins + 1))
    if fixed and (edges[0] < span[0] or edges[-1] > span[1]):
        edges = np.linspace(span[0], span[1], bins + 1)
    x = _axis(x_title, float(edges[0]), float(edges[-1]), length=plot_width, fixed=fixed)
    counts, _ = np.histogram(np.clip(shown, x.low, x.high), bins=edges)
    y = _count_axis(f"{noun}s", float(counts.max()) if counts.size else 0.0, length=plot_height)
    summary = (
        f"median {_format_value(float(np.median(shown)))}, range "
        f"{_format_value(float(shown.min()))} to {_format_value(float(shown.max()))}"
        if shown.size
        else "nothing to draw"
    )
    first, width, last = _tick_labels(
        [float(edges[0]), float(edges[1] - edges[0]), float(edges[-1])]
    )
    description = (
        f"Histogram of {_plural(shown.size, noun)} in {_plural(edges.size - 1, 'bin')} of "
        f"{width} from {first} to {last}: {summary}."
        + "".join(f" {line.label} at {_short_value(line.value)}." for line in lines)
    )
    chart = _Chart(
        "histogram",
        title,
        description,
        x=x,
        panels=[_Panel(plot_height, y)],
        plot_width=plot_width,
    )
    if shown.size:
        chart.histogram(
            edges, counts.astype(np.float64), label=_plural(shown.size, noun), colour=_BLUE
        )
    else:
        chart.message("no values to draw")
    chart.legend.append(_LegendItem(_plural(shown.size, noun), _BLUE, "area"))
    panel = chart.panels[0]
    for line in lines:
        colour, dash = _TONES[line.tone]
        px = chart.xs([line.value])[0]
        pattern = f' stroke-dasharray="{dash}"' if dash else ""
        chart.add_series(
            "reference",
            f"{line.label}: {_short_value(line.value)}",
            f'<line x1="{px:.1f}" y1="{panel.top:.1f}" x2="{px:.1f}" '
            f'y2="{panel.top + panel.height:.1f}" stroke="{colour}" stroke-width="2"{pattern}/>',
            0,
        )
        chart.legend.append(
            _LegendItem(f"{line.label} ({_short_value(line.value)})", colour, dashed=bool(dash))
        )
    chart.notes += _skipped_note(array.size - shown.size, noun)
    return chart.render()


def strip_chart(
    rows: Sequence[str],
    values: Sequence[ArrayLike],
    *,
    title: str,
    x_title: str,
    noun: str = "student",
) -> str:
    """A dot per value in each row, and each row's median as a tick.

    Made for a class: one row per measure (a subgroup gap, a structure's Dice), one dot
    per student. Dots are translucent and spread over three lanes by rank within their
    row, so equal or close values stay countable; the spread is deterministic (no random
    jitter), so the same data draws the same chart.

    Parameters
    ----------
    rows : sequence of str
        Row labels, top to bottom.
    values : sequence of array-like
        The values of each row (one per ``noun``); missing or non-finite ones are counted
        in a note, and a row left with none says so.
    title, x_title : str
        The chart's title and the x axis's title.
    noun : str, default="student"
        What one value stands for, in the legend and notes.
    """
    labels = [str(row) for row in rows]
    if len(values) != len(labels):
        raise ValueError(
            f"rows and values must have the same length (one list of values per row); "
            f"got {len(labels)} rows and {len(values)} lists of values"
        )
    arrays = [_vector(row_values, f"values[{i}]") for i, row_values in enumerate(values)]
    shown = [array[_plottable(array)] for array in arrays]
    skipped = sum(array.size - kept.size for array, kept in zip(arrays, shown, strict=True))
    everything = np.concatenate([np.zeros(0), *shown])
    low, high = (
        (float(everything.min()), float(everything.max())) if everything.size else (0.0, 1.0)
    )
    plot_width, row_height = 260.0, 28.0
    x = _axis(x_title, low, high, length=plot_width)
    texts = [
        f"median {_format_value(float(np.median(kept)))} (n = {kept.size})"
        if kept.size
        else "\u2014"
        for kept in shown
    ]
    column = max((_text_width(text, _TICK_SIZE) for text in texts), default=0.0)
    description = (
        f"{x_title}: {_plural(int(everything.size), noun)} over {_plural(len(labels), 'row')}, "
        "a dot each and the median of each row as a tick. "
        + " ".join(f"{label}: {text}." for label, text in zip(labels, texts, strict=True))
    )
    chart = _Chart(
        "strip",
        title,
        description,
        x=x,
        panels=[_Panel(max(1, len(labels)) * row_height, categories=labels)],
        plot_width=plot_width,
        right_column=column,
    )
    if not labels:
        chart.message("no rows to draw")
    centres = chart.ys(np.arange(len(labels)))
    for label, kept, centre, text in zip(labels, shown, centres.tolist(), texts, strict=True):
        chart.body.append(
            _text(chart.right + 8, centre + 3.5, text, fill=_INK if kept.size else _MUTED)
        )
        if not kept.size:
            chart.body.append(
                _text(
                    chart.left + 8,
                    centre + 3.5,
                    "no values",
                    fill=_MUTED,
                    extra=' font-style="italic"',
                )
            )
            continue
        ranks = np.argsort(np.argsort(kept, kind="stable"), kind="stable")
        offsets = (ranks % 3 - 1) * 6.0
        dots = "".join(
            f'<circle cx="{px:.1f}" cy="{centre + offset:.1f}" r="3.5" fill="{_BLUE}" '
            'fill-opacity="0.55"/>'
            for px, offset in zip(chart.xs(kept).tolist(), offsets.tolist(), strict=True)
        )
        chart.add_series("strip", f"{label}: {_plural(kept.size, noun)}", dots, 0)
        median = chart.xs([float(np.median(kept))])[0]
        chart.add_series(
            "median",
            f"{label}: {text}",
            f'<line x1="{median:.1f}" y1="{centre - 11:.1f}" x2="{median:.1f}" '
            f'y2="{centre + 11:.1f}" stroke="{_INK}" stroke-width="2.5"/>',
            0,
        )
    chart.legend.append(_LegendItem(f"one {noun}", _BLUE, "marker"))
    chart.legend.append(_LegendItem("median", _INK, "tick", width=2.5))
    chart.notes += _skipped_note(skipped, "value")
    return chart.render()
