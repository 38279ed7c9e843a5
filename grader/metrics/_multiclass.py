"""Multiclass metrics: one-vs-rest ROC AUC, accuracy, balanced accuracy, macro F1, QWK.

Labels are integer classes ``0..K-1``. ``K`` is ``n_classes`` when given, otherwise the
number of columns of the probability matrix, otherwise (labels on both sides) the largest
label plus one -- the method text says which, and a grader should pass ``n_classes`` so
that a class nobody predicted still counts.

Predictions are either 1-D class labels or an ``(n, K)`` matrix whose rows are
probabilities: finite, in [0, 1] and summing to 1 within ``1e-6``. Anything else is
rejected with the worst row named; rows are never renormalised and logits never pass
through a softmax, so a submission that outputs logits is told so. Label-based metrics
read a probability matrix by its row-wise argmax (ties go to the lowest class, as
``numpy.argmax``).

The edge-case policy of :mod:`grader.metrics` holds: a class that makes a metric undefined
gives NaN with a reason naming the class, never 0 and never a warning.

Intervals
---------
The summary metrics have no interval by default (``ci="none"``). With ``ci="bootstrap"``
they get a percentile interval over ``n_resamples`` resamples: stratified by true class
(each class keeps its number of cases, so a class present in the data is present in every
resample), or with ``groups`` (patient ids) a cluster bootstrap that draws whole groups.
Every resample is evaluated at once by a weighted kernel (the metric of the data with case
``i`` repeated ``W[b, i]`` times, see :mod:`grader.metrics._bootstrap`); no Python loop runs
over resamples. The checks are in :mod:`grader.metrics._multiclass_inputs`, the intervals
and kernels in :mod:`grader.metrics._multiclass_intervals`.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import RandomState
from grader.metrics._classification_ranking import roc_auc
from grader.metrics._multiclass_counts import _class_counts
from grader.metrics._multiclass_inputs import _check_inputs
from grader.metrics._multiclass_intervals import (
    _accuracy_kernel,
    _balanced_accuracy_kernel,
    _kappa_kernel,
    _macro_f1_kernel,
    _plan_interval,
    _roc_auc_kernel,
    _with_interval,
)
from grader.metrics._multiclass_per_class import _per_class
from grader.metrics._result import MetricResult, undefined_result

_AVERAGES = ("macro", "micro")


def _list_classes(classes: NDArray[np.intp]) -> str:
    listed = ", ".join(str(int(c)) for c in classes)
    return f"class {listed}" if classes.shape[0] == 1 else f"classes {listed}"


def _defined(name: str, value: float, method: str, n: int) -> MetricResult:
    return MetricResult(
        name=name,
        value=value,
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=method,
        n=n,
    )


# --- One-vs-rest ROC AUC -------------------------------------------------------------------


def multiclass_roc_auc(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    average: Literal["macro", "micro"] = "macro",
    n_classes: int | None = None,
    ci: Literal["none", "bootstrap"] = "none",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    r"""One-vs-rest ROC AUC of a K-class prediction, macro- or micro-averaged.

    Class :math:`k`'s one-vs-rest AUC is the binary AUC of "is class k" against
    :math:`p_{ik}` (:func:`grader.metrics.roc_auc`, ties counting 1/2).

    - ``"macro"``: the unweighted mean :math:`\frac{1}{K} \sum_k \mathrm{AUC}_k`. A class
      absent from ``y_true`` has no AUC, so the macro value is NaN with a reason naming
      the class -- never the mean of the other classes.
    - ``"micro"``: the AUC of the :math:`nK` flattened one-hot labels against the
      flattened probabilities, i.e. every (positive case-class pair, negative pair)
      comparison pooled. Defined whenever ``n >= 1``.

    Both equal ``sklearn.metrics.roc_auc_score(y_true, y_prob, multi_class="ovr",
    average=..., labels=range(K))`` where sklearn defines them (sklearn warns and gives NaN
    for an absent class). No confidence interval unless ``ci="bootstrap"``; see
    :func:`per_class_roc_auc` for a DeLong interval per class.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_prob : array-like of shape (n, K)
        Class probabilities: finite, in [0, 1], each row summing to 1 within 1e-6. Never
        renormalised: logits or unnormalised scores are rejected.
    average : {"macro", "micro"}, default="macro"
        How the one-vs-rest AUCs are combined.
    n_classes : int, optional
        K; must equal ``y_prob.shape[1]`` when given.
    ci : {"none", "bootstrap"}, default="none"
        ``"bootstrap"``: a percentile interval over ``n_resamples`` resamples, stratified
        by true class, or with ``groups`` a cluster bootstrap (see the module docstring).
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples (validated always).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap; the default makes the interval reproducible.
    groups : array-like of shape (n,), optional
        Group (patient) id of each case for a cluster bootstrap; requires
        ``ci="bootstrap"``.

    Returns
    -------
    MetricResult
        For ``"macro"`` the method text lists every class's AUC.

    References
    ----------
    .. [1] Fawcett T. "An introduction to ROC analysis." Pattern Recognition Letters
       27(8):861-874, 2006.
    .. [2] Hand DJ, Till RJ. "A simple generalisation of the area under the ROC curve for
       multiple class classification problems." Machine Learning 45(2):171-186, 2001.

    Examples
    --------
    >>> y_prob = [[0.5, 0.2, 0.3], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.1, 0.5, 0.4]]
    >>> multiclass_roc_auc([0, 1, 1, 2], y_prob).value  # mean of 1, 0.625 and 1
    0.875
    >>> round(multiclass_roc_auc([0, 1, 1, 2], y_prob, average="micro").value, 4)
    0.9062
    >>> absent = multiclass_roc_auc([0, 1, 1, 1], y_prob)
    >>> absent.value, absent.reason[:37]
    (nan, 'class 2 is absent from y_true (0 of 4')
    """
    if average not in _AVERAGES:
        raise ValueError(
            f"average must be one of {', '.join(repr(a) for a in _AVERAGES)}; got "
            f"{average!r}. ('weighted' is not offered: it hides a weak rare class.)"
        )
    inputs = _check_inputs(y_true, y_prob, n_classes, name="y_prob", labels_allowed=False)
    assert inputs.probs is not None
    plan = _plan_interval(
        inputs,
        ci=ci,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
        groups=groups,
    )
    kernel = _roc_auc_kernel(inputs, average)
    n, k = inputs.labels.shape[0], inputs.n_classes
    equals = f"equals sklearn roc_auc_score(multi_class='ovr', average={average!r})"

    if average == "micro":
        one_hot = inputs.labels[:, None] == np.arange(k)
        pooled = roc_auc(one_hot.ravel(), inputs.probs.ravel())
        method = (
            f"micro-averaged one-vs-rest ROC AUC: binary AUC (midranks for ties) of the "
            f"{n * k} flattened one-hot labels against y_prob ({inputs.k_source}); {equals}"
        )
        return _with_interval(_defined("multiclass_roc_auc", pooled.value, method, n), plan, kernel)

    per = _per_class(inputs, alpha=0.05)
    values = np.array([per[c].value for c in range(k)])
    listed = ", ".join(
        f"{c}: {v:.4f}" if math.isfinite(v) else f"{c}: undefined" for c, v in enumerate(values)
    )
    method = (
        f"macro-averaged one-vs-rest ROC AUC: unweighted mean of the per-class binary AUCs "
        f"(midranks for ties) over {k} classes ({inputs.k_source}); per class {{{listed}}}; "
        f"{equals}"
    )
    undefined = np.flatnonzero(np.isnan(values))
    if undefined.size:
        counts = np.bincount(inputs.labels, minlength=k)
        absent = np.flatnonzero(counts == 0)
        single = np.flatnonzero(counts == n)
        verb = "is" if absent.size == 1 else "are"
        counted = f"all {n} cases are class {int(single[0])}" if single.size else f"0 of {n} cases"
        reason = (
            f"{_list_classes(absent)} {verb} absent from y_true ({counted}): "
            f"one-vs-rest ROC AUC is undefined for {_list_classes(undefined)}, so the macro "
            f"average over {k} classes is undefined (average='micro' stays defined)"
        )
        return _with_interval(
            undefined_result("multiclass_roc_auc", method=method, n=n, reason=reason), plan, kernel
        )
    # Sum, then divide: the plain mean sklearn's np.average computes.
    return _with_interval(
        _defined("multiclass_roc_auc", float(np.mean(values)), method, n), plan, kernel
    )


# --- Label-based metrics -------------------------------------------------------------------


def accuracy(
    y_true: ArrayLike,
    y_pred_or_prob: ArrayLike,
    *,
    n_classes: int | None = None,
    ci: Literal["none", "bootstrap"] = "none",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    r"""Accuracy: the share of cases whose predicted class (the argmax) is the true class.

    .. math::

        \mathrm{accuracy} = \frac{1}{n} \sum_i [\hat y_i = y_i]

    Equals ``sklearn.metrics.accuracy_score``. Unlike :func:`balanced_accuracy` it weighs
    classes by their frequency, so predicting the majority class for every case scores that
    class's share (PubMedQA's "majority" baseline). Always defined; no confidence interval
    unless ``ci="bootstrap"``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_pred_or_prob : array-like of shape (n,) or (n, K)
        Predicted labels 0..K-1, or class probabilities (rows in [0, 1] summing to 1
        within 1e-6) whose row-wise argmax is the prediction.
    n_classes : int, optional
        K. Labels must lie in 0..K-1; with probabilities it must equal the column count.
    ci : {"none", "bootstrap"}, default="none"
        ``"bootstrap"``: a percentile interval over ``n_resamples`` resamples, stratified
        by true class, or with ``groups`` a cluster bootstrap (see the module docstring).
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples (validated always).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap; the default makes the interval reproducible.
    groups : array-like of shape (n,), optional
        Group (patient) id of each case for a cluster bootstrap; requires
        ``ci="bootstrap"``.

    Returns
    -------
    MetricResult

    Examples
    --------
    >>> accuracy([0, 0, 0, 1, 2, 2], [0, 0, 1, 1, 2, 0]).value  # 4 of 6
    0.6666666666666666
    """
    inputs = _check_inputs(
        y_true, y_pred_or_prob, n_classes, name="y_pred_or_prob", labels_allowed=True
    )
    plan = _plan_interval(
        inputs,
        ci=ci,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
        groups=groups,
    )
    value = float(np.mean(inputs.labels == inputs.predicted))
    method = (
        f"share of cases predicted as their true class ({inputs.note}); equals sklearn "
        "accuracy_score"
    )
    result = _defined("accuracy", value, method, inputs.labels.shape[0])
    return _with_interval(result, plan, _accuracy_kernel(inputs))


def balanced_accuracy(
    y_true: ArrayLike,
    y_pred_or_prob: ArrayLike,
    *,
    n_classes: int | None = None,
    ci: Literal["none", "bootstrap"] = "none",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    r"""Balanced accuracy: the mean over classes present in ``y_true`` of per-class recall.

    .. math::

        \mathrm{BA} = \frac{1}{|P|} \sum_{k \in P} \frac{C_{kk}}{\sum_j C_{kj}}

    with :math:`C` the confusion matrix (rows true, columns predicted) and :math:`P` the
    classes with at least one case in ``y_true``. As in
    ``sklearn.metrics.balanced_accuracy_score``, which it equals, a class absent from
    ``y_true`` has no recall and is left out of the mean; the method text names such
    classes. With every class present it is the macro-averaged recall. Always defined;
    no confidence interval unless ``ci="bootstrap"``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_pred_or_prob : array-like of shape (n,) or (n, K)
        Predicted labels 0..K-1, or class probabilities (rows in [0, 1] summing to 1
        within 1e-6) whose row-wise argmax is the prediction.
    n_classes : int, optional
        K. Labels must lie in 0..K-1; with probabilities it must equal the column count.
    ci : {"none", "bootstrap"}, default="none"
        ``"bootstrap"``: a percentile interval over ``n_resamples`` resamples, stratified
        by true class, or with ``groups`` a cluster bootstrap (see the module docstring).
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples (validated always).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap; the default makes the interval reproducible.
    groups : array-like of shape (n,), optional
        Group (patient) id of each case for a cluster bootstrap; requires
        ``ci="bootstrap"``.

    Returns
    -------
    MetricResult

    References
    ----------
    .. [1] Brodersen KH, Ong CS, Stephan KE, Buhmann JM. "The balanced accuracy and its
       posterior distribution." 20th International Conference on Pattern Recognition,
       3121-3124, 2010.

    Examples
    --------
    >>> balanced_accuracy([0, 0, 0, 1, 2, 2], [0, 0, 1, 1, 2, 0]).value  # (2/3 + 1 + 1/2) / 3
    0.7222222222222222
    """
    inputs = _check_inputs(
        y_true, y_pred_or_prob, n_classes, name="y_pred_or_prob", labels_allowed=True
    )
    plan = _plan_interval(
        inputs,
        ci=ci,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
        groups=groups,
    )
    counts = _class_counts(inputs)
    support = counts.cases
    present = support > 0
    recall = counts.true_positives[present] / support[present]
    absent = np.flatnonzero(~present)
    excluded = (
        f"; {_list_classes(absent)} {'is' if absent.size == 1 else 'are'} absent from y_true "
        f"and left out (no recall; as sklearn does), "
        f"so the mean is over {int(np.count_nonzero(present))} of {inputs.n_classes} classes"
        if absent.size
        else ""
    )
    method = (
        f"mean per-class recall over the classes present in y_true ({inputs.note}){excluded}; "
        f"equals sklearn balanced_accuracy_score"
    )
    result = _defined("balanced_accuracy", float(np.mean(recall)), method, inputs.labels.shape[0])
    return _with_interval(result, plan, _balanced_accuracy_kernel(inputs))


def macro_f1(
    y_true: ArrayLike,
    y_pred_or_prob: ArrayLike,
    *,
    n_classes: int | None = None,
    ci: Literal["none", "bootstrap"] = "none",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    r"""Macro-averaged F1: the unweighted mean over all K classes of the per-class F1.

    .. math::

        F1_k = \frac{2\,TP_k}{2\,TP_k + FP_k + FN_k}, \qquad
        \mathrm{macro\ F1} = \frac{1}{K} \sum_{k=0}^{K-1} F1_k

    A class with no case in ``y_true`` and none predicted has :math:`F1_k = 0/0`, and then
    the macro value is NaN with a reason naming the class. This departs on purpose from
    ``sklearn.metrics.f1_score(average="macro", labels=range(K))``, which scores such a
    class 0 by default and drops it from the mean with ``zero_division=np.nan``; where
    every class is defined the two are equal. A class with cases but no predictions (or
    the reverse) is defined and scores 0. No confidence interval unless
    ``ci="bootstrap"``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_pred_or_prob : array-like of shape (n,) or (n, K)
        Predicted labels 0..K-1, or class probabilities whose row-wise argmax is the
        prediction.
    n_classes : int, optional
        K. Without it K comes from the probability columns or, for labels, from the
        largest label; pass it so that a class missing from both sides is noticed.
    ci : {"none", "bootstrap"}, default="none"
        ``"bootstrap"``: a percentile interval over ``n_resamples`` resamples, stratified
        by true class, or with ``groups`` a cluster bootstrap (see the module docstring).
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples (validated always).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap; the default makes the interval reproducible.
    groups : array-like of shape (n,), optional
        Group (patient) id of each case for a cluster bootstrap; requires
        ``ci="bootstrap"``.

    Returns
    -------
    MetricResult

    References
    ----------
    .. [1] Sokolova M, Lapalme G. "A systematic analysis of performance measures for
       classification tasks." Information Processing & Management 45(4):427-437, 2009.

    Examples
    --------
    >>> round(macro_f1([0, 0, 1, 1, 2], [0, 1, 1, 1, 2]).value, 4)  # (2/3 + 4/5 + 1) / 3
    0.8222
    >>> macro_f1([0, 0, 1], [0, 1, 1], n_classes=3).reason[:45]
    'class 2 has no case in y_true and none predic'
    """
    inputs = _check_inputs(
        y_true, y_pred_or_prob, n_classes, name="y_pred_or_prob", labels_allowed=True
    )
    plan = _plan_interval(
        inputs,
        ci=ci,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
        groups=groups,
    )
    kernel = _macro_f1_kernel(inputs)
    k = inputs.n_classes
    counts = _class_counts(inputs)
    # 2 TP + FP + FN = (cases of class k) + (predictions of class k).
    denominator = counts.cases + counts.predictions
    method = (
        f"unweighted mean over {k} classes of F1_k = 2 TP / (2 TP + FP + FN) ({inputs.note}); "
        f"equals sklearn f1_score(average='macro', labels=range(K)) when every class has a "
        f"case or a prediction, else NaN (sklearn: 0, or dropped with zero_division=nan)"
    )
    n = inputs.labels.shape[0]
    empty = np.flatnonzero(denominator == 0)
    if empty.size:
        verb, pronoun = ("has", "it") if empty.size == 1 else ("have", "each")
        reason = (
            f"{_list_classes(empty)} {verb} no case in y_true and none predicted: F1 = 0/0 "
            f"for {pronoun}, so the macro average over {k} classes is undefined"
        )
        return _with_interval(
            undefined_result("macro_f1", method=method, n=n, reason=reason), plan, kernel
        )
    f1 = 2.0 * counts.true_positives / denominator
    return _with_interval(_defined("macro_f1", float(np.mean(f1)), method, n), plan, kernel)


def quadratic_weighted_kappa(
    y_true: ArrayLike,
    y_pred_or_prob: ArrayLike,
    *,
    n_classes: int | None = None,
    ci: Literal["none", "bootstrap"] = "none",
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    r"""Cohen's kappa with quadratic weights, for ordinal grades 0..K-1.

    .. math::

        \kappa_w = 1 - \frac{\sum_{ij} w_{ij} O_{ij}}{\sum_{ij} w_{ij} E_{ij}}, \qquad
        w_{ij} = (i - j)^2, \quad E_{ij} = \frac{O_{i\cdot}\, O_{\cdot j}}{n}

    with :math:`O` the confusion matrix of grades (rows true, columns predicted) and
    :math:`E` its expectation under independent marginals. 1 is perfect agreement, 0 is
    chance level, negative is worse than chance. Weights use the grade values, so a grade
    nobody used still counts in the distance: the value equals
    ``sklearn.metrics.cohen_kappa_score(weights="quadratic", labels=range(K))`` (without
    ``labels`` sklearn weighs by position among the grades observed). When the expected
    disagreement is 0 -- every case and every prediction the same grade -- kappa is 0/0
    and the value is NaN with a reason. Both sums are computed exactly from moments of the
    grades, without forming the K x K matrices. No confidence interval unless
    ``ci="bootstrap"``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True grades 0..K-1, e.g. diabetic retinopathy grades 0-4.
    y_pred_or_prob : array-like of shape (n,) or (n, K)
        Predicted grades, or class probabilities whose row-wise argmax is the predicted
        grade (not the expected grade).
    n_classes : int, optional
        K, the number of grades; the value does not depend on it, the label check does.
    ci : {"none", "bootstrap"}, default="none"
        ``"bootstrap"``: a percentile interval over ``n_resamples`` resamples, stratified
        by true class, or with ``groups`` a cluster bootstrap (see the module docstring).
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples (validated always).
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the bootstrap; the default makes the interval reproducible.
    groups : array-like of shape (n,), optional
        Group (patient) id of each case for a cluster bootstrap; requires
        ``ci="bootstrap"``.

    Returns
    -------
    MetricResult

    References
    ----------
    .. [1] Cohen J. "Weighted kappa: nominal scale agreement with provision for scaled
       disagreement or partial credit." Psychological Bulletin 70(4):213-220, 1968.
    .. [2] Fleiss JL, Cohen J. "The equivalence of weighted kappa and the intraclass
       correlation coefficient as measures of reliability." Educational and Psychological
       Measurement 33(3):613-619, 1973.

    Examples
    --------
    >>> quadratic_weighted_kappa([0, 1, 2, 3, 4], [0, 2, 2, 3, 3]).value  # 1 - 2 / 16
    0.875
    >>> quadratic_weighted_kappa([2, 2, 2], [2, 2, 2], n_classes=5).value
    nan
    """
    inputs = _check_inputs(
        y_true, y_pred_or_prob, n_classes, name="y_pred_or_prob", labels_allowed=True
    )
    plan = _plan_interval(
        inputs,
        ci=ci,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
        groups=groups,
    )
    k = inputs.n_classes
    n = inputs.labels.shape[0]
    y, p = inputs.labels, inputs.predicted
    # With w_ij = (i - j)^2 both sums reduce to moments, so the K x K matrices are never
    # formed (a student's (n, K) matrix with huge K cannot blow up memory):
    #   sum_ij w_ij O_ij               = sum_c (y_c - p_c)^2
    #   n sum_ij w_ij E_ij = sum_ij w_ij O_i. O_.j = n (sum y^2 + sum p^2) - 2 sum y sum p.
    # Python ints keep both exact (numpy's int64 sums are exact while n (K - 1)^2 < 2^63),
    # so the 0/0 test is exact and the one rounding is the final division.
    disagreement = int(np.sum(np.square(y - p)))
    sum_y, sum_p = int(np.sum(y)), int(np.sum(p))
    expected_n = n * (int(np.sum(np.square(y))) + int(np.sum(np.square(p)))) - 2 * sum_y * sum_p
    method = (
        f"Cohen's kappa with quadratic weights (i - j)^2 on grades 0..{k - 1} ({inputs.note}); "
        f"equals sklearn cohen_kappa_score(weights='quadratic', labels=range(K))"
    )
    if expected_n == 0:
        grade = int(inputs.labels[0])
        reason = (
            f"every case in y_true and every prediction is grade {grade}: the "
            f"chance-expected disagreement is 0, so kappa is 0/0"
        )
        result = undefined_result("quadratic_weighted_kappa", method=method, n=n, reason=reason)
    else:
        kappa = 1.0 - n * disagreement / expected_n
        result = _defined("quadratic_weighted_kappa", kappa, method, n)
    return _with_interval(result, plan, _kappa_kernel(inputs))
