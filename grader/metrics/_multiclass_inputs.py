"""Checks of multiclass inputs: integer class labels ``0..K-1``, and predictions that are
either 1-D labels or an ``(n, K)`` matrix of class probabilities.

Nothing is repaired: rows are never renormalised, logits never pass through a softmax and
no case is dropped, so the message tells the submission's author what to fix. ``K`` comes
from ``n_classes``, the matrix's columns or the largest label, and the validated inputs say
which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._validation import _describe_values, _show, check_positive_int

#: How far a row of class probabilities may sum from 1 (float32 softmax outputs pass).
ROW_SUM_TOLERANCE = 1e-6
_MAX_ROW_ENTRIES_SHOWN = 10
_MAX_INFERRED_CLASSES = 1000


def _read_array(values: ArrayLike, name: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from exc


def _describe_labels(values: NDArray[np.float64]) -> str:
    # Labels are held as float64 for the checks; show whole numbers as a student wrote them.
    whole = (values == np.round(values)) & (np.abs(values) < 2.0**62)
    if whole.all():
        return _describe_values(values.astype(np.int64))
    return _describe_values(values)


def _class_labels(array: np.ndarray, name: str) -> NDArray[np.float64]:
    """Check a 1-D array holds whole numbers >= 0 and return it as float64 (range unchecked).

    Float64 keeps the range check against ``K`` exact for any integer dtype before the
    cast to ``intp``; labels beyond 2**53 are out of range whatever their rounding.
    """
    if array.size == 0:
        raise ValueError(f"{name} is empty; a metric needs at least one case")
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be integer class labels 0..K-1 (bool, integer or whole floats); "
            f"got dtype {array.dtype}"
        )
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        raise ValueError(
            f"{name} contains {int(values.size - np.count_nonzero(finite))} NaN/inf values; "
            f"every case needs a class label (medgrade never drops or imputes cases)"
        )
    if not np.all(values == np.round(values)):
        fractional = values[values != np.round(values)]
        raise ValueError(
            f"{name} must be integer class labels 0..K-1; got non-integer values "
            f"{_describe_values(fractional)}"
        )
    if values.min() < 0:
        raise ValueError(
            f"{name} must be class labels 0..K-1; got negative values "
            f"{_describe_labels(values[values < 0])}"
        )
    return values


def _check_n_classes(n_classes: int | None) -> int | None:
    if n_classes is None:
        return None
    k = check_positive_int(n_classes, "n_classes")
    if k < 2:
        raise ValueError(f"n_classes must be at least 2 for a multiclass metric; got {k}")
    return k


def _show_row(row: NDArray[np.float64]) -> str:
    shown = [_show(v) for v in row[:_MAX_ROW_ENTRIES_SHOWN]]
    more = f", ... ({row.shape[0]} columns)" if row.shape[0] > _MAX_ROW_ENTRIES_SHOWN else ""
    return "[" + ", ".join(shown) + more + "]"


def _check_probability_matrix(
    array: np.ndarray, n_cases: int, name: str, n_classes: int | None
) -> NDArray[np.float64]:
    """Validate an (n, K) matrix of class probabilities; nothing is clipped or renormalised."""
    if array.ndim != 2:
        got = "a scalar" if array.ndim == 0 else f"an array of shape {array.shape}"
        raise ValueError(
            f"{name} must be an (n, K) matrix of class probabilities, one row per case; "
            f"got {got}. For a binary task with one probability per case use roc_auc"
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be real numbers; got dtype {array.dtype}")
    if array.shape[0] != n_cases:
        raise ValueError(
            f"y_true and {name} must have the same number of cases; got len(y_true)={n_cases} "
            f"and {name}.shape[0]={array.shape[0]}"
        )
    if n_classes is not None and array.shape[1] != n_classes:
        raise ValueError(
            f"{name} must have one column per class; got {array.shape[1]} columns but "
            f"n_classes={n_classes}"
        )
    if array.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least 2 columns (one per class); got shape {array.shape}"
        )
    probs = array.astype(np.float64, copy=False)
    problem = probability_row_problem(probs)
    if problem is None:
        return probs
    row = f"row {problem.row} = {_show_row(probs[problem.row])}"
    if problem.kind == "non_finite":
        raise ValueError(
            f"{name} contains NaN/inf in {problem.n_rows} rows (first: {row}); every case needs "
            f"finite probabilities (medgrade never drops or imputes cases)"
        )
    if problem.kind == "out_of_range":
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; {problem.n_rows} rows have values "
            f"outside (worst: {row}). medgrade never clips or applies a softmax: convert logits "
            f"to probabilities in the submission"
        )
    raise ValueError(
        f"each row of {name} must sum to 1 (within {ROW_SUM_TOLERANCE:g}); {problem.n_rows} "
        f"rows do not (worst: {row} sums to {_show(probs[problem.row].sum())}). medgrade never "
        f"renormalises: apply a softmax over all classes in the submission"
    )


@dataclass(frozen=True)
class RowProblem:
    """How a matrix fails to hold one probability distribution per row: the first check it
    fails, how many rows fail it, and the row to show (the first or the worst)."""

    kind: Literal["non_finite", "out_of_range", "row_sum"]
    n_rows: int
    row: int


def probability_row_problem(probs: NDArray[np.float64]) -> RowProblem | None:
    """The first of medgrade's checks of class probabilities an (n, K) float matrix fails:
    every value finite, every value in [0, 1], every row summing to 1 within
    :data:`ROW_SUM_TOLERANCE`.  None when it passes.  Callers word the message for their
    reader (a metric's caller, or a student whose submission returned the matrix)."""
    bad_rows = ~np.isfinite(probs).all(axis=1)
    if bad_rows.any():
        return RowProblem("non_finite", int(np.count_nonzero(bad_rows)), int(np.argmax(bad_rows)))
    excess = np.maximum(probs - 1.0, -probs).max(axis=1)
    if (excess > 0.0).any():
        return RowProblem(
            "out_of_range", int(np.count_nonzero(excess > 0.0)), int(np.argmax(excess))
        )
    deviation = np.abs(probs.sum(axis=1) - 1.0)
    off = deviation > ROW_SUM_TOLERANCE
    if off.any():
        return RowProblem("row_sum", int(np.count_nonzero(off)), int(np.argmax(deviation)))
    return None


@dataclass(frozen=True, slots=True)
class _Inputs:
    labels: NDArray[np.intp]
    predicted: NDArray[np.intp]
    probs: NDArray[np.float64] | None
    n_classes: int
    k_source: str  # where K came from, for the method text
    argmax_from: str | None  # argument whose row-wise argmax gave the predictions

    @property
    def note(self) -> str:
        """Where K and the predicted labels came from, for a label metric's method text."""
        if self.argmax_from is None:
            return self.k_source
        return (
            f"{self.k_source}; predicted class = row-wise argmax of {self.argmax_from}, "
            f"ties to the lowest class"
        )


def _check_range(values: NDArray[np.float64], k: int, name: str, k_source: str) -> None:
    outside = values >= k
    if outside.any():
        raise ValueError(
            f"{name} must hold class labels 0..{k - 1} ({k_source}); got values "
            f"{_describe_labels(values[outside])} outside that range"
        )


def _check_inputs(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    n_classes: int | None,
    *,
    name: str,
    labels_allowed: bool,
) -> _Inputs:
    """Validate labels and predictions (1-D labels or an (n, K) probability matrix)."""
    true_array = _read_array(y_true, "y_true")
    if true_array.ndim != 1:
        got = "a scalar" if true_array.ndim == 0 else f"an array of shape {true_array.shape}"
        raise ValueError(
            f"y_true must be 1-D class labels 0..K-1, one per case; got {got}. For one-hot "
            f"labels pass y_true.argmax(axis=1)"
        )
    true_values = _class_labels(true_array, "y_true")
    n_cases = true_values.shape[0]
    k_given = _check_n_classes(n_classes)
    pred_array = _read_array(y_pred, name)

    probs: NDArray[np.float64] | None = None
    pred_values: NDArray[np.float64] | None = None
    if pred_array.ndim == 1 and labels_allowed:
        if pred_array.dtype.kind == "f":
            fractional = np.isfinite(pred_array) & (pred_array != np.round(pred_array))
            if fractional.any():
                raise ValueError(
                    f"{name} is 1-D, so it is read as predicted class labels, but it holds "
                    f"non-integer values (e.g. {_show(pred_array[fractional][0])}); pass "
                    f"integer labels 0..K-1 or the (n, K) matrix of class probabilities"
                )
        pred_values = _class_labels(pred_array, name)
        if pred_values.shape[0] != n_cases:
            raise ValueError(
                f"y_true and {name} must have the same length; got len(y_true)={n_cases} and "
                f"len({name})={pred_values.shape[0]}"
            )
    else:
        probs = _check_probability_matrix(pred_array, n_cases, name, k_given)

    if k_given is not None:
        k, k_source = k_given, f"n_classes={k_given}"
    elif probs is not None:
        k, k_source = probs.shape[1], f"K={probs.shape[1]} from the columns of {name}"
    else:
        assert pred_values is not None
        largest = max(true_values.max(), pred_values.max())
        if largest >= _MAX_INFERRED_CLASSES:
            # Per-class counts take O(K) memory; a stray huge label must not set K.
            raise ValueError(
                f"the largest label in y_true and {name} is {int(largest)}; "
                f"K is inferred from labels only up to {_MAX_INFERRED_CLASSES} classes, "
                f"pass n_classes to state K"
            )
        k = int(largest) + 1
        k_source = f"K={k} inferred from the largest label; pass n_classes to fix K"
    _check_range(true_values, k, "y_true", k_source)
    if pred_values is not None:
        _check_range(pred_values, k, name, k_source)
        predicted = pred_values.astype(np.intp)
        argmax_from = None
    else:
        assert probs is not None
        predicted = np.argmax(probs, axis=1).astype(np.intp, copy=False)
        argmax_from = name
    return _Inputs(true_values.astype(np.intp), predicted, probs, k, k_source, argmax_from)
