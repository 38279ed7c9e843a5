r"""Decision curve analysis: the net benefit of acting on a model's probabilities.

A patient is treated when ``y_prob >= t``. The threshold probability ``t`` encodes how a
clinician weighs harms: treating at ``t`` means accepting ``t / (1 - t)`` unnecessary
treatments per case found (``t = 0.2``: one true positive is worth four false positives).
Net benefit counts true positives minus false positives at that exchange rate, per patient:

.. math:: \mathrm{NB}(t) = \frac{TP(t)}{n} - \frac{FP(t)}{n} \cdot \frac{t}{1 - t}

and is compared with the two default strategies, treating everyone
(:math:`\pi - (1 - \pi)\, t / (1 - t)` for prevalence :math:`\pi`) and treating no one
(0). A model is useful at ``t`` only where its curve lies above both.

References
----------
.. [1] Vickers AJ, Elkin EB. "Decision curve analysis: a novel method for evaluating
   prediction models." Medical Decision Making 26(6):565-574, 2006.
.. [2] Vickers AJ, van Calster B, Steyerberg EW. "A simple, step-by-step guide to
   interpreting decision curve analysis." Diagnostic and Prognostic Research 3:18, 2019.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._result import MetricResult
from grader.metrics._validation import check_binary_inputs

#: The default threshold grid of :func:`decision_curve`: 0.01, 0.02, ..., 0.99.
DEFAULT_THRESHOLDS: NDArray[np.float64] = np.linspace(0.01, 0.99, 99)
DEFAULT_THRESHOLDS.setflags(write=False)


def _check_threshold_probability(threshold: float) -> float:
    # t = 1 would weigh a false positive infinitely; t = 0 makes every case "treated" and
    # NB the prevalence. Vickers & Elkin define the curve on the open interval.
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not 0.0 < threshold < 1.0
    ):
        shown = threshold.item() if isinstance(threshold, np.generic) else threshold
        raise ValueError(
            f"threshold must be a probability strictly between 0 and 1, e.g. 0.2; got {shown!r}"
        )
    return float(threshold)


def _check_thresholds(thresholds: ArrayLike) -> NDArray[np.float64]:
    array = np.asarray(thresholds)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "iuf":
        raise ValueError(
            f"thresholds must be a non-empty 1-D array of numbers; got shape {array.shape} "
            f"and dtype {array.dtype}"
        )
    array = array.astype(np.float64)
    outside = ~((array > 0.0) & (array < 1.0))  # also catches NaN
    if outside.any():
        raise ValueError(
            f"thresholds must lie strictly between 0 and 1; {int(outside.sum())} do not "
            f"(e.g. {array[outside][0].item()!r})"
        )
    return array


def net_benefit(y_true: ArrayLike, y_prob: ArrayLike, *, threshold: float) -> MetricResult:
    r"""Net benefit of treating the cases with ``y_prob >= threshold``.

    .. math:: \mathrm{NB} = \frac{TP}{n} - \frac{FP}{n} \cdot \frac{t}{1 - t}

    In units of true positives per patient: 0 is treating no one, the prevalence is the
    most any strategy can reach, and the treat-all strategy scores
    :math:`\pi - (1 - \pi)\, t / (1 - t)` (given in ``method``). Higher is better. No
    confidence interval is given.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1]. Net benefit needs
        probabilities, not scores: the threshold *is* a probability.
    threshold : float
        Threshold probability ``t`` in (0, 1); there is no default because the choice is
        clinical.

    Returns
    -------
    MetricResult
        Defined for any non-empty input, single-class labels included.

    Raises
    ------
    ValueError
        On invalid input as for every probability metric, or a threshold outside (0, 1).

    References
    ----------
    .. [1] Vickers AJ, Elkin EB. "Decision curve analysis: a novel method for evaluating
       prediction models." Medical Decision Making 26(6):565-574, 2006.

    Examples
    --------
    >>> # t = 0.2: TP = 2, FP = 1 of n = 5, so NB = 2/5 - 1/5 * 0.25 = 0.35
    >>> round(net_benefit([1, 1, 0, 0, 1], [0.9, 0.3, 0.5, 0.1, 0.1], threshold=0.2).value, 12)
    0.35
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    t = _check_threshold_probability(threshold)
    n = labels.shape[0]
    treated = probs >= t
    tp = int(np.count_nonzero(treated & labels))
    fp = int(np.count_nonzero(treated)) - tp
    odds = t / (1.0 - t)
    prevalence = float(np.count_nonzero(labels)) / n
    treat_all = prevalence - (1.0 - prevalence) * odds
    return MetricResult(
        name="net_benefit",
        value=tp / n - fp / n * odds,
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=(
            f"TP/n - FP/n * t/(1-t) at threshold probability t={t:g}, y_prob >= t treated "
            f"(Vickers & Elkin 2006); treat-all NB {treat_all:.4g}, treat-none NB 0; no CI"
        ),
        n=n,
    )


@dataclass(frozen=True, eq=False)
class DecisionCurve:
    """Net benefit of the model and of the default strategies over threshold probabilities.

    Arrays are read-only and aligned with ``thresholds``.

    Attributes
    ----------
    thresholds : ndarray of float64
        Threshold probabilities ``t`` in (0, 1), in the order given.
    model : ndarray of float64
        Net benefit of treating ``y_prob >= t``.
    treat_all : ndarray of float64
        Net benefit of treating everyone, ``prevalence - (1 - prevalence) t / (1 - t)``.
    treat_none : ndarray of float64
        Net benefit of treating no one: 0.
    """

    thresholds: NDArray[np.float64]
    model: NDArray[np.float64]
    treat_all: NDArray[np.float64]
    treat_none: NDArray[np.float64]


def decision_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, thresholds: ArrayLike | None = None
) -> DecisionCurve:
    """Decision curve: :func:`net_benefit` at many thresholds, with the default strategies.

    Vectorised over thresholds: the probabilities of each class are sorted once and
    ``searchsorted`` counts the cases at or above every threshold, so the cost is
    O((n + T) log n) for ``T`` thresholds.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    thresholds : array-like of shape (T,), optional
        Threshold probabilities, each strictly between 0 and 1. Default
        :data:`DEFAULT_THRESHOLDS`, ``np.linspace(0.01, 0.99, 99)``.

    Returns
    -------
    DecisionCurve

    Raises
    ------
    ValueError
        On invalid input as for every probability metric, or thresholds outside (0, 1).

    References
    ----------
    .. [1] Vickers AJ, Elkin EB. "Decision curve analysis: a novel method for evaluating
       prediction models." Medical Decision Making 26(6):565-574, 2006.

    Examples
    --------
    >>> curve = decision_curve([1, 1, 0, 0, 1], [0.9, 0.3, 0.5, 0.1, 0.1],
    ...                        thresholds=[0.2, 0.5])
    >>> np.round(curve.model, 4).tolist(), np.round(curve.treat_all, 4).tolist()
    ([0.35, 0.0], [0.5, 0.2])
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    t = DEFAULT_THRESHOLDS if thresholds is None else _check_thresholds(thresholds)
    n = labels.shape[0]
    pos_sorted = np.sort(probs[labels])
    neg_sorted = np.sort(probs[~labels])
    # Cases with y_prob >= t are those from the first index where y_prob >= t onwards.
    tp = pos_sorted.shape[0] - np.searchsorted(pos_sorted, t, side="left")
    fp = neg_sorted.shape[0] - np.searchsorted(neg_sorted, t, side="left")
    odds = t / (1.0 - t)
    prevalence = pos_sorted.shape[0] / n
    arrays = (
        np.array(t, dtype=np.float64),
        tp / n - fp / n * odds,
        prevalence - (1.0 - prevalence) * odds,
        np.zeros(t.shape[0]),
    )
    for array in arrays:
        array.setflags(write=False)
    return DecisionCurve(*arrays)
