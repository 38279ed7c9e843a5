"""Input handling shared by the charts: 1-D columns, dropping non-finite rows, saying so."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.charts._text import _plural

# Larger magnitudes are treated like NaN: no chart can show them, and scaling them would
# overflow.
_MAX_MAGNITUDE = 1e150


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
