"""Subgroup performance and fairness gaps, with one shared bootstrap for every group.

:func:`subgroup_metrics` computes one binary metric in each group of a per-case attribute
(sex, an age band, a site), the gap between the best and worst group, and how far the
worst group falls behind the whole data set, each gap with a bootstrap percentile
interval. The metrics it accepts are defined in :mod:`grader.metrics._fairness_metrics`,
the groups read in :mod:`grader.metrics._fairness_groups` and the gaps computed in
:mod:`grader.metrics._fairness_gaps`.

How this differs from ``fairlearn.metrics.MetricFrame``
--------------------------------------------------------
With the same scikit-learn functions the per-group values are equal (the tests check it
to 1e-12) and ``max_minus_min`` equals ``MetricFrame.difference(method="between_groups")``
-- except where a group cannot support the metric:

- A group with no positive cases gets sensitivity (TPR) **0.0** in fairlearn (scikit-learn's
  ``zero_division`` default) and that 0.0 enters ``difference()``, so the gap is the best
  group's whole TPR. Here the group is *not estimable*: value NaN with the reason
  ``"no positive cases ..."``, and it is left out of the gaps. The same holds for no
  negative cases (specificity, FPR, AUC) and for PPV/NPV without positive/negative
  predictions.
- A group with fewer than ``min_group_size`` cases (default 20) is not estimable either
  (``"12 cases < min_group_size 20"``); fairlearn has no minimum, and a 3-case group
  readily produces the largest "disparity".
- Missing attribute values (None or NaN) form their own group, labelled None and shown as
  ``"missing"``. It is reported but never compared in the gaps: it mixes unknown groups,
  and its size reflects data collection rather than the attribute.

The bootstrap
-------------
All groups are evaluated on the *same* resamples of the whole data set (drawn by
:meth:`BootstrapSpec.weight_batches <grader.metrics._bootstrap.BootstrapSpec.weight_batches>`,
stratified by label with :func:`~grader.metrics._bootstrap.class_strata`, by patient
clusters when ``patient_groups`` is given), so group sizes vary between resamples as they
would between samples of the population, and the two gaps of one resample come from the
same data. Each group's resampled values come from a weighted batch kernel applied to
that group's columns of the weight matrix: no Python loop over resamples.

A resample can leave a small group without a class the metric needs (the strata keep
the class sizes of the whole data set, not of each group). In such a resample the gap is
NaN and :func:`~grader.metrics._bootstrap.percentile_interval` ignores it. The gap is
*not* recomputed over the remaining groups: ``max - min`` over fewer groups is a smaller
statistic, and mixing the two would pull the interval down. The method text states how
many resamples were ignored and which groups caused it.

A percentile interval of ``max - min`` is biased upwards when groups perform alike (the
maximum of noisy values exceeds the maximum of their means), so an interval excluding 0
is not a test of "no disparity".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from grader.metrics._bootstrap import BootstrapSpec, RandomState
from grader.metrics._fairness_gaps import _GapContext, _gaps_with_intervals
from grader.metrics._fairness_groups import (
    GroupLabel,
    GroupResult,
    _encode,
    _group_result,
    _missing_mask,
    _patient_codes,
    _read_labels,
)
from grader.metrics._fairness_metrics import _check_metric
from grader.metrics._result import MetricResult
from grader.metrics._validation import (
    check_alpha,
    check_binary_labels,
    check_positive_int,
    check_scores,
    check_threshold,
)


@dataclass(frozen=True, slots=True)
class SubgroupReport:
    """One metric per group of one attribute, with the gaps between groups.

    Attributes
    ----------
    attribute : str
        Name of the attribute, e.g. ``"sex"``.
    metric : str
        The metric's name, e.g. ``"roc_auc"``.
    threshold : float or None
        Decision threshold (``y_score >= threshold`` is positive); None for metrics
        without one (ROC AUC, Brier score).
    min_group_size : int
        Smallest group that is estimated.
    overall : MetricResult
        The metric on all cases, missing attribute values included.
    groups : tuple of GroupResult
        One per group, in sorted label order, the missing-value group (if any) last.
    max_minus_min : MetricResult
        Best minus worst value over the estimable groups (>= 0; 0 is parity).
    worst_vs_overall : MetricResult
        How far the worst estimable group falls behind the overall value, in the metric's
        units: ``overall - worst`` when higher is better, ``worst - overall`` when lower
        is better, ``max |group - overall|`` for the selection rate. Positive means the
        worst group is worse than the whole data set.
    worst_group : str, int, float, bool or None
        Label of the worst estimable group (for the selection rate the one farthest from
        overall); None when the gaps are undefined.
    """

    attribute: str
    metric: str
    threshold: float | None
    min_group_size: int
    overall: MetricResult
    groups: tuple[GroupResult, ...]
    max_minus_min: MetricResult
    worst_vs_overall: MetricResult
    worst_group: GroupLabel

    @property
    def gaps(self) -> tuple[MetricResult, MetricResult]:
        """``(max_minus_min, worst_vs_overall)``."""
        return self.max_minus_min, self.worst_vs_overall

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict (``json.dumps(..., allow_nan=False)`` accepts it).

        Examples
        --------
        >>> import json
        >>> y = [0, 1] * 20
        >>> report = subgroup_metrics(y, [0.3, 0.6] * 20, ["a"] * 30 + ["b"] * 10,
        ...                           metric="sensitivity", n_resamples=50)
        >>> d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
        >>> d["groups"][1]["result"]["value"], d["groups"][1]["result"]["reason"]
        (None, '10 cases < min_group_size 20')
        """
        return {
            "attribute": self.attribute,
            "metric": self.metric,
            "threshold": self.threshold,
            "min_group_size": self.min_group_size,
            "overall": self.overall.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "max_minus_min": self.max_minus_min.to_dict(),
            "worst_vs_overall": self.worst_vs_overall.to_dict(),
            "worst_group": self.worst_group,
        }


def subgroup_metrics(
    y_true: ArrayLike,
    y_score: ArrayLike,
    groups: ArrayLike,
    *,
    metric: str,
    threshold: float = 0.5,
    min_group_size: int = 20,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    patient_groups: ArrayLike | None = None,
    attribute: str | None = None,
) -> SubgroupReport:
    r"""A binary metric in each group of an attribute, and the gaps between the groups.

    For groups :math:`g` of the attribute with metric values :math:`m_g` (estimable groups
    only, see below) and the value :math:`m` on all cases:

    .. math::

        \text{max\_minus\_min} = \max_g m_g - \min_g m_g, \qquad
        \text{worst\_vs\_overall} = \max_g d_g, \quad
        d_g = \begin{cases}
            m - m_g & \text{higher is better} \\
            m_g - m & \text{lower is better} \\
            |m_g - m| & \text{selection rate (no direction)}
        \end{cases}

    Both gaps are "lower is better" (``higher_is_better=False``); 0 is parity.
    ``max_minus_min`` of the selection rate is the demographic parity difference, of the
    sensitivity the equal-opportunity difference.

    Metrics (``metric``): ``"roc_auc"`` (DeLong interval per group), ``"sensitivity"``
    (TPR), ``"specificity"``, ``"fpr"`` (1 - specificity), ``"ppv"``, ``"npv"`` (Wilson
    intervals), ``"brier_score"`` (no interval per group; ``y_score`` must be
    probabilities) and ``"selection_rate"`` (share predicted positive, Wilson interval).
    Threshold metrics predict positive when ``y_score >= threshold``.

    A group is *not estimable* -- value NaN with a reason, never 0, and left out of the
    gaps -- when it has fewer than ``min_group_size`` cases, lacks a class the metric needs
    (positives for ROC AUC and sensitivity, negatives for ROC AUC, specificity and FPR), or
    the metric is undefined on it (PPV without positive predictions, NPV without negative
    ones). fairlearn's ``MetricFrame`` reports such a group's TPR as 0.0 instead and counts
    it in ``difference()``; see the module docstring.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    y_score : array-like of shape (n,)
        Finite scores; probabilities in [0, 1] for ``"brier_score"``.
    groups : array-like of shape (n,)
        The attribute of each case: str, int, float or bool labels, one type throughout.
        None, NaN and pandas' ``NA`` mean missing (the string ``"nan"`` is a label); those
        cases form a group labelled None (shown as ``"missing"``) that is reported but not
        compared in the gaps. They count in ``overall``.
    metric : str
        One of the names above.
    threshold : float, default=0.5
        Decision threshold of the threshold metrics (validated always).
    min_group_size : int, default=20
        Groups with fewer cases are not estimated.
    alpha : float, default=0.05
        All intervals are ``1 - alpha`` intervals.
    n_resamples : int, default=1000
        Number of bootstrap resamples for the gaps' intervals.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap; the default makes the intervals reproducible.
    patient_groups : array-like of shape (n,), optional
        Patient id of each case, when a patient contributes several cases: the bootstrap
        then draws whole patients (a cluster bootstrap).
    attribute : str, optional
        Name of the attribute for the report; default ``groups.name`` when ``groups`` has
        a string ``name`` (a pandas Series), else ``"group"``.

    Returns
    -------
    SubgroupReport
        Per-group results, the overall result and the two gaps, named
        ``"<metric>_gap_max_minus_min"`` and ``"<metric>_gap_worst_vs_overall"``. The gaps
        are NaN with a reason when fewer than two labelled groups are estimable.

    Raises
    ------
    ValueError
        On invalid input as for every metric; if ``groups`` or ``patient_groups`` is not
        1-D, has another length than ``y_true`` or mixes label types; if
        ``patient_groups`` has missing values; for an unknown ``metric`` (the message
        suggests the closest name) or an invalid option.

    Notes
    -----
    The gaps' intervals are bootstrap percentile intervals over one shared set of
    ``n_resamples`` resamples of all cases, stratified by label (cases resampled within
    each class of ``y_true``) or, with ``patient_groups``, drawing whole patients within
    strata of their label composition (:func:`~grader.metrics._bootstrap.class_strata`).
    In each resample every compared group's value comes from a weighted batch kernel, and
    the gaps are computed from them. A resample in which a compared group is undefined
    gives a NaN gap and is ignored;
    ``method`` says how many there were and which groups caused them. Time and memory are
    O(n_resamples * n), in batches.

    References
    ----------
    .. [1] Hardt M, Price E, Srebro N. "Equality of opportunity in supervised learning."
       NeurIPS 2016.
    .. [2] Seyyed-Kalantari L, Zhang H, McDermott MBA, Chen IY, Ghassemi M.
       "Underdiagnosis bias of artificial intelligence algorithms applied to chest
       radiographs in under-served patient populations." Nature Medicine 27:2176-2182,
       2021.
    .. [3] Weerts H, Dudik M, Edgar R, Jalali A, Lutz R, Madaio M. "Fairlearn: assessing
       and improving fairness of AI systems." JMLR 24(257):1-8, 2023.
    .. [4] Efron B, Tibshirani RJ. *An Introduction to the Bootstrap.* Chapman & Hall, 1993.

    Examples
    --------
    >>> y = [1, 1, 0, 0] * 10 + [1, 0, 0, 0] * 10
    >>> s = [0.9, 0.4, 0.2, 0.6] * 10 + [0.7, 0.1, 0.2, 0.3] * 10
    >>> sex = ["F"] * 40 + ["M"] * 40
    >>> report = subgroup_metrics(y, s, sex, metric="sensitivity", attribute="sex")
    >>> [(g.label, g.n, g.result.value) for g in report.groups]
    [('F', 40, 0.5), ('M', 40, 1.0)]
    >>> report.max_minus_min.name, report.max_minus_min.value, report.worst_group
    ('sensitivity_gap_max_minus_min', 0.5, 'F')
    >>> round(report.overall.value, 4), round(report.worst_vs_overall.value, 4)
    (0.6667, 0.1667)
    >>> # group "b" has no positive case: NaN with a reason (fairlearn would report 0.0)
    >>> groups = ["a"] * 40 + ["b"] * 20 + [None] * 20
    >>> y2 = [1, 0] * 20 + [0] * 20 + [1, 0] * 10
    >>> r2 = subgroup_metrics(y2, [0.8, 0.3] * 40, groups, metric="sensitivity")
    >>> [(g.label, g.result.value, g.estimable) for g in r2.groups]
    [('a', 1.0, True), ('b', nan, False), ('missing', 1.0, True)]
    >>> r2.groups[1].result.reason
    'no positive cases (20 negative): the sensitivity needs positive cases'
    >>> r2.max_minus_min.reason[:42]
    'fewer than 2 estimable groups (1 of 3): a '
    """
    labels = check_binary_labels(y_true)
    n = labels.shape[0]
    spec = _check_metric(metric)
    scores = check_scores(y_score, n, probabilities=spec.probabilities)
    group_array = _read_labels(groups, "groups", n)
    threshold = check_threshold(threshold)
    min_group_size = check_positive_int(min_group_size, "min_group_size")
    alpha = check_alpha(alpha)
    bootstrap = BootstrapSpec(n_resamples=n_resamples, random_state=random_state)
    patients = None if patient_groups is None else _patient_codes(patient_groups, n)
    if attribute is None:
        name = getattr(groups, "name", None)
        attribute = name if isinstance(name, str) else "group"
    elif not isinstance(attribute, str):
        raise ValueError(f"attribute must be a str such as 'sex'; got {attribute!r}")

    missing = _missing_mask(group_array)
    codes, group_labels = _encode(group_array, "groups", missing)
    members = [np.flatnonzero(codes == k) for k in range(len(group_labels))]
    if missing.any():
        members.append(np.flatnonzero(missing))
        group_labels = [*group_labels, None]

    overall = spec.point(labels, scores, threshold, alpha)
    results = tuple(
        _group_result(spec, label, labels[idx], scores[idx], threshold, alpha, min_group_size)
        for label, idx in zip(group_labels, members, strict=True)
    )
    context = _GapContext(
        spec=spec,
        metric=metric,
        attribute=attribute,
        alpha=alpha,
        n=n,
        overall=overall,
        results=results,
        compared=[i for i, g in enumerate(results) if g.estimable and g.group is not None],
    )
    if len(context.compared) < 2:
        reason = context.too_few_groups_reason()
        max_minus_min = context.gap(0, math.nan, reason=reason)
        worst_vs_overall = context.gap(1, math.nan, reason=reason)
        worst_group: GroupLabel = None
    else:
        max_minus_min, worst_vs_overall, worst_group = _gaps_with_intervals(
            context,
            labels,
            scores,
            scores >= threshold,
            [members[i] for i in context.compared],
            bootstrap,
            patients,
        )
    return SubgroupReport(
        attribute=attribute,
        metric=metric,
        threshold=threshold if spec.uses_threshold else None,
        min_group_size=min_group_size,
        overall=overall,
        groups=results,
        max_minus_min=max_minus_min,
        worst_vs_overall=worst_vs_overall,
        worst_group=worst_group,
    )
