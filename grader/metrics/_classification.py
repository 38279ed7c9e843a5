"""Binary classification metrics at a threshold: the confusion matrix, sensitivity,
specificity, PPV and NPV, each proportion with a Wilson score interval.

Labels are validated by :mod:`grader.metrics._validation`; "positive" means ``y_true == 1``
and a case is *predicted* positive when ``y_score >= threshold``. The threshold-free
metrics are in :mod:`grader.metrics._classification_ranking` (ROC AUC, average precision)
and :mod:`grader.metrics._classification_curves` (ROC points and band).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._result import MetricResult
from grader.metrics._validation import (
    check_alpha,
    check_binary_inputs,
    check_threshold,
    normal_quantile,
    percent,
)


@dataclass(frozen=True, slots=True)
class ConfusionMatrix:
    """Counts of a binary confusion matrix at one threshold.

    Attributes
    ----------
    tp, fp, tn, fn : int
        True positives (positive cases predicted positive), false positives, true
        negatives and false negatives.
    """

    tp: int
    fp: int
    tn: int
    fn: int

    @property
    def n(self) -> int:
        """Total number of cases."""
        return self.tp + self.fp + self.tn + self.fn

    def to_dict(self) -> dict[str, int]:
        """The counts as ``{"tp": ..., "fp": ..., "tn": ..., "fn": ...}`` (JSON-safe ints)."""
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}


def _confusion(
    labels: NDArray[np.bool_], scores: NDArray[np.float64], threshold: float
) -> ConfusionMatrix:
    predicted = scores >= threshold
    tp = int(np.count_nonzero(predicted & labels))
    n_pos = int(np.count_nonzero(labels))
    n_pred = int(np.count_nonzero(predicted))
    fp = n_pred - tp
    fn = n_pos - tp
    tn = labels.shape[0] - tp - fp - fn
    return ConfusionMatrix(tp=tp, fp=fp, tn=tn, fn=fn)


def confusion_matrix(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5
) -> ConfusionMatrix:
    """Confusion matrix at a threshold, a case being predicted positive if score >= it.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_score : array-like of shape (n,)
        Finite real scores.
    threshold : float, default=0.5
        Decision threshold; ``y_score >= threshold`` is a positive prediction.

    Returns
    -------
    ConfusionMatrix
        Plain ``int`` counts; ``to_dict()`` gives what :func:`confusion_counts` returns.

    Examples
    --------
    >>> cm = confusion_matrix([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])
    >>> cm
    ConfusionMatrix(tp=2, fp=1, tn=1, fn=0)
    >>> cm.to_dict() == confusion_counts([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])
    True
    """
    labels, scores = check_binary_inputs(y_true, y_score)
    return _confusion(labels, scores, check_threshold(threshold))


def confusion_counts(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5
) -> dict[str, int]:
    """Confusion-matrix counts at a threshold, a case being predicted positive if score >= it.

    The dict form of :func:`confusion_matrix`, kept for callers that want plain JSON.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_score : array-like of shape (n,)
        Finite real scores.
    threshold : float, default=0.5
        Decision threshold; ``y_score >= threshold`` is a positive prediction.

    Returns
    -------
    dict
        Keys ``"tp"``, ``"fp"``, ``"tn"``, ``"fn"`` with plain ``int`` counts.

    Examples
    --------
    >>> confusion_counts([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1])
    {'tp': 2, 'fp': 1, 'tn': 1, 'fn': 0}
    """
    return confusion_matrix(y_true, y_score, threshold=threshold).to_dict()


def wilson_interval(successes: int, trials: int, alpha: float = 0.05) -> tuple[float, float]:
    r"""Wilson score interval for a binomial proportion.

    .. math::

        \frac{\hat p + \frac{z^2}{2n}}{1 + \frac{z^2}{n}} \pm
        \frac{z}{1 + \frac{z^2}{n}} \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4n^2}}

    with :math:`\hat p = k/n` and :math:`z = z_{1-\alpha/2}`. Unlike the Wald interval it
    stays inside [0, 1] and keeps close to nominal coverage for small ``n`` and for
    proportions near 0 or 1 (Brown, Cai & DasGupta 2001), as sensitivities often are.

    References
    ----------
    .. [1] Wilson EB. "Probable inference, the law of succession, and statistical
       inference." J Am Stat Assoc 22(158):209-212, 1927.
    .. [2] Brown LD, Cai TT, DasGupta A. "Interval estimation for a binomial proportion."
       Statistical Science 16(2):101-133, 2001.

    Examples
    --------
    >>> [round(b, 4) for b in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    """
    if trials < 1:
        raise ValueError(f"trials must be >= 1; got {trials!r}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes must be in [0, trials={trials}]; got {successes!r}")
    z = normal_quantile(alpha)
    p = successes / trials
    z2_n = z * z / trials
    centre = (p + z2_n / 2.0) / (1.0 + z2_n)
    half_width = z / (1.0 + z2_n) * math.sqrt(p * (1.0 - p) / trials + z2_n / (4.0 * trials))
    # At k = 0 (k = n) the lower (upper) bound is exactly 0 (1); rounding would otherwise
    # leave it a hair off, and elsewhere keep it inside [0, 1].
    low = 0.0 if successes == 0 else max(centre - half_width, 0.0)
    high = 1.0 if successes == trials else min(centre + half_width, 1.0)
    return low, high


_PROPORTIONS = {
    # name: (numerator, other denominator term, formula, reason when the denominator is 0)
    "sensitivity": ("tp", "fn", "TP / (TP + FN)", "no positive cases: sensitivity is undefined"),
    "specificity": ("tn", "fp", "TN / (TN + FP)", "no negative cases: specificity is undefined"),
    "ppv": (
        "tp",
        "fp",
        "TP / (TP + FP)",
        "no predicted positives (no y_score >= {threshold:g}): PPV is undefined",
    ),
    "npv": (
        "tn",
        "fn",
        "TN / (TN + FN)",
        "no predicted negatives (every y_score >= {threshold:g}): NPV is undefined",
    ),
}


def _proportion(
    name: str, y_true: ArrayLike, y_score: ArrayLike, threshold: float, alpha: float
) -> MetricResult:
    labels, scores = check_binary_inputs(y_true, y_score)
    threshold = check_threshold(threshold)
    alpha = check_alpha(alpha)
    numerator_key, other_key, formula, reason = _PROPORTIONS[name]
    counts = _confusion(labels, scores, threshold).to_dict()
    successes = counts[numerator_key]
    trials = successes + counts[other_key]
    method = (
        f"{formula} with y_score >= {threshold:g} predicted positive; "
        f"{percent(alpha)} Wilson score interval"
    )
    if trials == 0:
        return MetricResult(
            name=name,
            value=math.nan,
            ci_low=None,
            ci_high=None,
            higher_is_better=True,
            method=method,
            n=0,
            alpha=alpha,
            reason=reason.format(threshold=threshold),
        )
    ci_low, ci_high = wilson_interval(successes, trials, alpha)
    return MetricResult(
        name=name,
        value=successes / trials,
        ci_low=ci_low,
        ci_high=ci_high,
        higher_is_better=True,
        method=method,
        n=trials,
        alpha=alpha,
    )


def sensitivity(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5, alpha: float = 0.05
) -> MetricResult:
    """Sensitivity (recall, true-positive rate) ``TP / (TP + FN)`` with a Wilson interval.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_score : array-like of shape (n,)
        Finite real scores; ``y_score >= threshold`` is a positive prediction.
    threshold : float, default=0.5
        Decision threshold.
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` Wilson score interval (see :func:`wilson_interval`).

    Returns
    -------
    MetricResult
        ``n`` is the number of positive cases; ``value`` is NaN when there are none.

    Examples
    --------
    >>> r = sensitivity([1] * 10 + [0] * 5, [0.9] * 8 + [0.1] * 7)
    >>> r.value, round(r.ci_low, 4), round(r.ci_high, 4), r.n
    (0.8, 0.4902, 0.9433, 10)
    """
    return _proportion("sensitivity", y_true, y_score, threshold, alpha)


def specificity(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5, alpha: float = 0.05
) -> MetricResult:
    """Specificity (true-negative rate) ``TN / (TN + FP)`` with a Wilson interval.

    Parameters are as for :func:`sensitivity`. ``n`` is the number of negative cases;
    ``value`` is NaN when there are none.
    """
    return _proportion("specificity", y_true, y_score, threshold, alpha)


def ppv(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5, alpha: float = 0.05
) -> MetricResult:
    """Positive predictive value (precision) ``TP / (TP + FP)`` with a Wilson interval.

    Parameters are as for :func:`sensitivity`. ``n`` is the number of predicted positives;
    ``value`` is NaN when no score reaches the threshold. PPV depends on the prevalence of
    the evaluation set, so it does not transfer to a population with another prevalence.
    """
    return _proportion("ppv", y_true, y_score, threshold, alpha)


def npv(
    y_true: ArrayLike, y_score: ArrayLike, *, threshold: float = 0.5, alpha: float = 0.05
) -> MetricResult:
    """Negative predictive value ``TN / (TN + FN)`` with a Wilson interval.

    Parameters are as for :func:`sensitivity`. ``n`` is the number of predicted negatives;
    ``value`` is NaN when every score reaches the threshold. Like PPV it depends on the
    prevalence of the evaluation set.
    """
    return _proportion("npv", y_true, y_score, threshold, alpha)
