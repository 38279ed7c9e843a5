"""Threshold-free binary ranking metrics: ROC AUC (DeLong or bootstrap interval) and
average precision.

Labels are validated by :mod:`grader.metrics._validation`; "positive" means ``y_true == 1``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import (
    BootstrapSpec,
    RandomState,
    class_strata,
    percentile_interval,
)
from grader.metrics._bootstrap_kernels import weighted_roc_auc
from grader.metrics._result import MetricResult
from grader.metrics._validation import (
    check_alpha,
    check_binary_inputs,
    normal_quantile,
    percent,
)
from grader.suggest import close_names


def _midranks_of_sorted(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based midranks of an ascending array: tied values share the mean of their ranks."""
    n = values.shape[0]
    starts_group = np.empty(n, dtype=bool)
    starts_group[:1] = True
    np.not_equal(values[1:], values[:-1], out=starts_group[1:])
    starts = np.flatnonzero(starts_group)
    ends = np.append(starts[1:], n)
    # Ranks start+1 .. end have mean (start + 1 + end) / 2.
    group_midrank = (starts + ends + 1) / 2.0
    return group_midrank[np.cumsum(starts_group) - 1]


def _fast_delong(labels: NDArray[np.bool_], scores: NDArray[np.float64]) -> tuple[float, float]:
    """AUC and its DeLong variance by the midrank algorithm of Sun & Xu (2014).

    Needs at least one positive and one negative case; the variance is NaN unless there
    are at least two of each (the structural components' sample variances need two).

    With ``m`` positives, ``n`` negatives, ``T_Z`` the midranks in the pooled sample and
    ``T_X``, ``T_Y`` the midranks within positives and within negatives:

    - ``AUC = (sum_i T_Z(x_i) - m (m + 1) / 2) / (m n)``
    - ``V10_i = (T_Z(x_i) - T_X(x_i)) / n``      (share of negatives below positive i)
    - ``V01_j = 1 - (T_Z(y_j) - T_Y(y_j)) / m``  (share of positives above negative j)
    - ``Var(AUC) = S10 / m + S01 / n`` with ``S10``, ``S01`` the sample variances (ddof=1).
    """
    # One sort of the pooled scores serves all three rankings: each class's scores appear
    # in that order already sorted, and the variance does not depend on case order.
    order = np.argsort(scores, kind="stable")
    sorted_scores = scores[order]
    sorted_labels = labels[order]
    pooled_ranks = _midranks_of_sorted(sorted_scores)

    pos_pooled = pooled_ranks[sorted_labels]
    neg_pooled = pooled_ranks[~sorted_labels]
    m = pos_pooled.shape[0]
    n = neg_pooled.shape[0]
    pos_within = _midranks_of_sorted(sorted_scores[sorted_labels])
    neg_within = _midranks_of_sorted(sorted_scores[~sorted_labels])

    # The rank sum is exact in float64 (half-integers), so one division gives the AUC to
    # full precision rather than an average of m rounded components.
    auc = (float(pos_pooled.sum()) - m * (m + 1) / 2.0) / (m * n)
    if m < 2 or n < 2:
        return auc, math.nan
    v10 = (pos_pooled - pos_within) / n
    v01 = 1.0 - (neg_pooled - neg_within) / m
    variance = float(v10.var(ddof=1)) / m + float(v01.var(ddof=1)) / n
    return auc, variance


def _class_counts_reason(metric: str, n_pos: int, n_neg: int) -> str:
    only = "negative" if n_pos == 0 else "positive"
    return (
        f"y_true has only {only} cases ({n_pos} positive, {n_neg} negative): {metric} needs "
        f"at least one positive and one negative case"
    )


_CI_METHODS = ("delong", "bootstrap")


def _check_ci(ci: str) -> str:
    if isinstance(ci, str) and ci in _CI_METHODS:
        return ci
    close = close_names(str(ci).lower(), _CI_METHODS)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"ci must be one of 'delong', 'bootstrap'; got {ci!r}{hint}")


def roc_auc(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    alpha: float = 0.05,
    ci: str = "delong",
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    r"""Area under the ROC curve with a DeLong or a bootstrap confidence interval.

    The AUC is the probability that a randomly drawn positive case scores higher than a
    randomly drawn negative case, a tie counting one half (Mann-Whitney form):

    .. math::

        \mathrm{AUC} = \frac{1}{mn} \sum_{i=1}^{m} \sum_{j=1}^{n} \psi(x_i, y_j), \qquad
        \psi(x, y) = \begin{cases} 1 & x > y \\ 1/2 & x = y \\ 0 & x < y \end{cases}

    for positive scores :math:`x_1..x_m` and negative scores :math:`y_1..y_n`. It is
    computed from midranks in :math:`O(N \log N)` (Sun & Xu 2014) and equals
    ``sklearn.metrics.roc_auc_score``.

    Intervals (``ci``):

    - ``"delong"`` (default):
      :math:`\mathrm{AUC} \pm z_{1-\alpha/2} \sqrt{\widehat{\mathrm{Var}}_\mathrm{DeLong}}`,
      a normal approximation on the AUC scale (no logit transform) clipped to [0, 1]. It
      assumes independent cases, so it cannot take ``groups``.
    - ``"bootstrap"``: percentile interval of the AUC over ``n_resamples`` stratified
      bootstrap resamples: positives are resampled among positives and negatives among
      negatives, so every resample keeps the class sizes (and so is defined). Vectorised:
      all resamples are evaluated by :func:`~grader.metrics._bootstrap_kernels.weighted_roc_auc`.
    - ``"bootstrap"`` with ``groups`` (e.g. patient ids when a patient contributes several
      images): a cluster bootstrap that draws whole groups with replacement, keeping the
      correlation between a patient's cases. Groups are stratified as well as a cluster
      bootstrap allows: by their label composition (only negative cases, only positive,
      both), keeping the number of groups of each kind, so every resample has both classes
      though the number of positive cases varies (see
      :func:`~grader.metrics._bootstrap.class_strata`).

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_score : array-like of shape (n,)
        Finite real scores, higher meaning "more likely positive"; need not be probabilities.
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    ci : {"delong", "bootstrap"}, default="delong"
        How the interval is computed.
    n_resamples : int, default=1000
        Number of bootstrap resamples (``ci="bootstrap"`` only; validated always).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap (``ci="bootstrap"`` only); the default makes the interval
        reproducible.
    groups : array-like of shape (n,), optional
        Group (patient) id of each case for a cluster bootstrap; requires
        ``ci="bootstrap"``.

    Returns
    -------
    MetricResult
        ``value`` is NaN when ``y_true`` holds a single class. With DeLong the interval is
        None when there are fewer than two positive or two negative cases (its variance is
        undefined), and with perfect separation it collapses to the point -- a property of
        the estimator, not a certainty. The bootstrap interval exists whenever the value
        does; the method text says how many resamples were undefined (0 when stratified).

    Raises
    ------
    ValueError
        On invalid input as for every metric, an unknown ``ci``, ``groups`` with
        ``ci="delong"``, or invalid ``n_resamples``, ``random_state`` or ``groups``.

    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. "Comparing the areas under two or more
       correlated receiver operating characteristic curves: a nonparametric approach."
       Biometrics 44(3):837-845, 1988.
    .. [2] Sun X, Xu W. "Fast implementation of DeLong's algorithm for comparing the areas
       under correlated receiver operating characteristic curves." IEEE Signal Processing
       Letters 21(11):1389-1393, 2014.
    .. [3] Hanley JA, McNeil BJ. "The meaning and use of the area under a receiver operating
       characteristic (ROC) curve." Radiology 143(1):29-36, 1982.
    .. [4] Efron B, Tibshirani RJ. *An Introduction to the Bootstrap.* Chapman & Hall, 1993.
    .. [5] Obuchowski NA. "Nonparametric analysis of clustered ROC curve data." Biometrics
       53(2):567-578, 1997.

    Examples
    --------
    >>> r = roc_auc([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.7, 0.4, 0.2])
    >>> round(r.value, 4), round(r.ci_low, 4), r.ci_high
    (0.8333, 0.4561, 1.0)
    >>> b = roc_auc([1, 1, 1, 0, 0, 0], [0.9, 0.8, 0.4, 0.7, 0.4, 0.2], ci="bootstrap")
    >>> b.value == r.value, 0.0 <= b.ci_low <= b.value <= b.ci_high <= 1.0
    (True, True)
    """
    labels, scores = check_binary_inputs(y_true, y_score)
    alpha = check_alpha(alpha)
    ci = _check_ci(ci)
    spec = BootstrapSpec(n_resamples=n_resamples, random_state=random_state)
    if ci == "delong" and groups is not None:
        raise ValueError(
            "groups is only used with ci='bootstrap': DeLong's variance assumes independent "
            "cases, which several cases of one patient are not. Pass ci='bootstrap' for a "
            "cluster bootstrap over groups"
        )
    level = percent(alpha)
    if ci == "delong":
        method = (
            f"DeLong (Sun & Xu 2014), {level} CI, logit-free normal approximation clipped to [0, 1]"
        )
    elif groups is None:
        method = "AUC by midranks (ties 1/2); stratified bootstrap (resampled within each class)"
    else:
        method = "AUC by midranks (ties 1/2); cluster bootstrap over groups"
    # Validated before the class check so that bad groups fail on every data set.
    strata = class_strata(labels, groups=groups) if ci == "bootstrap" else None
    n_pos = int(np.count_nonzero(labels))
    n_neg = labels.shape[0] - n_pos
    if n_pos == 0 or n_neg == 0:
        return MetricResult(
            name="roc_auc",
            value=math.nan,
            ci_low=None,
            ci_high=None,
            higher_is_better=True,
            method=method,
            n=labels.shape[0],
            alpha=alpha,
            reason=_class_counts_reason("ROC AUC", n_pos, n_neg),
        )
    auc, variance = _fast_delong(labels, scores)
    ci_low: float | None = None
    ci_high: float | None = None
    if strata is not None:
        method, ci_low, ci_high = _bootstrap_auc_interval(
            labels, scores, alpha, spec, strata, groups
        )
    elif math.isnan(variance):
        method += (
            f"; no CI: DeLong's variance needs at least 2 positive and 2 negative cases "
            f"(got {n_pos} and {n_neg})"
        )
    else:
        half_width = normal_quantile(alpha) * math.sqrt(max(variance, 0.0))
        ci_low = min(max(auc - half_width, 0.0), 1.0)
        ci_high = min(max(auc + half_width, 0.0), 1.0)
    return MetricResult(
        name="roc_auc",
        value=auc,
        ci_low=ci_low,
        ci_high=ci_high,
        higher_is_better=True,
        method=method,
        n=labels.shape[0],
        alpha=alpha,
    )


def _bootstrap_auc_interval(
    labels: NDArray[np.bool_],
    scores: NDArray[np.float64],
    alpha: float,
    spec: BootstrapSpec,
    strata: NDArray[np.int8],
    groups: ArrayLike | None,
) -> tuple[str, float | None, float | None]:
    """Method text and percentile bounds of the (cluster) bootstrap AUC interval."""
    n = labels.shape[0]
    # Batches keep memory bounded for large n; stacked they are one resample_weights call.
    estimates = np.concatenate(
        [
            weighted_roc_auc(labels, scores, weights)
            for weights in spec.weight_batches(n, strata=strata, groups=groups)
        ]
    )
    n_undefined = int(np.count_nonzero(np.isnan(estimates)))
    if groups is None:
        design = (
            "AUC by midranks (ties 1/2); stratified bootstrap (cases resampled within each "
            "class, class sizes kept)"
        )
    else:
        kinds = np.bincount(_group_composition(strata, groups), minlength=3)
        design = (
            f"AUC by midranks (ties 1/2); cluster bootstrap over {int(kinds.sum())} groups "
            f"(whole groups drawn with replacement within strata of group label "
            f"composition: {kinds[0]} negative-only, {kinds[1]} positive-only, {kinds[2]} "
            f"mixed groups; group counts per stratum kept, case counts vary)"
        )
    method = spec.describe(alpha=alpha, design=design, n_undefined=n_undefined)
    low, high = percentile_interval(estimates, alpha)
    if math.isnan(low):
        return method + "; no CI: the AUC is undefined on every resample", None, None
    return method, low, high


def _group_composition(strata: NDArray[np.int8], groups: ArrayLike) -> NDArray[np.int8]:
    """The composition stratum of each distinct group (strata are constant within groups)."""
    _, first_case = np.unique(np.asarray(groups), return_index=True)
    return strata[first_case]


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> MetricResult:
    r"""Average precision: area under the precision-recall curve as a step function.

    .. math:: \mathrm{AP} = \sum_k (R_k - R_{k-1})\, P_k

    where the threshold moves down through the distinct scores and :math:`P_k`,
    :math:`R_k` are precision and recall of ``y_score >= t_k`` (:math:`R_0 = 0`). Tied
    scores are one step, never split. This is the step-wise sum of
    ``sklearn.metrics.average_precision_score`` (which it equals), *not* the trapezoidal
    area, which linearly interpolates precision and overestimates it. A random ranking
    scores about the prevalence, so compare AP with the prevalence, not with 0.5.
    No confidence interval is given.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_score : array-like of shape (n,)
        Finite real scores; need not be probabilities.

    Returns
    -------
    MetricResult
        ``value`` is NaN when ``y_true`` has no positive case (recall is undefined). With
        no negative case it is 1.

    References
    ----------
    .. [1] Davis J, Goadrich M. "The relationship between precision-recall and ROC
       curves." ICML 2006.
    .. [2] Saito T, Rehmsmeier M. "The precision-recall plot is more informative than the
       ROC plot when evaluating binary classifiers on imbalanced datasets." PLoS ONE
       10(3):e0118432, 2015.

    Examples
    --------
    >>> # thresholds 0.8, 0.4, 0.35, 0.1: (R, P) = (.5, 1), (.5, .5), (1, 2/3), (1, .5)
    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).value, 4)
    0.8333
    """
    labels, scores = check_binary_inputs(y_true, y_score)
    n_pos = int(np.count_nonzero(labels))
    method = (
        "step-wise sum over distinct thresholds of (recall_k - recall_{k-1}) * precision_k "
        "(no interpolation; ties never split); no CI"
    )
    if n_pos == 0:
        return MetricResult(
            name="average_precision",
            value=math.nan,
            ci_low=None,
            ci_high=None,
            higher_is_better=True,
            method=method,
            n=labels.shape[0],
            reason=(
                f"y_true has no positive cases ({labels.shape[0]} negative): recall and so "
                f"average precision are undefined"
            ),
        )
    order = np.argsort(scores, kind="stable")[::-1]
    sorted_scores = scores[order]
    group_ends = np.flatnonzero(np.append(sorted_scores[1:] != sorted_scores[:-1], True))
    tps = np.cumsum(labels[order], dtype=np.intp)[group_ends]
    precision = tps / (group_ends + 1)
    recall_steps = np.diff(tps, prepend=0) / n_pos
    return MetricResult(
        name="average_precision",
        value=float(np.dot(recall_steps, precision)),
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=method,
        n=labels.shape[0],
    )
