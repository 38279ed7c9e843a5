"""Inline SVG charts for the HTML reports.

Written by hand rather than with matplotlib: a report needs a handful of simple chart
kinds, and a small writer keeps them self-contained (one HTML file, no assets), accessible
(``<title>``, ``<desc>``, ``role="img"``), deterministic (the same data gives the same
bytes, so reports can be diffed and hashed) and free of a heavy plotting dependency and
its start-up cost in every grading process.

Every chart function takes plain arrays or lists and returns one ``<svg>`` string. The
conventions they share:

- Rows with a missing or non-finite value are skipped and a note under the chart says how
  many; empty input draws the axes and says there is nothing to draw. Only inconsistent
  arguments (arrays of different lengths, a 3-D image) raise ``ValueError``.
- Every piece of text goes through :func:`_escape`, which also drops characters XML
  cannot hold, so a label can never inject markup.
- Element ids are prefixed with a hash of the chart itself, so any number of different
  charts can share a page, and no ``<style>`` element is written (in an HTML page it would
  restyle the whole document): presentation attributes only.
- Legends and notes sit below the plot area, never on the data; tick labels are chosen
  so they cannot overlap; series are drawn clipped to the plot area.
- Each plotted series is one ``<g class="series ...">`` with a ``<title>`` (its tooltip).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._validation import check_positive_int

# Okabe & Ito's palette: distinguishable with every common colour-vision deficiency.
_BLUE, _VERMILLION, _ORANGE, _SKY = "#0072B2", "#D55E00", "#E69F00", "#56B4E9"
_GREEN = "#009E73"
_INK, _MUTED, _GRID, _FRAME = "#1d232a", "#6b6f76", "#ebecf0", "#9a9ca5"
_FONT = "system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"

_PAD = 8.0  # outer padding
_TICK_SIZE, _LABEL_SIZE, _TITLE_SIZE = 10.0, 11.0, 13.0
_PLOT_TOP = 34.0  # room for the title above the plot area
_PANEL_GAP = 18.0  # keeps tick labels of neighbouring panels apart
_LEGEND_ROW, _NOTE_ROW = 16.0, 13.0
_SQUARE = 240.0  # side of the ROC and reliability plot areas
_MAX_IMAGE_SIDE = 256
_PX_LIMIT = 1e6  # pixel coordinates are clamped here; the clip path hides anything beyond
# Larger magnitudes are treated like NaN: no chart can show them, and scaling them would
# overflow.
_MAX_MAGNITUDE = 1e150

# Stands for the chart's id prefix until the chart is complete (see _Canvas.render). It is
# a character _escape removes, so no text passed in can contain it.
_ID = "\x00"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_LegendKind = Literal["line", "line+marker", "marker", "tick", "band", "area", "whisker"]


def _escape(text: object) -> str:
    """Text safe in SVG/XML content and in double- or single-quoted attributes."""
    return escape(_XML_INVALID.sub("", str(text)), quote=True)


# Advance widths of DejaVu Sans, the widest common fallback sans-serif, in em. Estimating
# with the widest font leaves a little slack in others but never lets labels collide.
_NARROW = dict.fromkeys("ijl.,:;'|!", 0.32) | dict.fromkeys("ft ()[]-/", 0.40)
_WIDE = dict.fromkeys("mwMW%@", 0.95) | {"\u2212": 0.84, "\u2026": 1.0, "\u00d7": 0.84}


def _text_width(text: str, size: float) -> float:
    """Estimated rendered width of ``text`` at font ``size`` px."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += _NARROW[char]
        elif char in _WIDE:
            width += _WIDE[char]
        elif char.isupper():
            width += 0.74
        elif ord(char) >= 0x2E80:  # CJK and other full-width scripts
            width += 1.0
        else:
            width += 0.64
    return width * size


def _fit(text: str, size: float, width: float) -> str:
    """``text`` shortened with an ellipsis until it fits in ``width`` px."""
    if _text_width(text, size) <= width:
        return text
    text = text[: max(0, int(width / (0.32 * size)))]  # no more than this many could fit
    while text and _text_width(text + "\u2026", size) > width:
        text = text[:-1]
    return text.rstrip() + "\u2026"


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` px."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(_fit(word, size, width))
    return lines


def _minus(text: str) -> str:
    # A true minus sign: the hyphen is shorter and reads as a dash in tick labels.
    return text.replace("-", "\u2212")


def _format_value(value: float) -> str:
    """A metric value for labels: three decimals below 10, fewer above."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude < 10:
        return _minus(f"{value:.3f}")
    if magnitude >= 1e6:
        return _minus(f"{value:.3g}")
    return _minus(f"{value:.1f}" if magnitude < 1000 else f"{value:,.0f}")


def _short_value(value: float) -> str:
    """A value as given, in at most four significant digits: a rubric's 0.97 stays 0.97
    and a median of 45.5 marks stays 45.5, where :func:`_format_value` pads decimals."""
    return _minus(f"{value:.4g}")


def _estimate_text(value: float, low: float, high: float) -> str:
    """``"0.812 (0.750\u20130.870)"``, or the value alone without a finite interval."""
    if math.isfinite(low) and math.isfinite(high):
        return f"{_format_value(value)} ({_format_value(low)}\u2013{_format_value(high)})"
    return _format_value(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- input handling ---------------------------------------------------------------------


def _plottable(values: ArrayLike) -> NDArray[np.bool_]:
    """Finite and below ``_MAX_MAGNITUDE`` in size (NaN compares False)."""
    return np.abs(np.asarray(values, dtype=np.float64)) < _MAX_MAGNITUDE


def _vector(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 1-D sequence of numbers; {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got an array of shape {array.shape}")
    return array


def _finite_rows(**columns: ArrayLike) -> tuple[list[NDArray[np.float64]], int]:
    """The aligned columns restricted to rows where all are finite, and the rows dropped."""
    arrays = {name: _vector(values, name) for name, values in columns.items()}
    lengths = {name: array.shape[0] for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        names = ", ".join(lengths)
        got = ", ".join(f"{name} has {length}" for name, length in lengths.items())
        raise ValueError(f"{names} must have one entry per point, the same length; got {got}")
    keep = np.logical_and.reduce([_plottable(array) for array in arrays.values()])
    return [array[keep] for array in arrays.values()], int(np.count_nonzero(~keep))


def _skipped_note(count: int, what: str = "point") -> list[str]:
    if count == 0:
        return []
    verb = "was" if count == 1 else "were"
    return [f"{_plural(count, what)} with a missing or non-finite value {verb} not drawn."]


# --- axes -------------------------------------------------------------------------------


def _widen(low: float, high: float) -> tuple[float, float]:
    """A non-empty finite interval around [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(high - low)):
        return 0.0, 1.0
    if high - low > 1e-12 * max(1.0, abs(low), abs(high)):
        return low, high
    centre = (low + high) / 2
    # A tiny (even subnormal) centre would give a zero-width interval: treat it as zero.
    half = 0.1 * abs(centre) if abs(centre) > 1e-12 else 0.5
    return centre - half, centre + half


def nice_ticks(low: float, high: float, *, max_ticks: int = 6) -> tuple[float, ...]:
    """Evenly spaced round numbers covering ``[low, high]``.

    The step is 1, 2, 2.5 or 5 times a power of ten -- the smallest giving at most
    ``max_ticks`` ticks -- and the ticks run from the multiple of the step at or below
    ``low`` to the one at or above ``high`` ("loose" labelling, after Heckbert's nice
    numbers). A degenerate interval is widened first.

    Parameters
    ----------
    low, high : float
        The data range; finite.
    max_ticks : int, default=6
        At most this many ticks. At least 2 are returned, and 3 where 2 cannot cover the
        range (one around zero).

    References
    ----------
    .. [1] Heckbert PS. "Nice numbers for graph labels." In: Graphics Gems, Academic
       Press, 1990, pp. 61-63.

    Examples
    --------
    >>> nice_ticks(0.0, 1.0)
    (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    >>> nice_ticks(-0.07, 0.31)
    (-0.1, 0.0, 0.1, 0.2, 0.3, 0.4)
    >>> nice_ticks(3.0, 3.0)  # widened to [2.7, 3.3]
    (2.6, 2.8, 3.0, 3.2, 3.4)
    """
    if not (abs(low) <= 1e300 and abs(high) <= 1e300) or high < low:
        raise ValueError(
            f"low and high must be finite, at most 1e300 in size, with low <= high; "
            f"got {low!r}, {high!r}"
        )
    low, high = _widen(low, high)
    max_ticks = max(2, int(max_ticks))
    exponent = math.floor(math.log10((high - low) / (max_ticks - 1)))
    # Any step above the range gives at most three ticks (two where no multiple of it lies
    # inside the range), so with three or more allowed the search ends within three
    # decades. Two ticks can be impossible (a range around zero): then three are given.
    for power in range(exponent, exponent + 330):
        for mantissa in (1.0, 2.0, 2.5, 5.0):
            step = mantissa * 10.0**power
            first = math.floor(low / step + 1e-9)
            last = math.ceil(high / step - 1e-9)
            if last - first + 1 <= max_ticks:
                digits = max(0, 2 - power)
                return tuple(round(k * step, digits) + 0.0 for k in range(first, last + 1))
            if first < 0 < last and max_ticks < 3:
                return nice_ticks(low, high, max_ticks=3)
    raise AssertionError("unreachable: a step beyond the range always fits")


def _tick_labels(ticks: Sequence[float]) -> tuple[str, ...]:
    """Labels with the fewest decimals that still tell every tick apart exactly."""
    biggest = max((abs(tick) for tick in ticks), default=0.0)
    if biggest >= 1e6:
        return tuple(_minus(f"{tick:.3g}") for tick in ticks)
    decimals = next(
        (d for d in range(10) if all(abs(round(tick, d) - tick) < 1e-9 for tick in ticks)), 10
    )
    return tuple(_minus(f"{tick:,.{decimals}f}") for tick in ticks)


@dataclass(frozen=True)
class _Axis:
    title: str
    low: float
    high: float
    ticks: tuple[float, ...]
    labels: tuple[str, ...]


def _axis(
    title: str,
    low: float,
    high: float,
    *,
    length: float,
    vertical: bool = False,
    fixed: bool = False,
    max_ticks: int = 6,
) -> _Axis:
    """An axis over [low, high]: widened to round ticks unless ``fixed``.

    The number of ticks shrinks until neighbouring labels cannot touch: 24 px apart on a
    vertical axis, the widest label plus 8 px on a horizontal one.
    """
    low, high = _widen(low, high)
    budget = max(2, min(max_ticks, int(length // 24)))
    while True:
        ticks = nice_ticks(low, high, max_ticks=budget)
        if fixed:
            slack = 1e-9 * (high - low)
            ticks = tuple(t for t in ticks if low - slack <= t <= high + slack)
            axis_low, axis_high = low, high
        else:
            axis_low, axis_high = ticks[0], ticks[-1]
        labels = _tick_labels(ticks)
        if len(ticks) < 2 or budget == 2:
            break
        spacing = length * (ticks[1] - ticks[0]) / (axis_high - axis_low)
        needed = 24 if vertical else max(_text_width(s, _TICK_SIZE) for s in labels) + 8
        if spacing >= needed:
            break
        budget -= 1
    return _Axis(title, axis_low, axis_high, ticks, labels)


@dataclass
class _Panel:
    """One plot area of a chart; panels stack vertically and share the x axis."""

    height: float
    y: _Axis | None = None
    categories: Sequence[str] = ()  # rows, top to bottom, when y is None
    top: float = 0.0  # set by the chart's layout


@dataclass(frozen=True)
class _LegendItem:
    label: str
    colour: str
    kind: _LegendKind = "line"
    dashed: bool = False
    width: float = 2.0


# --- drawing ----------------------------------------------------------------------------


def _points(xs: NDArray[np.float64], ys: NDArray[np.float64]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def _text(
    x: float,
    y: float,
    content: str,
    *,
    size: float = _TICK_SIZE,
    anchor: str = "start",
    fill: str = _INK,
    extra: str = "",
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size:g}" text-anchor="{anchor}" '
        f'fill="{fill}"{extra}>{_escape(content)}</text>'
    )


def _dash(dashed: bool) -> str:
    return ' stroke-dasharray="5 3"' if dashed else ""


class _Canvas:
    """A titled SVG with a content box, and a legend and notes below it.

    Subclasses draw into ``body``; ``legend`` and ``notes`` may be filled at any time
    before :meth:`render`, which sizes the picture to fit them.
    """

    def __init__(
        self,
        kind: str,
        title: str,
        description: str,
        *,
        left: float,
        content_width: float,
        content_height: float,
        right: float,
        below: float,
    ) -> None:
        self.kind = kind
        self.title = title
        self.description = description
        self.left = left
        self.top = _PLOT_TOP
        self.content_width = content_width
        self.content_height = content_height
        self.below = below
        self.width = left + content_width + right
        self.defs: list[str] = []
        self.body: list[str] = []
        self.legend: list[_LegendItem] = []
        self.notes: list[str] = []

    @staticmethod
    def uid(name: str) -> str:
        return f"{_ID}-{name}"

    def _legend_svg(self, y: float) -> tuple[str, float]:
        if not self.legend:
            return "", y
        start, end = self.left, self.width - _PAD
        if end - start < 160:  # a narrow plot: use the whole width
            start = _PAD
        parts, x, y = [], start, y + _LEGEND_ROW / 2 + 4
        for item in self.legend:
            label = _fit(item.label, _TICK_SIZE, end - start - 27)
            item_width = 27 + _text_width(label, _TICK_SIZE)
            if x > start and x + item_width > end:
                x, y = start, y + _LEGEND_ROW
            parts.append(f"<g><title>{_escape(item.label)}</title>{_swatch(item, x, y)}")
            parts.append(_text(x + 27, y + 3.5, label) + "</g>")
            x += item_width + 14
        return f'<g class="legend">{"".join(parts)}</g>', y + _LEGEND_ROW / 2

    def _notes_svg(self, y: float) -> tuple[str, float]:
        start = self.left if self.width - _PAD - self.left >= 160 else _PAD
        lines = [
            line for note in self.notes for line in _wrap(note, 9.5, self.width - _PAD - start)
        ]
        parts = []
        for line in lines:
            y += _NOTE_ROW
            parts.append(_text(start, y, line, size=9.5, fill=_MUTED))
        return (f'<g class="notes">{"".join(parts)}</g>' if parts else ""), y

    def render(self) -> str:
        legend, y = self._legend_svg(self.top + self.content_height + self.below)
        notes, y = self._notes_svg(y)
        height = math.ceil(y + _PAD)
        width = math.ceil(self.width)
        description = " ".join([self.description, *self.notes])
        title = _fit(self.title, _TITLE_SIZE, width - 2 * _PAD)
        svg = "".join(
            [
                f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
                f'width="{width}" height="{height}" role="img" '
                f'aria-labelledby="{self.uid("title")} {self.uid("desc")}" '
                f'class="chart chart-{self.kind}" font-family="{_FONT}" font-size="{_TICK_SIZE:g}" '
                f'style="max-width:100%;height:auto">',
                f'<title id="{self.uid("title")}">{_escape(self.title)}</title>',
                f'<desc id="{self.uid("desc")}">{_escape(description)}</desc>',
                f"<defs>{''.join(self.defs)}</defs>" if self.defs else "",
                f'<rect width="{width}" height="{height}" fill="#fff"/>',
                _text(
                    width / 2,
                    20,
                    title,
                    size=_TITLE_SIZE,
                    anchor="middle",
                    extra=' font-weight="600"',
                ),
                *self.body,
                legend,
                notes,
                "</svg>",
            ]
        )
        # Ids derive from the content: different charts never clash in one page, and the
        # same data always renders to the same bytes.
        digest = hashlib.sha256(svg.encode("utf-8")).hexdigest()[:10]
        return svg.replace(_ID, f"mg-{self.kind}-{digest}")


def _swatch(item: _LegendItem, x: float, y: float) -> str:
    colour, right = item.colour, x + 22
    line = (
        f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{colour}" '
        f'stroke-width="{item.width:g}"{_dash(item.dashed)}/>'
    )
    dot = f'<circle cx="{x + 11:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
    if item.kind == "line":
        return line
    if item.kind == "line+marker":
        return line + dot
    if item.kind == "marker":
        return dot
    if item.kind == "tick":  # a short vertical stroke, as a median is drawn on a strip
        return (
            f'<line x1="{x + 11:.1f}" y1="{y - 6:.1f}" x2="{x + 11:.1f}" y2="{y + 6:.1f}" '
            f'stroke="{colour}" stroke-width="{item.width:g}"/>'
        )
    if item.kind == "whisker":
        caps = "".join(
            f'<line x1="{cx:.1f}" y1="{y - 4:.1f}" x2="{cx:.1f}" y2="{y + 4:.1f}" '
            f'stroke="{colour}" stroke-width="1.5"/>'
            for cx in (x + 1, right - 1)
        )
        return line + caps + dot
    opacity = "0.22" if item.kind == "band" else "0.35"
    stroke = "none" if item.kind == "band" else colour
    return (
        f'<rect x="{x:.1f}" y="{y - 5:.1f}" width="22" height="10" fill="{colour}" '
        f'fill-opacity="{opacity}" stroke="{stroke}"/>'
    )


class _Chart(_Canvas):
    """A canvas with a numeric x axis over one or more stacked panels."""

    def __init__(
        self,
        kind: str,
        title: str,
        description: str,
        *,
        x: _Axis,
        panels: Sequence[_Panel],
        plot_width: float,
        right_column: float = 0.0,
    ) -> None:
        self.x = x
        self.panels = list(panels)
        left = _PAD + 8.0
        for panel in self.panels:
            if panel.y is not None:
                tick_width = max((_text_width(s, _TICK_SIZE) for s in panel.y.labels), default=0)
                title_width = _LABEL_SIZE + 6 if panel.y.title else 0
                left = max(left, _PAD + title_width + tick_width + 6)
            else:
                label_width = max(
                    (_text_width(c, _LABEL_SIZE) for c in panel.categories), default=0
                )
                left = max(left, _PAD + min(label_width, 170) + 10)
        first_half = _text_width(x.labels[0], _TICK_SIZE) / 2 if x.labels else 0
        last_half = _text_width(x.labels[-1], _TICK_SIZE) / 2 if x.labels else 0
        left = max(left, _PAD + first_half)
        right = _PAD + max(4.0, last_half, right_column + 8 if right_column else 0)
        height = sum(p.height for p in self.panels) + _PANEL_GAP * (len(self.panels) - 1)
        super().__init__(
            kind,
            title,
            description,
            left=left,
            content_width=plot_width,
            content_height=height,
            right=right,
            below=36.0 if x.title else 20.0,
        )
        top = self.top
        for panel in self.panels:
            panel.top = top
            top += panel.height + _PANEL_GAP
        self._layers: list[list[str]] = [[] for _ in self.panels]
        self._draw_axes()

    # scales ------------------------------------------------------------------------
    def xs(self, values: ArrayLike) -> NDArray[np.float64]:
        fraction = (np.asarray(values, dtype=np.float64) - self.x.low) / (self.x.high - self.x.low)
        return np.clip(self.left + fraction * self.content_width, -_PX_LIMIT, _PX_LIMIT)

    def ys(self, values: ArrayLike, panel: int = 0) -> NDArray[np.float64]:
        frame = self.panels[panel]
        axis = frame.y
        if axis is None:  # categorical: the centre of each row
            row = frame.height / max(1, len(frame.categories))
            return frame.top + (np.asarray(values, dtype=np.float64) + 0.5) * row
        fraction = (np.asarray(values, dtype=np.float64) - axis.low) / (axis.high - axis.low)
        return np.clip(frame.top + (1 - fraction) * frame.height, -_PX_LIMIT, _PX_LIMIT)

    @property
    def right(self) -> float:
        return self.left + self.content_width

    # axes --------------------------------------------------------------------------
    def _draw_axes(self) -> None:
        body, left, right = self.body, self.left, self.right
        for index, panel in enumerate(self.panels):
            top, bottom = panel.top, panel.top + panel.height
            # The clip reaches 2 px past the frame so a line lying on it keeps its width.
            self.defs.append(
                f'<clipPath id="{self.uid(f"clip{index}")}"><rect x="{left - 2:.1f}" '
                f'y="{top - 2:.1f}" width="{self.content_width + 4:.1f}" '
                f'height="{panel.height + 4:.1f}"/></clipPath>'
            )
            body.append(
                f'<rect x="{left:.1f}" y="{top:.1f}" width="{self.content_width:.1f}" '
                f'height="{panel.height:.1f}" fill="#fff" stroke="{_FRAME}"/>'
            )
            grid = [
                f"M{x:.1f} {top:.1f}V{bottom:.1f}"
                for x in self.xs(self.x.ticks).tolist()
                if left + 0.5 < x < right - 0.5
            ]
            if panel.y is not None:
                positions = self.ys(panel.y.ticks, index).tolist()
                grid += [
                    f"M{left:.1f} {y:.1f}H{right:.1f}"
                    for y in positions
                    if top + 0.5 < y < bottom - 0.5
                ]
                for y, label in zip(positions, panel.y.labels, strict=True):
                    body.append(_text(left - 5, y + 3.5, label, anchor="end"))
                if panel.y.title:
                    centre, x = (top + bottom) / 2, _PAD + _LABEL_SIZE - 2
                    body.append(
                        _text(
                            x,
                            centre,
                            _fit(panel.y.title, _LABEL_SIZE, panel.height + 20),
                            size=_LABEL_SIZE,
                            anchor="middle",
                            extra=f' transform="rotate(-90 {x:.1f} {centre:.1f})"',
                        )
                    )
            else:
                row = panel.height / max(1, len(panel.categories))
                for position, label in enumerate(panel.categories):
                    y = top + (position + 0.5) * row
                    body.append(
                        f"<g><title>{_escape(label)}</title>"
                        + _text(
                            left - 8,
                            y + 4,
                            _fit(label, _LABEL_SIZE, 170),
                            size=_LABEL_SIZE,
                            anchor="end",
                        )
                        + "</g>"
                    )
            if grid:
                body.append(f'<path d="{"".join(grid)}" stroke="{_GRID}" fill="none"/>')
        bottom = self.panels[-1].top + self.panels[-1].height
        for x, label in zip(self.xs(self.x.ticks).tolist(), self.x.labels, strict=True):
            body.append(
                f'<line x1="{x:.1f}" y1="{bottom:.1f}" x2="{x:.1f}" y2="{bottom + 4:.1f}" stroke="{_FRAME}"/>'
                + _text(x, bottom + 15, label, anchor="middle")
            )
        if self.x.title:
            body.append(
                _text(
                    (left + right) / 2,
                    bottom + 31,
                    _fit(self.x.title, _LABEL_SIZE, self.width - 2 * _PAD),
                    size=_LABEL_SIZE,
                    anchor="middle",
                )
            )

    # series ------------------------------------------------------------------------
    def add_series(self, kind: str, label: str, shapes: str, panel: int) -> None:
        self._layers[panel].append(
            f'<g class="series series-{kind}"><title>{_escape(label)}</title>{shapes}</g>'
        )

    def line(
        self,
        xs: NDArray[np.float64],
        ys: NDArray[np.float64],
        *,
        label: str,
        colour: str,
        width: float = 2.0,
        dashed: bool = False,
        markers: bool = False,
        panel: int = 0,
    ) -> None:
        px, py = self.xs(xs), self.ys(ys, panel)
        shapes = (
            f'<polyline points="{_points(px, py)}" fill="none" stroke="{colour}" '
            f'stroke-width="{width:g}" stroke-linejoin="round"{_dash(dashed)}/>'
        )
        if markers or px.size == 1:  # a one-point polyline draws nothing
            shapes += "".join(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
                for x, y in zip(px.tolist(), py.tolist(), strict=True)
            )
        self.add_series("line", label, shapes, panel)

    def band(
        self,
        xs: NDArray[np.float64],
        low: NDArray[np.float64],
        high: NDArray[np.float64],
        *,
        label: str,
        colour: str,
        panel: int = 0,
    ) -> None:
        order = np.argsort(xs, kind="stable")
        px = self.xs(xs[order])
        outline = _points(
            np.concatenate([px, px[::-1]]),
            np.concatenate([self.ys(high[order], panel), self.ys(low[order], panel)[::-1]]),
        )
        self.add_series(
            "band",
            label,
            f'<polygon points="{outline}" fill="{colour}" fill-opacity="0.22" stroke="none"/>',
            panel,
        )

    def histogram(
        self,
        edges: NDArray[np.float64],
        heights: NDArray[np.float64],
        *,
        label: str,
        colour: str,
        panel: int = 0,
    ) -> None:
        """A filled step outline: one path per histogram, so overlaid ones stay legible."""
        px, py = self.xs(edges), self.ys(heights, panel)
        base = self.ys([0.0], panel)[0]
        steps = "".join(
            f"V{y:.1f}H{x:.1f}" for x, y in zip(px[1:].tolist(), py.tolist(), strict=True)
        )
        self.add_series(
            "histogram",
            label,
            f'<path d="M{px[0]:.1f} {base:.1f}{steps}V{base:.1f}Z" fill="{colour}" '
            f'fill-opacity="0.35" stroke="{colour}" stroke-width="1.5" stroke-linejoin="round"/>',
            panel,
        )

    def bars(
        self,
        xs: NDArray[np.float64],
        heights: NDArray[np.float64],
        *,
        width_px: float,
        label: str,
        colour: str,
        panel: int = 0,
    ) -> None:
        px, py = self.xs(xs) - width_px / 2, self.ys(heights, panel)
        base = self.ys([0.0], panel)[0]
        rects = "".join(
            f"M{x:.1f} {base:.1f}V{y:.1f}h{width_px:.1f}V{base:.1f}Z"
            for x, y in zip(px.tolist(), py.tolist(), strict=True)
        )
        self.add_series(
            "bars", label, f'<path d="{rects}" fill="{colour}" fill-opacity="0.55"/>', panel
        )

    def message(self, text: str, panel: int = 0) -> None:
        """Grey text centred in a panel, for an empty chart."""
        frame = self.panels[panel]
        self.body.append(
            _text(
                (self.left + self.right) / 2,
                frame.top + frame.height / 2,
                _fit(text, 11, self.content_width - 8),
                size=11,
                anchor="middle",
                fill=_MUTED,
                extra=' font-style="italic"',
            )
        )

    def render(self) -> str:
        for index, layer in enumerate(self._layers):
            if layer:
                self.body.append(
                    f'<g clip-path="url(#{self.uid(f"clip{index}")})">{"".join(layer)}</g>'
                )
        self._layers = [[] for _ in self.panels]
        return super().render()


# --- charts -----------------------------------------------------------------------------


def _unit_axes(x_title: str, y_title: str) -> tuple[_Axis, _Panel]:
    return (
        _axis(x_title, 0.0, 1.0, length=_SQUARE, fixed=True),
        _Panel(_SQUARE, _axis(y_title, 0.0, 1.0, length=_SQUARE, vertical=True, fixed=True)),
    )


@dataclass(frozen=True)
class Series:
    """One line of :func:`unit_square_chart`."""

    points: Sequence[tuple[float, float]]
    label: str
    colour: str = _BLUE
    markers: bool = False
    dashed: bool = False


def unit_square_chart(
    title: str, x_label: str, y_label: str, series: Sequence[Series], *, description: str
) -> str:
    """An SVG chart over [0, 1] x [0, 1] with the given series and a legend."""
    x, panel = _unit_axes(x_label, y_label)
    chart = _Chart("unit", title, description, x=x, panels=[panel], plot_width=_SQUARE)
    skipped = 0
    for line in series:
        points = np.asarray(line.points, dtype=np.float64).reshape(-1, 2)
        (xs, ys), dropped = _finite_rows(x=points[:, 0], y=points[:, 1])
        skipped += dropped
        if xs.size:
            chart.line(
                xs,
                ys,
                label=line.label,
                colour=line.colour,
                dashed=line.dashed,
                markers=line.markers,
            )
        kind: _LegendKind = "line+marker" if line.markers else "line"
        chart.legend.append(_LegendItem(line.label, line.colour, kind, dashed=line.dashed))
    chart.notes += _skipped_note(skipped)
    return chart.render()


def roc_chart(
    fpr: ArrayLike,
    tpr: ArrayLike,
    *,
    auc_label: str,
    band_fpr: ArrayLike | None = None,
    band_low: ArrayLike | None = None,
    band_high: ArrayLike | None = None,
    band_label: str = "pointwise confidence band",
) -> str:
    """ROC curve with the chance diagonal and an optional shaded pointwise band.

    Parameters
    ----------
    fpr, tpr : array-like of shape (n,)
        The curve's vertices in drawing order (false- and true-positive rates).
    auc_label : str
        Legend text of the curve, e.g. ``"AUC 0.912 (0.87-0.95)"``.
    band_fpr, band_low, band_high : array-like of shape (m,), optional
        A band of true-positive rates from ``band_low`` to ``band_high`` at each
        ``band_fpr``; all three or none.
    band_label : str, default="pointwise confidence band"
        Legend text of the band.
    """
    (fpr_, tpr_), skipped = _finite_rows(fpr=fpr, tpr=tpr)
    band_given = [value is not None for value in (band_fpr, band_low, band_high)]
    if any(band_given) and not all(band_given):
        raise ValueError("band_fpr, band_low and band_high must be given together or not at all")
    description = (
        f"Receiver operating characteristic curve ({auc_label}): sensitivity against "
        f"1 \u2212 specificity through {_plural(fpr_.size, 'point')}. The dashed diagonal is "
        "a classifier no better than chance."
    )
    x, panel = _unit_axes(
        "1 \u2212 specificity (false-positive rate)", "sensitivity (true-positive rate)"
    )
    chart = _Chart("roc", "ROC curve", description, x=x, panels=[panel], plot_width=_SQUARE)
    if all(band_given):
        (bx, blow, bhigh), band_skipped = _finite_rows(
            band_fpr=band_fpr, band_low=band_low, band_high=band_high
        )
        chart.notes += _skipped_note(band_skipped, "band point")
        if bx.size:
            chart.band(bx, blow, bhigh, label=band_label, colour=_BLUE)
            chart.legend.append(_LegendItem(band_label, _BLUE, "band"))
            chart.description += f" The shaded area is the {band_label}."
    chart.line(
        np.array([0.0, 1.0]),
        np.array([0.0, 1.0]),
        label="chance",
        colour=_MUTED,
        width=1.25,
        dashed=True,
    )
    if fpr_.size:
        chart.line(fpr_, tpr_, label=auc_label, colour=_BLUE)
    else:
        chart.message("no ROC points to draw")
    chart.legend[:0] = [_LegendItem(auc_label, _BLUE)]
    chart.legend.append(_LegendItem("chance", _MUTED, dashed=True, width=1.25))
    chart.notes += _skipped_note(skipped)
    return chart.render()


def reliability_chart(
    mean_predicted: ArrayLike,
    fraction_positive: ArrayLike,
    *,
    counts: ArrayLike | None = None,
    smooth_x: ArrayLike | None = None,
    smooth_y: ArrayLike | None = None,
    smooth_label: str = "smoothed",
) -> str:
    """Reliability diagram: observed against predicted, per bin, with optional extras.

    Parameters
    ----------
    mean_predicted, fraction_positive : array-like of shape (n_bins,)
        Per bin: the mean predicted probability and the observed fraction of positives.
    counts : array-like of shape (n_bins,), optional
        Cases per bin, drawn as a strip of bars under the diagram.
    smooth_x, smooth_y : array-like of shape (m,), optional
        A smoothed calibration curve (e.g. kernel or isotonic), drawn as a line; both or
        neither.
    smooth_label : str, default="smoothed"
        Legend text of the smoothed curve.
    """
    columns = {"mean_predicted": mean_predicted, "fraction_positive": fraction_positive}
    if counts is not None:
        columns["counts"] = counts
    values, skipped = _finite_rows(**columns)
    predicted, observed = values[0], values[1]
    if (smooth_x is None) != (smooth_y is None):
        raise ValueError("smooth_x and smooth_y must be given together or not at all")
    x, main = _unit_axes("mean predicted probability", "observed fraction positive")
    panels = [main]
    if counts is not None:
        highest = float(values[2].max()) if values[2].size else 1.0
        panels.append(
            _Panel(48.0, _axis("cases", 0.0, max(highest, 1.0), length=48.0, vertical=True))
        )
    description = (
        f"Reliability diagram: observed fraction of positive cases against mean predicted "
        f"probability in {_plural(predicted.size, 'bin')}. Points on the dashed diagonal are "
        "perfectly calibrated; points below it mean the model over-predicts risk."
    )
    chart = _Chart(
        "reliability", "Reliability diagram", description, x=x, panels=panels, plot_width=_SQUARE
    )
    chart.line(
        np.array([0.0, 1.0]),
        np.array([0.0, 1.0]),
        label="perfect calibration",
        colour=_MUTED,
        width=1.25,
        dashed=True,
    )
    chart.legend.append(_LegendItem("perfect calibration", _MUTED, dashed=True, width=1.25))
    if smooth_x is not None:
        (sx, sy), smooth_skipped = _finite_rows(smooth_x=smooth_x, smooth_y=smooth_y)
        chart.notes += _skipped_note(smooth_skipped, "smoothed-curve point")
        if sx.size:
            order = np.argsort(sx, kind="stable")
            chart.line(sx[order], sy[order], label=smooth_label, colour=_BLUE)
            chart.legend.append(_LegendItem(smooth_label, _BLUE))
    if predicted.size:
        chart.line(predicted, observed, label="bins", colour=_VERMILLION, width=1.25, markers=True)
    else:
        chart.message("no bins to draw")
    chart.legend.append(_LegendItem("bins", _VERMILLION, "line+marker", width=1.25))
    if counts is not None:
        if predicted.size:
            gaps = np.diff(np.sort(chart.xs(predicted)))
            gap = float(gaps.min()) if gaps.size and gaps.min() > 0 else 16.0
            chart.bars(
                predicted,
                np.maximum(values[2], 0.0),
                width_px=float(np.clip(0.7 * gap, 2.0, 12.0)),
                label="cases per bin",
                colour=_VERMILLION,
                panel=1,
            )
        chart.legend.append(_LegendItem("cases per bin (lower panel)", _VERMILLION, "area"))
    chart.notes += _skipped_note(skipped, "bin")
    return chart.render()


def risk_distribution_chart(
    probabilities_positive: ArrayLike,
    probabilities_negative: ArrayLike,
    *,
    bins: int = 20,
    positive_label: str = "positive",
    negative_label: str = "negative",
    min_cases_per_bin: int = 1,
) -> str:
    """Overlaid histograms of predicted risk for positive and negative cases.

    Each class is normalised to unit area on [0, 1] (a density), so classes of very
    different size can be compared by shape.

    Parameters
    ----------
    probabilities_positive, probabilities_negative : array-like
        Predicted probability of the positive class for the cases of each class.
    bins : int, default=20
        Equal-width bins on [0, 1].
    positive_label, negative_label : str
        Class names for the legend.
    min_cases_per_bin : int, default=1
        A class's bins holding fewer cases are not drawn (and counted in a note): on a
        hidden-label split a bin of one case would reveal that case's label.
    """
    bins = check_positive_int(bins, "bins")
    min_cases = check_positive_int(min_cases_per_bin, "min_cases_per_bin")
    edges = np.linspace(0.0, 1.0, bins + 1)
    classes = []
    notes: list[str] = []
    for label, values, name, colour in (
        (negative_label, probabilities_negative, "probabilities_negative", _BLUE),
        (positive_label, probabilities_positive, "probabilities_positive", _VERMILLION),
    ):
        array = _vector(values, name)
        finite = array[_plottable(array)]
        inside = finite[(finite >= 0.0) & (finite <= 1.0)]
        dropped = array.size - inside.size
        if dropped:
            notes.append(
                f"{_plural(dropped, 'value')} of {name} outside [0, 1] or not finite "
                f"{'was' if dropped == 1 else 'were'} not drawn."
            )
        counts, _ = np.histogram(inside, bins=edges)
        hidden = (counts > 0) & (counts < min_cases)
        if hidden.any():
            notes.append(
                f"{_plural(int(hidden.sum()), 'bin')} of {label} with fewer than {min_cases} "
                "cases not drawn."
            )
        density = np.where(hidden, 0.0, counts / max(inside.size, 1) * bins)
        classes.append((label, inside.size, density, colour))
    top = max((float(c[2].max()) for c in classes), default=0.0)
    plot_width, plot_height = 320.0, 190.0
    x = _axis(
        "predicted probability of the positive class", 0.0, 1.0, length=plot_width, fixed=True
    )
    y = _axis("density", 0.0, top if top > 0 else 1.0, length=plot_height, vertical=True)
    description = (
        "Histograms of the predicted probability for "
        + " and for ".join(f"{_plural(n, 'case')} labelled {label}" for label, n, _, _ in classes)
        + f", each scaled to unit area over {_plural(bins, 'bin')}. Well separated histograms "
        "mean good discrimination."
    )
    chart = _Chart(
        "risk",
        "Predicted risk by class",
        description,
        x=x,
        panels=[_Panel(plot_height, y)],
        plot_width=plot_width,
    )
    for label, n, density, colour in classes:
        if n:
            chart.histogram(edges, density, label=f"{label} (n = {n})", colour=colour)
        chart.legend.append(_LegendItem(f"{label} (n = {n})", colour, "area"))
    if all(n == 0 for _, n, _, _ in classes):
        chart.message("no predictions to draw")
    chart.notes += notes
    return chart.render()


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


def decision_curve_chart(
    thresholds: ArrayLike,
    model: ArrayLike,
    treat_all: ArrayLike,
    treat_none: ArrayLike | float = 0.0,
    *,
    model_label: str = "model",
) -> str:
    """Decision curve: net benefit against threshold probability, with both defaults.

    The y axis runs from a little below zero to the highest net benefit: treating
    everyone falls steeply below zero at high thresholds, and showing all of it would
    flatten the part that matters. A note says where it leaves the chart.

    Parameters
    ----------
    thresholds : array-like of shape (n,)
        Threshold probabilities.
    model, treat_all : array-like of shape (n,)
        Net benefit of the model and of treating everyone at each threshold.
    treat_none : array-like of shape (n,) or float, default=0.0
        Net benefit of treating no one (zero by definition).
    model_label : str, default="model"
        Legend text of the model's curve.
    """
    threshold_array = _vector(thresholds, "thresholds")
    if np.ndim(treat_none) == 0:
        treat_none = np.full(threshold_array.shape, treat_none, dtype=np.float64)
    (t, nb_model, nb_all, nb_none), skipped = _finite_rows(
        thresholds=threshold_array, model=model, treat_all=treat_all, treat_none=treat_none
    )
    order = np.argsort(t, kind="stable")
    t, nb_model, nb_all, nb_none = t[order], nb_model[order], nb_all[order], nb_none[order]
    curves = np.concatenate([nb_model, nb_all, nb_none, [0.0]])
    top = float(curves.max())
    floor = -max(0.25 * top, 0.02)
    bottom = max(float(curves.min()), floor)
    plot_width, plot_height = 320.0, 210.0
    x_low, x_high = (float(t.min()), float(t.max())) if t.size else (0.0, 1.0)
    x = _axis("threshold probability", x_low, x_high, length=plot_width)
    y = _axis("net benefit", bottom, top, length=plot_height, vertical=True)
    description = (
        f"Decision curve: net benefit of {model_label} and of treating everyone or no one "
        f"at {_plural(t.size, 'threshold')}. A model is useful where its curve lies above both."
    )
    chart = _Chart(
        "decision",
        "Decision curve",
        description,
        x=x,
        panels=[_Panel(plot_height, y)],
        plot_width=plot_width,
    )
    series = (
        ("treat none", nb_none, _INK, 1.25, False),
        ("treat all", nb_all, _MUTED, 1.5, True),
        (model_label, nb_model, _BLUE, 2.0, False),
    )
    for label, curve, colour, width, dashed in series:
        if t.size:
            chart.line(t, curve, label=label, colour=colour, width=width, dashed=dashed)
    for label, _, colour, width, dashed in reversed(series):
        chart.legend.append(_LegendItem(label, colour, dashed=dashed, width=width))
    if not t.size:
        chart.message("no thresholds to draw")
    below = t[nb_all < y.low]
    if below.size:
        chart.notes.append(
            f"Treat all falls below the axis ({_minus(f'{y.low:g}')}) from threshold "
            f"{_format_value(float(below.min()))}."
        )
    if (nb_model < y.low).any():
        chart.notes.append(f"The {model_label} curve also falls below the axis in places.")
    chart.notes += _skipped_note(skipped, "threshold")
    return chart.render()


# --- class distributions ----------------------------------------------------------------


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


def _count_axis(title: str, top: float, *, length: float) -> _Axis:
    """A y axis from 0 through ``top`` with whole-number ticks: a count has no halves,
    which :func:`nice_ticks` may give (a step of 2.5, or 0.5 below a count of 3)."""
    budget = max(2, min(6, int(length // 24)))
    top = max(math.ceil(top), 1)
    step = next(
        mantissa * 10**power
        for power in range(0, 20)
        for mantissa in (1, 2, 5)
        if math.ceil(top / (mantissa * 10**power)) + 1 <= budget
    )
    ticks = tuple(float(k * step) for k in range(math.ceil(top / step) + 1))
    return _Axis(title, 0.0, ticks[-1], ticks, _tick_labels(ticks))


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


# --- segmentation overlay ---------------------------------------------------------------


def _png_greyscale(pixels: NDArray[np.uint8]) -> bytes:
    """An 8-bit greyscale PNG: signature, IHDR, one zlib IDAT, IEND (PNG spec, ISO 15948)."""
    height, width = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    # Each scanline starts with its filter type; 0 (none) compresses well enough here.
    scanlines = np.hstack([np.zeros((height, 1), np.uint8), pixels]).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(scanlines, 9))
        + chunk(b"IEND", b"")
    )


def _block_mean(array: NDArray[np.float64], factor: int) -> NDArray[np.float64]:
    """Mean of the finite values in each ``factor`` x ``factor`` block; NaN where none."""
    height, width = array.shape
    pad = ((0, -height % factor), (0, -width % factor))
    finite = np.isfinite(array)
    sums = np.pad(np.where(finite, array, 0.0), pad)
    counts = np.pad(finite.astype(np.float64), pad)
    shape = (sums.shape[0] // factor, factor, sums.shape[1] // factor, factor)
    total, number = sums.reshape(shape).sum(axis=(1, 3)), counts.reshape(shape).sum(axis=(1, 3))
    return np.divide(total, number, out=np.full(total.shape, np.nan), where=number > 0)


def _downsample_mask(mask: NDArray[np.bool_], factor: int) -> NDArray[np.bool_]:
    """Majority vote per block, or any-vote if the majority would erase the whole mask."""
    share = _block_mean(mask.astype(np.float64), factor)
    majority = share >= 0.5
    return majority if majority.any() or not mask.any() else share > 0


def _greyscale(image: NDArray[np.float64]) -> NDArray[np.uint8]:
    """Window the 1st-99th percentile of the finite pixels onto 0-255 (CT-style outliers)."""
    finite = np.isfinite(image)
    if not finite.any():
        return np.zeros(image.shape, np.uint8)
    low, high = np.percentile(image[finite], [1, 99])
    if high <= low:
        low, high = float(image[finite].min()), float(image[finite].max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return np.round(np.clip(np.where(finite, scaled, 0.0), 0.0, 1.0) * 255).astype(np.uint8)


def _runs(edges: NDArray[np.bool_]) -> NDArray[np.intp]:
    """``(line, start, stop)`` of each run of True along the rows of ``edges``."""
    padded = np.pad(edges, ((0, 0), (1, 1))).astype(np.int8)
    change = np.diff(padded, axis=1)
    starts, stops = np.argwhere(change == 1), np.argwhere(change == -1)
    return np.column_stack([starts[:, 0], starts[:, 1], stops[:, 1]])


def _outline_path(mask: NDArray[np.bool_], *, x0: float, y0: float, scale: float) -> str:
    """Path data along every pixel edge between the mask and its outside.

    Edges are merged into straight runs, so a 256-px square costs four segments. They are
    not chained into closed loops, which is why the two outlines differ by width rather
    than by dashing (a dash pattern restarts on every segment).
    """
    padded = np.pad(mask, 1)
    horizontal = padded[1:, 1:-1] != padded[:-1, 1:-1]  # edge on top of row r, column c
    vertical = padded[1:-1, 1:] != padded[1:-1, :-1]  # edge left of column c, row r

    def fmt(values: NDArray[np.float64]) -> list[str]:
        return [f"{v:.2f}".rstrip("0").rstrip(".") for v in values.tolist()]

    parts = []
    runs = _runs(horizontal)
    if runs.size:
        ys, xs, xe = (fmt(base + runs[:, i] * scale) for i, base in ((0, y0), (1, x0), (2, x0)))
        parts += [f"M{a} {b}H{c}" for a, b, c in zip(xs, ys, xe, strict=True)]
    runs = _runs(vertical.T)
    if runs.size:
        xs, ys, ye = (fmt(base + runs[:, i] * scale) for i, base in ((0, x0), (1, y0), (2, y0)))
        parts += [f"M{a} {b}V{c}" for a, b, c in zip(xs, ys, ye, strict=True)]
    return "".join(parts)


def _image_2d(values: ArrayLike, name: str) -> NDArray[np.float64]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a 2-D array of numbers; {error}") from None
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D slice; got an array of shape {array.shape} "
            "(pick one slice, e.g. volume[:, :, k], and squeeze channel axes)"
        )
    return array


def segmentation_overlay(
    image_2d: ArrayLike, reference_2d: ArrayLike, prediction_2d: ArrayLike, *, title: str
) -> str:
    """An image slice with the outlines of the reference and the predicted mask.

    The slice is embedded as a greyscale PNG (windowed to its 1st-99th percentile) and
    each mask's boundary is drawn as an SVG path along pixel edges: the reference thick
    and sky blue, the prediction thin and orange on top, so both stay visible where they
    coincide. Slices larger than 256 px are block-averaged down to at most 256 px (masks
    by majority vote per block).

    Parameters
    ----------
    image_2d : array-like of shape (h, w)
        The image; non-finite pixels are drawn black.
    reference_2d, prediction_2d : array-like of shape (h, w)
        Masks; a pixel is inside where its value exceeds 0.5 (so bool, 0/1 labels and
        probabilities thresholded at 0.5 all work).
    title : str
        The chart's title, e.g. the case and slice shown.
    """
    image = _image_2d(image_2d, "image_2d")
    image = np.where(_plottable(image), image, np.nan)
    masks = {}
    for name, values in (("reference_2d", reference_2d), ("prediction_2d", prediction_2d)):
        mask = _image_2d(values, name)
        if mask.shape != image.shape:
            raise ValueError(
                f"{name} must have the shape of image_2d {image.shape}; got {mask.shape}"
            )
        masks[name] = np.nan_to_num(mask, nan=0.0) > 0.5
    reference, prediction = masks["reference_2d"], masks["prediction_2d"]
    notes = []
    if image.size and not np.isfinite(image).all():
        notes.append(
            f"{_plural(int((~np.isfinite(image)).sum()), 'pixel')} with no finite value drawn black."
        )
    height, width = image.shape
    factor = math.ceil(max(height, width) / _MAX_IMAGE_SIDE) if image.size else 1
    if factor > 1:
        image = _block_mean(image, factor)
        reference, prediction = (
            _downsample_mask(reference, factor),
            _downsample_mask(prediction, factor),
        )
        notes.append(
            f"Downsampled from {height} \u00d7 {width} to {image.shape[0]} \u00d7 {image.shape[1]} pixels."
        )
    shown_height, shown_width = image.shape
    scale = _MAX_IMAGE_SIDE / max(shown_height, shown_width, 1)
    box_width, box_height = shown_width * scale, shown_height * scale
    description = (
        f"{title}: a {height} \u00d7 {width} image slice with the reference outline (thick, sky "
        f"blue; {_plural(int(masks['reference_2d'].sum()), 'pixel')}) and the predicted outline "
        f"(thin, orange; {_plural(int(masks['prediction_2d'].sum()), 'pixel')})."
    )
    canvas = _Canvas(
        "overlay",
        title,
        description,
        left=_PAD,
        content_width=max(box_width, _MAX_IMAGE_SIDE),
        content_height=max(box_height, 1.0) if image.size else 120.0,
        right=_PAD,
        below=4.0,
    )
    x0 = canvas.left + (canvas.content_width - box_width) / 2
    y0 = canvas.top
    if not image.size:
        canvas.body.append(
            _text(
                canvas.left + canvas.content_width / 2,
                y0 + 60,
                "empty slice: nothing to draw",
                size=11,
                anchor="middle",
                fill=_MUTED,
                extra=' font-style="italic"',
            )
        )
    else:
        uri = base64.b64encode(_png_greyscale(_greyscale(image))).decode("ascii")
        canvas.body.append(
            f'<g class="series series-image"><title>{_escape(title)}</title>'
            f'<image x="{x0:.1f}" y="{y0:.1f}" width="{box_width:.1f}" height="{box_height:.1f}" '
            f'preserveAspectRatio="none" style="image-rendering:pixelated" '
            f'href="data:image/png;base64,{uri}"/></g>'
        )
    for label, mask, colour, stroke in (
        ("reference", reference, _SKY, 3.0),
        ("prediction", prediction, _ORANGE, 1.5),
    ):
        canvas.legend.append(_LegendItem(label, colour, width=stroke))
        if not mask.any():
            if image.size:
                notes.append(f"The {label} mask is empty on this slice.")
            continue
        canvas.body.append(
            f'<g class="series series-outline"><title>{label}</title><path d="'
            f'{_outline_path(mask, x0=x0, y0=y0, scale=scale)}" fill="none" stroke="{colour}" '
            f'stroke-width="{stroke:g}" stroke-linecap="square" stroke-opacity="0.95"/></g>'
        )
    canvas.notes += notes
    return canvas.render()
