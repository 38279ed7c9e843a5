"""A canvas with a numeric x axis over stacked panels: scales, axes and the series drawn in them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.charts._axes import _Axis, _Panel
from grader.charts._canvas import _Canvas, _dash, _points, _text
from grader.charts._style import (
    _FRAME,
    _GRID,
    _LABEL_SIZE,
    _MUTED,
    _PAD,
    _PANEL_GAP,
    _PX_LIMIT,
    _TICK_SIZE,
)
from grader.charts._text import _escape, _fit, _text_width


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
