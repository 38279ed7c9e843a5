"""Weighted batch kernels: a metric under every row of a matrix of case weights at once.

``W`` is a ``(B, n)`` matrix of non-negative case weights, typically the draw counts of
:func:`~grader.metrics._bootstrap.resample_weights` (``W[b, i]`` copies of case ``i`` in
resample ``b``). A metric that is a ratio of weighted sums computes all ``B`` resampled
values in a few array passes, with no Python loop over resamples:

==========================  ==================================================
kernel                      value for row ``b``
==========================  ==================================================
:func:`weighted_roc_auc`     AUC of the data with case ``i`` repeated ``W[b, i]`` times
:func:`weighted_proportion`  ``sum(W * success * trial) / sum(W * trial)``
:func:`weighted_brier`       ``sum(W * (p - y)^2) / sum(W)``
:func:`weighted_mean`        ``sum(W * x) / sum(W)``
==========================  ==================================================

A kernel applied to ``W = 1`` (a single row of ones) gives the ordinary metric; applied to
integer ``W`` it gives the metric of the explicitly repeated data. Kernels return NaN for
a row on which the metric is undefined (no positive case, zero total weight) and
:func:`~grader.metrics._bootstrap.percentile_interval` ignores those rows; callers say how
many there were in ``MetricResult.method``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import check_weights
from grader.metrics._validation import check_binary_inputs, check_scores


def _ratio(numerator: NDArray[np.float64], denominator: NDArray[np.float64]) -> NDArray:
    # NaN, not a warning, where the denominator is 0 (the metric is undefined there).
    out = np.full(numerator.shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def weighted_roc_auc(
    y_true: ArrayLike, y_score: ArrayLike, weights: ArrayLike
) -> NDArray[np.float64]:
    r"""ROC AUC under each row of case weights, for all rows at once.

    .. math::

        \mathrm{AUC}_b = \frac{\sum_{i \in P} \sum_{j \in N} w_{bi} w_{bj}
        \psi(s_i, s_j)}{\left(\sum_{i \in P} w_{bi}\right)\left(\sum_{j \in N} w_{bj}\right)}

    with :math:`\psi = 1, 1/2, 0` as the positive scores above, ties with, or below the
    negative one. With integer weights this is the AUC of the data in which case ``i`` is
    repeated ``w_bi`` times; with all weights 1 it is ``roc_auc``.

    Each class's scores are sorted once. For each positive ``i``, ``lo_i`` and ``hi_i``
    count the negatives scoring below and at-or-below it (``searchsorted``); with
    :math:`C_b[k]` the weight of the ``k`` lowest-scoring negatives (a cumulative sum over
    the sorted negatives), positive ``i`` earns :math:`(C_b[lo_i] + C_b[hi_i]) / 2` -- full
    credit for negatives below, half for tied ones, i.e. midrank tie handling -- and the
    numerator is a row-wise dot product with the positives' weights. Time and memory are
    O(B n) after the O(n log n) sort, with no loop over rows.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels.
    y_score : array-like of shape (n,)
        Finite real scores.
    weights : array-like of shape (B, n)
        Non-negative finite case weights, e.g. from :func:`resample_weights`.

    Returns
    -------
    ndarray of float64, shape (B,)
        NaN for a row that gives no weight to any positive or to any negative case.

    Examples
    --------
    >>> y, s = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    >>> # row 2 drops the negative at 0.4 (perfect separation); row 3 has no positive
    >>> weighted_roc_auc(y, s, [[1, 1, 1, 1], [2, 0, 1, 1], [1, 1, 0, 0]]).tolist()
    [0.75, 1.0, nan]
    """
    labels, scores = check_binary_inputs(y_true, y_score)
    w = check_weights(weights, labels.shape[0])
    pos_columns = np.flatnonzero(labels)
    neg_columns = np.flatnonzero(~labels)
    pos_columns = pos_columns[np.argsort(scores[pos_columns], kind="stable")]
    neg_columns = neg_columns[np.argsort(scores[neg_columns], kind="stable")]
    neg_sorted = scores[neg_columns]
    # Positives in score order make lo and hi non-decreasing, so the gathers below walk
    # each row of the cumulative counts forwards.
    lo = np.searchsorted(neg_sorted, scores[pos_columns], side="left")
    hi = np.searchsorted(neg_sorted, scores[pos_columns], side="right")

    # cumulative[:, k - 1] = weight of the k lowest-scoring negatives. Float64 keeps integer
    # counts exact up to 2**53, so integer weights give the AUC of the repeated data exactly.
    cumulative = np.cumsum(np.take(w, neg_columns, axis=1), axis=1, dtype=np.float64)
    w_pos = np.take(w, pos_columns, axis=1)

    def weighted_credit(below: NDArray[np.intp]) -> NDArray[np.float64]:
        # Positives with no negative below them (a prefix, as `below` is sorted) earn 0.
        first = int(np.searchsorted(below, 1))
        gathered = np.take(cumulative, below[first:] - 1, axis=1)
        return np.einsum("bi,bi->b", w_pos[:, first:], gathered)

    numerator = weighted_credit(lo)
    if np.any(lo != hi):  # a positive tied with a negative: midrank, half credit
        numerator = 0.5 * (numerator + weighted_credit(hi))
    total_pos = w_pos.sum(axis=1, dtype=np.float64)
    total_neg = cumulative[:, -1] if neg_columns.size else np.zeros(w.shape[0], dtype=np.float64)
    return _ratio(numerator, total_pos * total_neg)


def weighted_proportion(
    successes: ArrayLike, trials: ArrayLike, weights: ArrayLike
) -> NDArray[np.float64]:
    r"""Weighted share of successes among trials, for each row of case weights.

    .. math::
        \hat p_b = \frac{\sum_i w_{bi}\, t_i\, s_i}{\sum_i w_{bi}\, t_i}

    Sensitivity is ``weighted_proportion(y_score >= t, y_true == 1, W)``, specificity
    ``(y_score < t, y_true == 0)``, PPV ``(y_true == 1, y_score >= t)``, NPV
    ``(y_true == 0, y_score < t)``.

    Parameters
    ----------
    successes, trials : array-like of bool, shape (n,)
        Whether each case is a success, and whether it counts as a trial at all (a success
        outside the trials is ignored).
    weights : array-like of shape (B, n)
        Non-negative finite case weights.

    Returns
    -------
    ndarray of float64, shape (B,)
        NaN for a row that gives no weight to any trial.

    Examples
    --------
    >>> y_true = np.array([1, 1, 1, 0])
    >>> predicted = np.array([1, 1, 0, 1])
    >>> weighted_proportion(predicted == 1, y_true == 1, [[1, 1, 1, 1], [0, 0, 3, 1]]).tolist()
    [0.6666666666666666, 0.0]
    """
    success = _boolean(successes, "successes")
    trial = _boolean(trials, "trials", n=success.shape[0])
    w = check_weights(weights, success.shape[0])
    hits = (success & trial).astype(np.float64)
    return _ratio(w @ hits, w @ trial.astype(np.float64))


def weighted_brier(y_true: ArrayLike, y_prob: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    r"""Weighted Brier score :math:`\sum_i w_{bi} (p_i - y_i)^2 / \sum_i w_{bi}` per row.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels.
    y_prob : array-like of shape (n,)
        Probabilities in [0, 1].
    weights : array-like of shape (B, n)
        Non-negative finite case weights.

    Returns
    -------
    ndarray of float64, shape (B,)
        NaN for a row of zero total weight.

    Examples
    --------
    >>> np.round(weighted_brier([0, 1], [0.2, 0.6], [[1, 1], [0, 2]]), 12).tolist()
    [0.1, 0.16]
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    return weighted_mean(np.square(probs - labels), weights)


def weighted_mean(values: ArrayLike, weights: ArrayLike) -> NDArray[np.float64]:
    r"""Weighted mean :math:`\sum_i w_{bi} x_i / \sum_i w_{bi}` per row of weights.

    Parameters
    ----------
    values : array-like of shape (n,)
        Finite real values, one per case.
    weights : array-like of shape (B, n)
        Non-negative finite case weights.

    Returns
    -------
    ndarray of float64, shape (B,)
        NaN for a row of zero total weight.

    Examples
    --------
    >>> weighted_mean([1.0, 2.0, 4.0], [[1, 1, 1], [0, 1, 1], [0, 0, 0]]).tolist()
    [2.3333333333333335, 3.0, nan]
    """
    array = np.asarray(values)
    # check_scores rejects non-1-D input before it compares lengths.
    x = check_scores(array, array.shape[0] if array.ndim == 1 else 0, name="values")
    w = check_weights(weights, x.shape[0])
    return _ratio(w @ x, w.sum(axis=1, dtype=np.float64))


def _boolean(values: ArrayLike, name: str, n: int | None = None) -> NDArray[np.bool_]:
    array = np.asarray(values)
    if array.ndim != 1 or (n is not None and array.shape[0] != n):
        expected = "1-D" if n is None else f"1-D of length {n}"
        raise ValueError(f"{name} must be {expected}; got shape {array.shape}")
    if array.dtype.kind != "b":
        raise ValueError(
            f"{name} must be a boolean array (e.g. y_score >= threshold); got dtype {array.dtype}"
        )
    return array
