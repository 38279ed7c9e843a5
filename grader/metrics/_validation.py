"""Input checks shared by all metrics.

Every message names the argument, says what was received and what is expected, because
the person reading it is often a student whose submission produced the predictions.
Nothing here repairs data: out-of-range probabilities are never clipped, non-finite
scores are never dropped.
"""

from __future__ import annotations

import math
import numbers
from statistics import NormalDist

import numpy as np
from numpy.typing import ArrayLike, NDArray

_MAX_VALUES_SHOWN = 10


def _show(value: object) -> str:
    # repr() of a numpy scalar reads "np.float64(1.2)"; a student should see "1.2".
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as a 1-D numeric array: {exc}") from exc
    if array.ndim != 1:
        got = "a scalar" if array.ndim == 0 else f"an array of shape {array.shape}"
        raise ValueError(
            f"{name} must be 1-D with one entry per case; got {got}. For an (n, 2) array of "
            f"class probabilities pass the positive-class column {name}[:, 1]; for an (n, 1) "
            f"column pass {name}.ravel()"
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty; a metric needs at least one case")
    return array


def _describe_values(array: np.ndarray) -> str:
    distinct = np.unique(array)
    shown = distinct[:_MAX_VALUES_SHOWN].tolist()
    if distinct.size <= _MAX_VALUES_SHOWN:
        return str(shown)
    return f"{str(shown)[:-1]}, ...] ({distinct.size} distinct values)"


def check_binary_labels(y_true: ArrayLike, *, name: str = "y_true") -> NDArray[np.bool_]:
    """Validate binary ground-truth labels and return them as a boolean "is positive" array.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Labels coded 0 (negative) and 1 (positive), as bool, integer or float 0.0/1.0.
    name : str, default="y_true"
        Argument name used in error messages.

    Returns
    -------
    ndarray of bool, shape (n,)
        True for positive cases.

    Raises
    ------
    ValueError
        If the labels are not 1-D, are empty, are not numeric, or contain anything but 0 and 1.
    """
    array = _as_1d(y_true, name)
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind not in "iuf":
        raise ValueError(
            f"{name} must be numeric labels 0 and 1 (bool, integer or float); "
            f"got dtype {array.dtype}"
        )
    is_positive = array == 1
    if not np.all(is_positive | (array == 0)):
        raise ValueError(
            f"{name} must contain only 0 and 1; got values {_describe_values(array)} "
            f"(encode the positive class as 1 and the negative class as 0)"
        )
    return is_positive


def check_scores(
    y_score: ArrayLike,
    n_cases: int,
    *,
    name: str = "y_score",
    labels_name: str = "y_true",
    probabilities: bool = False,
) -> NDArray[np.float64]:
    """Validate per-case scores (or probabilities) and return them as float64.

    Parameters
    ----------
    y_score : array-like of shape (n,)
        Real-valued scores, one per case.
    n_cases : int
        Number of labels the scores must match.
    name, labels_name : str
        Argument names used in error messages.
    probabilities : bool, default=False
        Also require every value to lie in [0, 1].

    Returns
    -------
    ndarray of float64, shape (n,)

    Raises
    ------
    ValueError
        If the scores are not 1-D, not real numbers, a different length from the labels,
        contain NaN or infinity, or (for probabilities) lie outside [0, 1].
    """
    array = _as_1d(y_score, name)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be real numbers; got dtype {array.dtype}")
    if array.shape[0] != n_cases:
        raise ValueError(
            f"{labels_name} and {name} must have the same length; got "
            f"len({labels_name})={n_cases} and len({name})={array.shape[0]}"
        )
    scores = array.astype(np.float64, copy=False)
    finite = np.isfinite(scores)
    if not finite.all():
        n_bad = int(scores.size - np.count_nonzero(finite))
        raise ValueError(
            f"{name} contains {n_bad} NaN/inf values; every case needs a finite prediction "
            f"(medgrade never drops or imputes cases)"
        )
    if probabilities:
        outside = (scores < 0.0) | (scores > 1.0)
        if outside.any():
            low, high = _show(scores.min()), _show(scores.max())
            raise ValueError(
                f"{name} must be probabilities in [0, 1]; {int(np.count_nonzero(outside))} "
                f"values are outside (min {low}, max {high}). medgrade never clips or applies "
                f"a sigmoid: convert logits to probabilities in the submission"
            )
    return scores


def check_binary_inputs(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    score_name: str = "y_score",
    probabilities: bool = False,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Validate a (labels, scores) pair with :func:`check_binary_labels`, :func:`check_scores`."""
    labels = check_binary_labels(y_true)
    scores = check_scores(y_score, labels.shape[0], name=score_name, probabilities=probabilities)
    return labels, scores


def check_alpha(alpha: float) -> float:
    """Validate a significance level in (0, 1) and return it as float."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be a number in (0, 1), e.g. 0.05; got {_show(alpha)}")
    return float(alpha)


def check_threshold(threshold: float) -> float:
    """Validate a decision threshold (any finite real number) and return it as float."""
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not math.isfinite(threshold)
    ):
        raise ValueError(f"threshold must be a finite number, e.g. 0.5; got {_show(threshold)}")
    return float(threshold)


def check_positive_int(value: int, name: str) -> int:
    """Validate an integer option that must be at least 1 and return it as int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1; got {_show(value)}")
    return int(value)


def normal_quantile(alpha: float) -> float:
    """Return z_{1 - alpha/2}, the two-sided standard normal critical value."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)


def percent(alpha: float) -> str:
    """Format the confidence level of a ``1 - alpha`` interval, e.g. ``"95%"``."""
    return f"{100.0 * (1.0 - alpha):g}%"
