"""Axes: round tick values (:func:`nice_ticks`), their labels, and the panels they frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from grader.charts._style import _SQUARE, _TICK_SIZE
from grader.charts._text import _minus, _text_width


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


def _unit_axes(x_title: str, y_title: str) -> tuple[_Axis, _Panel]:
    return (
        _axis(x_title, 0.0, 1.0, length=_SQUARE, fixed=True),
        _Panel(_SQUARE, _axis(y_title, 0.0, 1.0, length=_SQUARE, vertical=True, fixed=True)),
    )
