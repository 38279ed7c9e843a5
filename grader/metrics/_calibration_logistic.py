"""Calibration intercept and slope: logistic recalibration of predicted probabilities.

Like every calibration metric here they require ``y_prob`` in [0, 1] and never clip; a
probability of exactly 0 or 1 has an infinite logit and gives NaN with a reason.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._result import MetricResult, undefined_result
from grader.metrics._validation import (
    check_alpha,
    check_binary_inputs,
    normal_quantile,
    percent,
)

# Fitted by Newton-Raphson (IRLS) in numpy rather than statsmodels (not a dependency) or
# scikit-learn (whose LogisticRegression has no offset term and reports no covariance).
# The log-likelihood is concave, so Newton from the "perfectly calibrated" start converges
# in a handful of steps; step halving guards the rare overshoot.

_NEWTON_MAX_STEPS = 100
_NEWTON_TOLERANCE = 1e-12


def _expit(eta: NDArray[np.float64]) -> NDArray[np.float64]:
    # exp(-log(1 + e^-eta)) neither overflows nor warns for any finite eta.
    return np.exp(-np.logaddexp(0.0, -eta))


def _log_likelihood(y: NDArray[np.float64], eta: NDArray[np.float64]) -> float:
    return float(np.dot(y, eta) - np.logaddexp(0.0, eta).sum())


def _fit_logistic(
    design: NDArray[np.float64],
    offset: NDArray[np.float64],
    y: NDArray[np.float64],
    start: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Maximum likelihood ``beta`` of ``logit P(y=1) = design @ beta + offset`` and its
    inverse observed information; None if Newton does not converge.

    For the logit link the observed and expected information coincide:
    ``X^T diag(mu (1 - mu)) X``.
    """
    beta = start.astype(np.float64)
    eta = design @ beta + offset
    current = _log_likelihood(y, eta)
    for _ in range(_NEWTON_MAX_STEPS):
        mu = _expit(eta)
        information = design.T @ (design * (mu * (1.0 - mu))[:, None])
        try:
            step = np.linalg.solve(information, design.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        # Newton converges quadratically: a negligible full step means beta is the maximum
        # to rounding, and the information is already evaluated there.
        if np.max(np.abs(step)) <= _NEWTON_TOLERANCE * (1.0 + np.max(np.abs(beta))):
            try:
                return beta, np.linalg.inv(information)
            except np.linalg.LinAlgError:
                return None
        scale = 1.0
        while True:
            candidate = beta + scale * step
            eta_candidate = design @ candidate + offset
            value = _log_likelihood(y, eta_candidate)
            if value >= current - 1e-12 * abs(current) or scale < 1e-10:
                break
            scale /= 2.0
        beta, eta, current = candidate, eta_candidate, value
    return None


def calibration_intercept_slope(
    y_true: ArrayLike, y_prob: ArrayLike, *, alpha: float = 0.05
) -> tuple[MetricResult, MetricResult]:
    r"""Calibration intercept (calibration-in-the-large) and calibration slope.

    With :math:`\ell_i = \operatorname{logit}(p_i)` the logit of the predicted probability:

    - **slope** :math:`\beta`: the logistic regression
      :math:`\operatorname{logit} P(y_i = 1) = a + \beta\, \ell_i`. 1 is ideal; below 1
      the predictions are too extreme (typical of overfitting), above 1 too modest.
    - **intercept** :math:`\alpha`: the logistic regression with the slope fixed at 1,
      :math:`\operatorname{logit} P(y_i = 1) = \alpha + \ell_i` (:math:`\ell_i` an
      offset). 0 is ideal; negative means the predicted risks are too high on average,
      positive too low.

    Both are maximum-likelihood fits by Newton-Raphson (IRLS); the ``1 - alpha``
    intervals are Wald intervals from the observed information,
    :math:`\hat\theta \pm z_{1-\alpha/2} \sqrt{[I(\hat\theta)^{-1}]_{\theta\theta}}`.

    Neither is a score with a direction: the ideal values are 1 and 0, and a slope of
    1.3 is not better than 1. ``higher_is_better`` is set to False for both; read the
    values against their ideal (given in ``method``).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_prob : array-like of shape (n,)
        Predicted probability of the positive class, each in [0, 1].
    alpha : float, default=0.05
        The intervals are ``1 - alpha`` intervals.

    Returns
    -------
    (intercept, slope) : tuple of MetricResult
        Named ``"calibration_intercept"`` and ``"calibration_slope"``. NaN with a reason
        (never a warning or an exception) when:

        - ``y_true`` holds a single class (both);
        - some ``y_prob`` is exactly 0 or 1: the logit is infinite and medgrade does not
          clip for you (both);
        - every ``y_prob`` is equal, so the slope is not identifiable (slope only);
        - ``logit(y_prob)`` separates the classes, so the slope's maximum-likelihood
          estimate is infinite (slope only; the intercept stays defined).

    References
    ----------
    .. [1] Cox DR. "Two further applications of a model for binary regression."
       Biometrika 45(3/4):562-565, 1958.
    .. [2] Van Calster B, Nieboer D, Vergouwe Y, De Cock B, Pencina MJ, Steyerberg EW.
       "A calibration hierarchy for risk models was defined: from utopia to empirical
       data." J Clin Epidemiol 74:167-176, 2016.
    .. [3] Van Calster B, McLernon DJ, van Smeden M, Wynants L, Steyerberg EW.
       "Calibration: the Achilles heel of predictive analytics." BMC Medicine 17:230, 2019.

    Examples
    --------
    >>> y = [0, 0, 1, 0, 1, 1, 0, 1, 1, 1]
    >>> p = [0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9, 0.5, 0.35]
    >>> intercept, slope = calibration_intercept_slope(y, p)
    >>> round(intercept.value, 4), round(slope.value, 4)  # risks too low, too extreme
    (0.6148, 0.7279)
    >>> round(slope.ci_low, 3), round(slope.ci_high, 3)
    (-0.528, 1.983)
    """
    labels, probs = check_binary_inputs(y_true, y_prob, score_name="y_prob", probabilities=True)
    alpha = check_alpha(alpha)
    n = labels.shape[0]
    z = normal_quantile(alpha)
    level = percent(alpha)
    intercept_method = (
        f"calibration-in-the-large: logistic regression of y_true with offset "
        f"logit(y_prob), slope fixed at 1 (ideal 0; < 0: risks overestimated); Newton-Raphson "
        f"ML fit, {level} Wald CI from the observed information"
    )
    slope_method = (
        f"logistic regression of y_true on logit(y_prob) (ideal 1; < 1: predictions too "
        f"extreme); Newton-Raphson ML fit, {level} Wald CI from the observed information"
    )

    def result(name: str, method: str, estimate: float, variance: float) -> MetricResult:
        half_width = z * math.sqrt(variance)
        return MetricResult(
            name=name,
            value=estimate,
            ci_low=estimate - half_width,
            ci_high=estimate + half_width,
            higher_is_better=False,
            method=method,
            n=n,
            alpha=alpha,
        )

    def undefined(name: str, method: str, reason: str) -> MetricResult:
        return undefined_result(
            name, method=method, n=n, reason=reason, higher_is_better=False, alpha=alpha
        )

    n_pos = int(np.count_nonzero(labels))
    reason = None
    if n_pos in (0, n):
        only = "negative" if n_pos == 0 else "positive"
        reason = (
            f"y_true has only {only} cases ({n_pos} positive, {n - n_pos} negative): a "
            f"logistic recalibration needs both classes"
        )
    else:
        n_extreme = int(np.count_nonzero((probs == 0.0) | (probs == 1.0)))
        if n_extreme:
            reason = (
                f"y_prob has {n_extreme} values exactly 0 or 1, where logit(y_prob) is "
                f"infinite; clip is not done for you: a model should output probabilities "
                f"strictly between 0 and 1"
            )
    if reason is not None:
        return (
            undefined("calibration_intercept", intercept_method, reason),
            undefined("calibration_slope", slope_method, reason),
        )

    y = labels.astype(np.float64)
    logit = np.log(probs) - np.log1p(-probs)
    ones = np.ones((n, 1))
    fit = _fit_logistic(ones, logit, y, np.zeros(1))
    if fit is None:  # cannot happen with both classes present; kept as a guard
        intercept = undefined(
            "calibration_intercept", intercept_method, "the intercept fit did not converge"
        )
    else:
        intercept = result(
            "calibration_intercept", intercept_method, float(fit[0][0]), float(fit[1][0, 0])
        )

    pos_logit, neg_logit = logit[labels], logit[~labels]
    if logit.min() == logit.max():
        return intercept, undefined(
            "calibration_slope",
            slope_method,
            "every y_prob is the same, so logit(y_prob) has no spread and the calibration "
            "slope is not identifiable",
        )
    if neg_logit.max() <= pos_logit.min() or pos_logit.max() <= neg_logit.min():
        return intercept, undefined(
            "calibration_slope",
            slope_method,
            "y_prob separates the classes (every positive case is on one side of every "
            "negative case, ties at the boundary allowed), so the calibration slope's "
            "maximum-likelihood estimate is infinite",
        )
    fit = _fit_logistic(np.column_stack([np.ones(n), logit]), np.zeros(n), y, np.array([0, 1]))
    if fit is None:
        return intercept, undefined(
            "calibration_slope", slope_method, "the slope fit did not converge"
        )
    return intercept, result(
        "calibration_slope", slope_method, float(fit[0][1]), float(fit[1][1, 1])
    )
