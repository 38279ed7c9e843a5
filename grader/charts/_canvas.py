"""The SVG document: title, description, legend and notes, and content-derived ids."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from grader.charts._style import (
    _FONT,
    _INK,
    _LEGEND_ROW,
    _MUTED,
    _NOTE_ROW,
    _PAD,
    _PLOT_TOP,
    _TICK_SIZE,
    _TITLE_SIZE,
)
from grader.charts._text import _escape, _fit, _text_width, _wrap

# Stands for the chart's id prefix until the chart is complete (see _Canvas.render). It is
# a character _escape removes, so no text passed in can contain it.
_ID = "\x00"

_LegendKind = Literal["line", "line+marker", "marker", "tick", "band", "area", "whisker"]


@dataclass(frozen=True)
class _LegendItem:
    label: str
    colour: str
    kind: _LegendKind = "line"
    dashed: bool = False
    width: float = 2.0


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
