"""Calibration metrics for predicted probabilities of the positive class.

All of them require ``y_prob`` in [0, 1] and reject anything else rather than clip it:
a submission that outputs logits must be told so, not silently graded on sigmoid(logit).
This module holds the Brier scores, the binned ECE and the reliability curve; the smooth
ECE is in :mod:`grader.metrics._calibration_smooth`, the calibration intercept and slope
in :mod:`grader.metrics._calibration_logistic`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._result import MetricResult
from grader.metrics._validation import (
    check_binary_inputs,
    check_positive_int,
)


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> MetricResult:
    r"""Brier score: mean squared difference between predicted probability and outcome.

    .. math:: \mathrm{BS} = \frac{1}{N} \sum_{i=1}^{N} (p_i - y_i)^2

    The binary form (range [0, 1], not the doubled two-class form of Brier's paper); equals
    ``sklearn.metrics.brier_score_loss``. Lower is better. No confidence interval is given.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].

    Returns
    -------
    MetricResult
        Defined for any non-empty input, single-class labels included.

    References
    ----------
    .. [1] Brier GW. "Verification of forecasts expressed in terms of probability."
       Monthly Weather Review 78(1):1-3, 1950.

    Examples
    --------
    >>> round(brier_score([0, 1, 1], [0.1, 0.9, 0.6]).value, 4)  # (0.01 + 0.01 + 0.16) / 3
    0.06
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    return MetricResult(
        name="brier_score",
        value=float(np.mean(np.square(probs - labels))),
        ci_low=None,
        ci_high=None,
        higher_is_better=False,
        method="mean((y_prob - y_true)^2), binary (not doubled) form, range [0, 1]; no CI",
        n=labels.shape[0],
    )


def scaled_brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> MetricResult:
    r"""Scaled Brier score (Brier skill score against the observed prevalence).

    .. math:: 1 - \frac{\mathrm{BS}}{\bar y (1 - \bar y)}

    where :math:`\bar y` is the prevalence of ``y_true`` and :math:`\bar y (1 - \bar y)` is
    the Brier score of always predicting it. 1 is perfect, 0 is no better than predicting
    the prevalence, negative is worse. The reference uses the prevalence of the evaluated
    set itself, so it slightly favours the constant predictor on small sets.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].

    Returns
    -------
    MetricResult
        ``value`` is NaN when ``y_true`` holds a single class (the reference Brier score is 0).

    References
    ----------
    .. [1] Steyerberg EW, Vickers AJ, Cook NR, et al. "Assessing the performance of
       prediction models: a framework for traditional and novel measures."
       Epidemiology 21(1):128-138, 2010.

    Examples
    --------
    >>> round(scaled_brier_score([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]).value, 4)
    0.9
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n = labels.shape[0]
    n_pos = int(np.count_nonzero(labels))
    prevalence = n_pos / n
    method = (
        "1 - Brier / (prevalence * (1 - prevalence)): Brier skill score against always "
        "predicting the observed prevalence of y_true; no CI"
    )
    reference = prevalence * (1.0 - prevalence)
    if reference == 0.0:
        only = "negative" if n_pos == 0 else "positive"
        return MetricResult(
            name="scaled_brier_score",
            value=math.nan,
            ci_low=None,
            ci_high=None,
            higher_is_better=True,
            method=method,
            n=n,
            reason=(
                f"y_true has only {only} cases: the reference Brier score "
                f"prevalence * (1 - prevalence) is 0, so the scaled Brier score is undefined"
            ),
        )
    brier = float(np.mean(np.square(probs - labels)))
    return MetricResult(
        name="scaled_brier_score",
        value=1.0 - brier / reference,
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=method,
        n=n,
    )


def _bin_sums(
    labels: NDArray[np.bool_], probs: NDArray[np.float64], n_bins: int
) -> tuple[NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Per-bin case count, sum of probabilities and number of positives.

    Bin ``b`` is ``[b / n_bins, (b + 1) / n_bins)``, the last one closed so that p = 1.0
    is kept; p = 0.0 falls in bin 0.
    """
    # Truncation is floor for p >= 0, which validation guarantees.
    index = np.minimum((probs * n_bins).astype(np.intp), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins)
    prob_sums = np.bincount(index, weights=probs, minlength=n_bins)
    positives = np.bincount(index, weights=labels.astype(np.float64), minlength=n_bins)
    return counts, prob_sums, positives


def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15
) -> MetricResult:
    r"""Expected calibration error of the positive-class probability, equal-width bins.

    .. math::

        \mathrm{ECE} = \sum_{b=1}^{B} \frac{n_b}{N}
        \left| \bar y_b - \bar p_b \right|

    where bin :math:`b` holds the cases with :math:`\min(\lfloor p B \rfloor, B - 1) = b-1`
    (so p = 0.0 is in the first bin and p = 1.0 in the last; no case is dropped),
    :math:`\bar y_b` is the fraction of positives and :math:`\bar p_b` the mean predicted
    probability in the bin. Empty bins contribute 0. This is the binary, positive-class
    form: it bins ``p`` itself, not the top-label confidence ``max(p, 1 - p)`` that Guo et
    al. use for multi-class models. The value depends on ``n_bins`` and is biased upwards
    on small sets (each bin's gap includes sampling noise). Lower is better; no interval.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    n_bins : int, default=15
        Number of equal-width bins on [0, 1].

    Returns
    -------
    MetricResult
        Defined for any non-empty input, single-class labels included.

    References
    ----------
    .. [1] Naeini MP, Cooper GF, Hauskrecht M. "Obtaining well calibrated probabilities
       using Bayesian binning." AAAI 2015.
    .. [2] Guo C, Pleiss G, Sun Y, Weinberger KQ. "On calibration of modern neural
       networks." ICML 2017.

    Examples
    --------
    >>> # bin [0, 0.5): 2 cases, mean p 0.2, 1 positive; bin [0.5, 1]: 2 cases, mean p 1.0
    >>> round(expected_calibration_error([0, 1, 1, 1], [0.2, 0.2, 1.0, 1.0], n_bins=2).value, 4)
    0.15
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n_bins = check_positive_int(n_bins, "n_bins")
    _, prob_sums, positives = _bin_sums(labels, probs, n_bins)
    n = labels.shape[0]
    # (n_b / N) |positives_b / n_b - prob_sums_b / n_b| = |positives_b - prob_sums_b| / N,
    # which also makes empty bins contribute exactly 0 without a division by zero.
    value = float(np.abs(positives - prob_sums).sum() / n)
    return MetricResult(
        name="expected_calibration_error",
        value=value,
        ci_low=None,
        ci_high=None,
        higher_is_better=False,
        method=(
            f"{n_bins} equal-width bins, L1, weighted by bin count: sum over bins of "
            f"(n_b / n) * |fraction positive - mean y_prob| (positive-class probability, "
            f"p = 1.0 in the last bin); no CI"
        ),
        n=n,
    )


@dataclass(frozen=True, eq=False)
class ReliabilityCurve:
    """Per-bin calibration data for a reliability diagram (non-empty bins only).

    The binning is the one of :func:`expected_calibration_error`. Arrays are read-only and
    aligned: entry ``i`` describes the ``i``-th shown bin in increasing order of probability.

    Attributes
    ----------
    bin_lower, bin_upper : ndarray of float64
        Bin edges ``b / n_bins`` and ``(b + 1) / n_bins``.
    mean_predicted : ndarray of float64
        Mean of ``y_prob`` over the bin's cases.
    fraction_positive : ndarray of float64
        Fraction of the bin's cases with ``y_true == 1``.
    count : ndarray of int
        Number of cases in the bin.
    n_hidden_bins : int
        Non-empty bins left out because they held fewer than ``min_cases_per_bin`` cases.
    """

    bin_lower: NDArray[np.float64]
    bin_upper: NDArray[np.float64]
    mean_predicted: NDArray[np.float64]
    fraction_positive: NDArray[np.float64]
    count: NDArray[np.intp]
    n_hidden_bins: int


def reliability_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 15, min_cases_per_bin: int = 1
) -> ReliabilityCurve:
    """Fraction of positives against mean predicted probability, per equal-width bin.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    n_bins : int, default=15
        Number of equal-width bins on [0, 1], as in :func:`expected_calibration_error`.
    min_cases_per_bin : int, default=1
        Bins with fewer cases are left out and counted in ``n_hidden_bins``. On a
        hidden-label split a bin of one case would reveal that case's label; a larger
        minimum limits (but, for a bin whose cases share a label, does not remove) what
        a report discloses.

    Returns
    -------
    ReliabilityCurve

    Examples
    --------
    >>> curve = reliability_curve([0, 1, 1, 1, 0], [0.2, 0.2, 1.0, 1.0, 0.6], n_bins=4,
    ...                           min_cases_per_bin=2)
    >>> curve.bin_lower.tolist(), curve.fraction_positive.tolist(), curve.n_hidden_bins
    ([0.0, 0.75], [0.5, 1.0], 1)
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    n_bins = check_positive_int(n_bins, "n_bins")
    min_cases = check_positive_int(min_cases_per_bin, "min_cases_per_bin")
    counts, prob_sums, positives = _bin_sums(labels, probs, n_bins)
    shown = counts >= min_cases
    n_hidden = int(np.count_nonzero((counts > 0) & ~shown))
    bins = np.flatnonzero(shown)
    shown_counts = counts[bins]
    lower, upper = bins / n_bins, (bins + 1) / n_bins
    arrays = (
        lower,
        upper,
        # The mean of a bin's probabilities lies in the bin; a sum rounded one ulp low
        # (three times 0.7 is 2.0999999999999996) must not put it below the bin's edge.
        np.clip(prob_sums[bins] / shown_counts, lower, upper),
        positives[bins] / shown_counts,
        shown_counts,
    )
    for array in arrays:
        array.setflags(write=False)
    return ReliabilityCurve(*arrays, n_hidden_bins=n_hidden)
