"""How well a model separates the classes: the ROC curve (and other curves on the unit
square) and the predicted-risk histograms of each class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from grader.charts._axes import _axis, _Panel, _unit_axes
from grader.charts._canvas import _LegendItem, _LegendKind
from grader.charts._chart import _Chart
from grader.charts._data import _finite_rows, _plottable, _skipped_note, _vector
from grader.charts._style import _BLUE, _MUTED, _SQUARE, _VERMILLION
from grader.charts._text import _plural
from grader.metrics._validation import check_positive_int


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
