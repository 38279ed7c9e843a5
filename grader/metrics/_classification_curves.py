"""ROC curves of a binary classifier: the empirical operating points, and a pointwise
bootstrap band for plotting.

"Positive" means ``y_true == 1``; a threshold ``t`` predicts positive when
``y_score >= t``, and tied scores are never split.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import resample_weights
from grader.metrics._validation import (
    check_alpha,
    check_binary_inputs,
    check_positive_int,
)


def _thin_points(cumulative: NDArray[np.intp], k: int) -> NDArray[np.intp]:
    """Indices of the operating points to keep so that every step covers >= k cases.

    ``cumulative[i]`` is the number of cases at or above the i-th distinct threshold
    (strictly increasing, last entry = all cases).
    """
    last_index = cumulative.shape[0] - 1
    kept: list[int] = []
    passed = 0
    # The loop runs once per *kept* point (about N / k of them), each a binary search.
    i = int(np.searchsorted(cumulative, passed + k))
    while i < last_index:
        kept.append(i)
        passed = int(cumulative[i])
        i = int(np.searchsorted(cumulative, passed + k))
    # Greedy emission can leave fewer than k cases for the final step to (1, 1); merging
    # them into the previous step keeps the guarantee for every step.
    if kept and int(cumulative[last_index]) - int(cumulative[kept[-1]]) < k:
        kept.pop()
    kept.append(last_index)
    return np.asarray(kept, dtype=np.intp)


def roc_curve_points(
    y_true: ArrayLike, y_score: ArrayLike, *, min_cases_per_point: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Operating points of the empirical ROC curve, optionally coarsened for hidden labels.

    The threshold moves down through the distinct scores; each distinct score ``t`` gives
    the point ``(FPR, TPR)`` of the rule ``y_score >= t``. Tied scores are never split.

    With ``min_cases_per_point=k > 1`` a point is emitted only once at least ``k`` cases
    have been passed since the previous emitted point, and if fewer than ``k`` cases would
    remain for the final step to (1, 1) the last interior point is dropped instead. So
    every step covers at least ``k`` cases (unless there are fewer than ``k`` cases in all,
    when the curve is the single step (0, 0) to (1, 1)). A step reveals how many of its
    cases are positive, not which ones -- but a step whose cases are all of one class
    still reveals their labels to anyone who knows the scores, so ``k`` limits rather
    than removes what a report on a hidden-label split discloses.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases; both classes must be present.
    y_score : array-like of shape (n,)
        Finite real scores.
    min_cases_per_point : int, default=1
        Minimum number of cases between consecutive points. With 1 the result equals
        ``sklearn.metrics.roc_curve(y_true, y_score, drop_intermediate=False)``.

    Returns
    -------
    fpr, tpr : ndarray of float64
        False- and true-positive rates, non-decreasing, from (0, 0) to (1, 1).
    thresholds : ndarray of float64
        ``thresholds[i]`` is the smallest score predicted positive at point ``i``;
        ``thresholds[0]`` is ``inf`` (nothing predicted positive).

    Raises
    ------
    ValueError
        On invalid input as for every metric, or if ``y_true`` holds a single class.

    Examples
    --------
    >>> fpr, tpr, thresholds = roc_curve_points([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    labels, scores = check_binary_inputs(y_true, y_score)
    k = check_positive_int(min_cases_per_point, "min_cases_per_point")
    n_pos = int(np.count_nonzero(labels))
    n_neg = labels.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"roc_curve_points needs both classes in y_true; got {n_pos} positive and "
            f"{n_neg} negative cases"
        )
    order = np.argsort(scores, kind="stable")[::-1]
    sorted_scores = scores[order]
    sorted_labels = labels[order]
    # Index of the last case of each group of tied scores, walking down from the top score.
    group_ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True))
    cumulative = group_ends + 1
    tps = np.cumsum(sorted_labels, dtype=np.intp)[group_ends]
    fps = cumulative - tps
    thresholds = sorted_scores[group_ends]
    if k > 1:
        keep = _thin_points(cumulative, k)
        tps, fps, thresholds = tps[keep], fps[keep], thresholds[keep]
    fpr = np.concatenate(([0], fps)) / n_neg
    tpr = np.concatenate(([0], tps)) / n_pos
    return fpr, tpr, np.concatenate(([np.inf], thresholds))


def roc_confidence_band(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    alpha: float = 0.05,
    n_resamples: int = 200,
    random_state: int = 0,
    grid_points: int = 51,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Pointwise bootstrap band of the ROC curve: sensitivity at a grid of false-positive rates.

    Resamples within each class (the stratified bootstrap of :func:`roc_auc`), computes each
    resample's ROC curve from weighted cumulative counts, and takes the ``alpha/2`` and
    ``1 - alpha/2`` percentiles of its sensitivity at every grid point.  For plotting: the
    band is pointwise, not a simultaneous confidence region.

    Returns
    -------
    fpr_grid, tpr_low, tpr_high : ndarray of shape (grid_points,)

    Examples
    --------
    >>> fpr, low, high = roc_confidence_band([0, 0, 1, 1, 0, 1], [0.1, 0.3, 0.6, 0.8, 0.7, 0.4])
    >>> bool((low <= high).all()), float(fpr[0]), float(fpr[-1])
    (True, 0.0, 1.0)
    """
    labels, scores = check_binary_inputs(y_true, y_score)
    alpha = check_alpha(alpha)
    if labels.all() or not labels.any():
        raise ValueError("roc_confidence_band needs both classes in y_true")
    order = np.argsort(-scores, kind="mergesort")
    positive = labels[order].astype(np.float64)
    weights = resample_weights(
        len(labels), n_resamples=n_resamples, random_state=random_state, strata=labels
    )
    weights = weights[:, order].astype(np.float64)
    true_positives = np.cumsum(weights * positive, axis=1)
    false_positives = np.cumsum(weights * (1.0 - positive), axis=1)
    # One operating point per distinct score: the last case of each run of ties.
    sorted_scores = scores[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores) != 0), len(sorted_scores) - 1]
    tpr = np.c_[np.zeros(n_resamples), true_positives[:, last_of_tie] / true_positives[:, -1:]]
    fpr = np.c_[np.zeros(n_resamples), false_positives[:, last_of_tie] / false_positives[:, -1:]]
    grid = np.linspace(0.0, 1.0, grid_points)
    # Interpolation per resample is for drawing only (a few hundred short rows); the
    # resampling and the curves themselves are vectorised above.
    curves = np.array([np.interp(grid, f, t) for f, t in zip(fpr, tpr, strict=True)])
    low, high = np.percentile(curves, [100 * alpha / 2, 100 * (1 - alpha / 2)], axis=0)
    return grid, low, high
