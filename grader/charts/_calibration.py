"""Whether predicted risks can be trusted and acted on: the reliability diagram and the
decision curve."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from grader.charts._axes import _axis, _Panel, _unit_axes
from grader.charts._canvas import _LegendItem
from grader.charts._chart import _Chart
from grader.charts._data import _finite_rows, _skipped_note, _vector
from grader.charts._style import _BLUE, _INK, _MUTED, _SQUARE, _VERMILLION
from grader.charts._text import _format_value, _minus, _plural


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
