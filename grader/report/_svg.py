"""Inline SVG charts for the HTML reports.

Written by hand rather than with matplotlib: the reports need two kinds of unit-square
chart, and an 80-line writer keeps them self-contained, accessible (titled, labelled) and
free of a heavy plotting dependency and its start-up cost in every grading process.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

_SIZE, _MARGIN = 320, 44
_PLOT = _SIZE - 2 * _MARGIN


def _x(value: float) -> float:
    return _MARGIN + value * _PLOT


def _y(value: float) -> float:
    return _SIZE - _MARGIN - value * _PLOT


@dataclass(frozen=True)
class Series:
    points: Sequence[tuple[float, float]]
    label: str
    colour: str = "#1f5fa8"
    markers: bool = False
    dashed: bool = False


def unit_square_chart(
    title: str, x_label: str, y_label: str, series: Sequence[Series], *, description: str
) -> str:
    """An SVG chart over [0, 1] x [0, 1] with the given series and a legend."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_SIZE} {_SIZE}" width="{_SIZE}" '
        f'height="{_SIZE}" role="img" aria-labelledby="t d" class="chart">',
        f'<title id="t">{escape(title)}</title><desc id="d">{escape(description)}</desc>',
        f'<rect x="{_MARGIN}" y="{_MARGIN}" width="{_PLOT}" height="{_PLOT}" fill="#fff" stroke="#888"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<line x1="{_x(tick):.1f}" y1="{_y(0):.1f}" x2="{_x(tick):.1f}" y2="{_y(1):.1f}" stroke="#eee"/>'
            f'<line x1="{_x(0):.1f}" y1="{_y(tick):.1f}" x2="{_x(1):.1f}" y2="{_y(tick):.1f}" stroke="#eee"/>'
            f'<text x="{_x(tick):.1f}" y="{_y(0) + 14:.1f}" font-size="10" text-anchor="middle">{tick:g}</text>'
            f'<text x="{_x(0) - 6:.1f}" y="{_y(tick) + 3:.1f}" font-size="10" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{_SIZE / 2}" y="{_SIZE - 8}" font-size="11" text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="12" y="{_SIZE / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {_SIZE / 2})">{escape(y_label)}</text>'
        f'<text x="{_SIZE / 2}" y="18" font-size="12" font-weight="bold" text-anchor="middle">{escape(title)}</text>'
    )
    for index, line in enumerate(series):
        coordinates = " ".join(f"{_x(x):.1f},{_y(y):.1f}" for x, y in line.points)
        dash = ' stroke-dasharray="4 3"' if line.dashed else ""
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{line.colour}" stroke-width="2"{dash}>'
            f"<title>{escape(line.label)}</title></polyline>"
        )
        if line.markers:
            parts.extend(
                f'<circle cx="{_x(x):.1f}" cy="{_y(y):.1f}" r="3" fill="{line.colour}"/>'
                for x, y in line.points
            )
        legend_y = _MARGIN + 12 + 14 * index
        parts.append(
            f'<line x1="{_x(0.55):.1f}" y1="{legend_y + _PLOT - 60:.1f}" x2="{_x(0.62):.1f}" '
            f'y2="{legend_y + _PLOT - 60:.1f}" stroke="{line.colour}" stroke-width="2"{dash}/>'
            f'<text x="{_x(0.64):.1f}" y="{legend_y + _PLOT - 57:.1f}" font-size="10">{escape(line.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def roc_chart(fpr: Sequence[float], tpr: Sequence[float], *, auc_label: str) -> str:
    return unit_square_chart(
        "ROC curve",
        "1 - specificity (false-positive rate)",
        "sensitivity (true-positive rate)",
        [
            Series(list(zip(fpr, tpr, strict=True)), auc_label),
            Series([(0, 0), (1, 1)], "chance", colour="#999", dashed=True),
        ],
        description=f"Receiver operating characteristic curve; {auc_label}.",
    )


def reliability_chart(mean_predicted: Sequence[float], fraction_positive: Sequence[float]) -> str:
    return unit_square_chart(
        "Reliability diagram",
        "mean predicted probability",
        "observed fraction positive",
        [
            Series(
                list(zip(mean_predicted, fraction_positive, strict=True)),
                "model",
                colour="#b5471b",
                markers=True,
            ),
            Series([(0, 0), (1, 1)], "perfect calibration", colour="#999", dashed=True),
        ],
        description="Observed frequency of the positive class against the mean predicted probability, per bin.",
    )
