"""Multiclass metrics: one-vs-rest ROC AUC, balanced accuracy, macro F1, quadratic kappa.

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
over resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import (
    BootstrapSpec,
    RandomState,
    _ratio,
    percentile_interval,
    weighted_roc_auc,
)
from grader.metrics._classification import roc_auc
from grader.metrics._result import MetricResult
from grader.metrics._validation import (
    _describe_values,
    _show,
    check_alpha,
    check_positive_int,
)

#: How far a row of class probabilities may sum from 1 (float32 softmax outputs pass).
ROW_SUM_TOLERANCE = 1e-6
_MAX_ROW_ENTRIES_SHOWN = 10
_AVERAGES = ("macro", "micro")
_CI_CHOICES = ("none", "bootstrap")
_MAX_INFERRED_CLASSES = 1000


def _read_array(values: ArrayLike, name: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise ValueError(f"{name} could not be read as a numeric array: {exc}") from exc


def _describe_labels(values: NDArray[np.float64]) -> str:
    # Labels are held as float64 for the checks; show whole numbers as a student wrote them.
    whole = (values == np.round(values)) & (np.abs(values) < 2.0**62)
    if whole.all():
        return _describe_values(values.astype(np.int64))
    return _describe_values(values)


def _class_labels(array: np.ndarray, name: str) -> NDArray[np.float64]:
    """Check a 1-D array holds whole numbers >= 0 and return it as float64 (range unchecked).

    Float64 keeps the range check against ``K`` exact for any integer dtype before the
    cast to ``intp``; labels beyond 2**53 are out of range whatever their rounding.
    """
    if array.size == 0:
        raise ValueError(f"{name} is empty; a metric needs at least one case")
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} must be integer class labels 0..K-1 (bool, integer or whole floats); "
            f"got dtype {array.dtype}"
        )
    values = array.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        raise ValueError(
            f"{name} contains {int(values.size - np.count_nonzero(finite))} NaN/inf values; "
            f"every case needs a class label (medgrade never drops or imputes cases)"
        )
    if not np.all(values == np.round(values)):
        fractional = values[values != np.round(values)]
        raise ValueError(
            f"{name} must be integer class labels 0..K-1; got non-integer values "
            f"{_describe_values(fractional)}"
        )
    if values.min() < 0:
        raise ValueError(
            f"{name} must be class labels 0..K-1; got negative values "
            f"{_describe_labels(values[values < 0])}"
        )
    return values


def _check_n_classes(n_classes: int | None) -> int | None:
    if n_classes is None:
        return None
    k = check_positive_int(n_classes, "n_classes")
    if k < 2:
        raise ValueError(f"n_classes must be at least 2 for a multiclass metric; got {k}")
    return k


def _show_row(row: NDArray[np.float64]) -> str:
    shown = [_show(v) for v in row[:_MAX_ROW_ENTRIES_SHOWN]]
    more = f", ... ({row.shape[0]} columns)" if row.shape[0] > _MAX_ROW_ENTRIES_SHOWN else ""
    return "[" + ", ".join(shown) + more + "]"


def _check_probability_matrix(
    array: np.ndarray, n_cases: int, name: str, n_classes: int | None
) -> NDArray[np.float64]:
    """Validate an (n, K) matrix of class probabilities; nothing is clipped or renormalised."""
    if array.ndim != 2:
        got = "a scalar" if array.ndim == 0 else f"an array of shape {array.shape}"
        raise ValueError(
            f"{name} must be an (n, K) matrix of class probabilities, one row per case; "
            f"got {got}. For a binary task with one probability per case use roc_auc"
        )
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be real numbers; got dtype {array.dtype}")
    if array.shape[0] != n_cases:
        raise ValueError(
            f"y_true and {name} must have the same number of cases; got len(y_true)={n_cases} "
            f"and {name}.shape[0]={array.shape[0]}"
        )
    if n_classes is not None and array.shape[1] != n_classes:
        raise ValueError(
            f"{name} must have one column per class; got {array.shape[1]} columns but "
            f"n_classes={n_classes}"
        )
    if array.shape[1] < 2:
        raise ValueError(
            f"{name} must have at least 2 columns (one per class); got shape {array.shape}"
        )
    probs = array.astype(np.float64, copy=False)
    problem = probability_row_problem(probs)
    if problem is None:
        return probs
    row = f"row {problem.row} = {_show_row(probs[problem.row])}"
    if problem.kind == "non_finite":
        raise ValueError(
            f"{name} contains NaN/inf in {problem.n_rows} rows (first: {row}); every case needs "
            f"finite probabilities (medgrade never drops or imputes cases)"
        )
    if problem.kind == "out_of_range":
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; {problem.n_rows} rows have values "
            f"outside (worst: {row}). medgrade never clips or applies a softmax: convert logits "
            f"to probabilities in the submission"
        )
    raise ValueError(
        f"each row of {name} must sum to 1 (within {ROW_SUM_TOLERANCE:g}); {problem.n_rows} "
        f"rows do not (worst: {row} sums to {_show(probs[problem.row].sum())}). medgrade never "
        f"renormalises: apply a softmax over all classes in the submission"
    )


@dataclass(frozen=True)
class RowProblem:
    """How a matrix fails to hold one probability distribution per row: the first check it
    fails, how many rows fail it, and the row to show (the first or the worst)."""

    kind: Literal["non_finite", "out_of_range", "row_sum"]
    n_rows: int
    row: int


def probability_row_problem(probs: NDArray[np.float64]) -> RowProblem | None:
    """The first of medgrade's checks of class probabilities an (n, K) float matrix fails:
    every value finite, every value in [0, 1], every row summing to 1 within
    :data:`ROW_SUM_TOLERANCE`.  None when it passes.  Callers word the message for their
    reader (a metric's caller, or a student whose submission returned the matrix)."""
    bad_rows = ~np.isfinite(probs).all(axis=1)
    if bad_rows.any():
        return RowProblem("non_finite", int(np.count_nonzero(bad_rows)), int(np.argmax(bad_rows)))
    excess = np.maximum(probs - 1.0, -probs).max(axis=1)
    if (excess > 0.0).any():
        return RowProblem(
            "out_of_range", int(np.count_nonzero(excess > 0.0)), int(np.argmax(excess))
        )
    deviation = np.abs(probs.sum(axis=1) - 1.0)
    off = deviation > ROW_SUM_TOLERANCE
    if off.any():
        return RowProblem("row_sum", int(np.count_nonzero(off)), int(np.argmax(deviation)))
    return None


@dataclass(frozen=True, slots=True)
class _Inputs:
    labels: NDArray[np.intp]
    predicted: NDArray[np.intp]
    probs: NDArray[np.float64] | None
    n_classes: int
    k_source: str  # where K came from, for the method text
    argmax_from: str | None  # argument whose row-wise argmax gave the predictions

    @property
    def note(self) -> str:
        """Where K and the predicted labels came from, for a label metric's method text."""
        if self.argmax_from is None:
            return self.k_source
        return (
            f"{self.k_source}; predicted class = row-wise argmax of {self.argmax_from}, "
            f"ties to the lowest class"
        )


def _check_range(values: NDArray[np.float64], k: int, name: str, k_source: str) -> None:
    outside = values >= k
    if outside.any():
        raise ValueError(
            f"{name} must hold class labels 0..{k - 1} ({k_source}); got values "
            f"{_describe_labels(values[outside])} outside that range"
        )


def _check_inputs(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    n_classes: int | None,
    *,
    name: str,
    labels_allowed: bool,
) -> _Inputs:
    """Validate labels and predictions (1-D labels or an (n, K) probability matrix)."""
    true_array = _read_array(y_true, "y_true")
    if true_array.ndim != 1:
        got = "a scalar" if true_array.ndim == 0 else f"an array of shape {true_array.shape}"
        raise ValueError(
            f"y_true must be 1-D class labels 0..K-1, one per case; got {got}. For one-hot "
            f"labels pass y_true.argmax(axis=1)"
        )
    true_values = _class_labels(true_array, "y_true")
    n_cases = true_values.shape[0]
    k_given = _check_n_classes(n_classes)
    pred_array = _read_array(y_pred, name)

    probs: NDArray[np.float64] | None = None
    pred_values: NDArray[np.float64] | None = None
    if pred_array.ndim == 1 and labels_allowed:
        if pred_array.dtype.kind == "f":
            fractional = np.isfinite(pred_array) & (pred_array != np.round(pred_array))
            if fractional.any():
                raise ValueError(
                    f"{name} is 1-D, so it is read as predicted class labels, but it holds "
                    f"non-integer values (e.g. {_show(pred_array[fractional][0])}); pass "
                    f"integer labels 0..K-1 or the (n, K) matrix of class probabilities"
                )
        pred_values = _class_labels(pred_array, name)
        if pred_values.shape[0] != n_cases:
            raise ValueError(
                f"y_true and {name} must have the same length; got len(y_true)={n_cases} and "
                f"len({name})={pred_values.shape[0]}"
            )
    else:
        probs = _check_probability_matrix(pred_array, n_cases, name, k_given)

    if k_given is not None:
        k, k_source = k_given, f"n_classes={k_given}"
    elif probs is not None:
        k, k_source = probs.shape[1], f"K={probs.shape[1]} from the columns of {name}"
    else:
        assert pred_values is not None
        largest = max(true_values.max(), pred_values.max())
        if largest >= _MAX_INFERRED_CLASSES:
            # Per-class counts take O(K) memory; a stray huge label must not set K.
            raise ValueError(
                f"the largest label in y_true and {name} is {int(largest)}; "
                f"K is inferred from labels only up to {_MAX_INFERRED_CLASSES} classes, "
                f"pass n_classes to state K"
            )
        k = int(largest) + 1
        k_source = f"K={k} inferred from the largest label; pass n_classes to fix K"
    _check_range(true_values, k, "y_true", k_source)
    if pred_values is not None:
        _check_range(pred_values, k, name, k_source)
        predicted = pred_values.astype(np.intp)
        argmax_from = None
    else:
        assert probs is not None
        predicted = np.argmax(probs, axis=1).astype(np.intp, copy=False)
        argmax_from = name
    return _Inputs(true_values.astype(np.intp), predicted, probs, k, k_source, argmax_from)


@dataclass(frozen=True, slots=True)
class _ClassCounts:
    cases: NDArray[np.intp]  # row sums of the confusion matrix
    predictions: NDArray[np.intp]  # column sums
    true_positives: NDArray[np.intp]  # diagonal


def _class_counts(inputs: _Inputs) -> _ClassCounts:
    """Diagonal and margins of the confusion matrix in O(n + K), by three bincounts.

    The per-class metrics need nothing else, and the K x K matrix itself would let a
    probability matrix with very many columns exhaust memory.
    """
    k = inputs.n_classes
    hits = inputs.labels[inputs.labels == inputs.predicted]
    return _ClassCounts(
        cases=np.bincount(inputs.labels, minlength=k),
        predictions=np.bincount(inputs.predicted, minlength=k),
        true_positives=np.bincount(hits, minlength=k),
    )


def _list_classes(classes: NDArray[np.intp]) -> str:
    listed = ", ".join(str(int(c)) for c in classes)
    return f"class {listed}" if classes.shape[0] == 1 else f"classes {listed}"


def _undefined(name: str, method: str, n: int, reason: str) -> MetricResult:
    return MetricResult(
        name=name,
        value=math.nan,
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=method,
        n=n,
        reason=reason,
    )


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


# --- Bootstrap intervals -------------------------------------------------------------------

#: A weighted batch kernel: the metric under each row of a (B, n) matrix of case weights.
_Kernel = Callable[[np.ndarray], NDArray[np.float64]]


@dataclass(frozen=True, slots=True)
class _IntervalPlan:
    alpha: float
    spec: BootstrapSpec
    batches: Iterator[np.ndarray]
    design: str


def _plan_interval(
    inputs: _Inputs,
    *,
    ci: str,
    alpha: float,
    n_resamples: int,
    random_state: RandomState,
    groups: ArrayLike | None,
) -> _IntervalPlan | None:
    """Validate the interval options (all of them, whatever ``ci``) and draw nothing yet."""
    if ci not in _CI_CHOICES:
        raise ValueError(f"ci must be one of 'none', 'bootstrap'; got {ci!r}")
    alpha = check_alpha(alpha)
    spec = BootstrapSpec(n_resamples=n_resamples, random_state=random_state)
    if ci == "none":
        if groups is not None:
            raise ValueError(
                "groups is only used with ci='bootstrap' (a cluster bootstrap over groups); "
                "pass ci='bootstrap' or drop groups"
            )
        return None
    n = inputs.labels.shape[0]
    if groups is None:
        # Within each true class: a class present in the data is present in every resample.
        batches = spec.weight_batches(n, strata=inputs.labels)
        design = "stratified bootstrap (cases resampled within each true class, class sizes kept)"
    else:
        batches = spec.weight_batches(n, groups=groups)  # validates groups now
        n_groups = np.unique(np.asarray(groups)).shape[0]
        design = (
            f"cluster bootstrap over {n_groups} groups (whole groups drawn with replacement; "
            f"class sizes vary)"
        )
    return _IntervalPlan(alpha, spec, batches, design)


def _with_interval(
    result: MetricResult, plan: _IntervalPlan | None, kernel: _Kernel
) -> MetricResult:
    """``result`` with its bootstrap interval (or none), said in its method text."""
    if plan is None:
        return replace(result, method=f"{result.method}; no CI")
    if not result.defined:
        return replace(result, method=f"{result.method}; no CI", alpha=plan.alpha)
    estimates = np.concatenate([kernel(weights) for weights in plan.batches])
    n_undefined = int(np.count_nonzero(np.isnan(estimates)))
    method = (
        f"{result.method}; "
        f"{plan.spec.describe(alpha=plan.alpha, design=plan.design, n_undefined=n_undefined)}"
    )
    low, high = percentile_interval(estimates, plan.alpha)
    if math.isnan(low):
        return replace(result, method=f"{method}; no CI: undefined on every resample")
    return replace(result, ci_low=low, ci_high=high, method=method, alpha=plan.alpha)


def _one_hot(classes: NDArray[np.intp], k: int) -> NDArray[np.float64]:
    return (classes[:, None] == np.arange(k)).astype(np.float64)


def _weighted_class_counts(
    inputs: _Inputs, weights: np.ndarray
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per resample and class: weighted cases, predictions and true positives, each (B, K)."""
    truth = _one_hot(inputs.labels, inputs.n_classes)
    predicted = _one_hot(inputs.predicted, inputs.n_classes)
    w = weights.astype(np.float64)
    return w @ truth, w @ predicted, w @ (truth * predicted)


def _balanced_accuracy_kernel(inputs: _Inputs) -> _Kernel:
    def kernel(weights: np.ndarray) -> NDArray[np.float64]:
        cases, _, true_positives = _weighted_class_counts(inputs, weights)
        present = cases > 0
        recall = np.where(present, _ratio(true_positives, cases), 0.0)
        return _ratio(recall.sum(axis=1), present.sum(axis=1).astype(np.float64))

    return kernel


def _macro_f1_kernel(inputs: _Inputs) -> _Kernel:
    def kernel(weights: np.ndarray) -> NDArray[np.float64]:
        cases, predictions, true_positives = _weighted_class_counts(inputs, weights)
        # NaN for a class without cases or predictions makes the row's mean NaN, as above.
        return _ratio(2.0 * true_positives, cases + predictions).mean(axis=1)

    return kernel


def _kappa_kernel(inputs: _Inputs) -> _Kernel:
    y = inputs.labels.astype(np.float64)
    p = inputs.predicted.astype(np.float64)
    columns = np.stack([np.ones_like(y), np.square(y - p), y, p, np.square(y), np.square(p)])

    def kernel(weights: np.ndarray) -> NDArray[np.float64]:
        # The moments of the point estimate, weighted; integer-valued, so exact in float64.
        moments = (weights.astype(np.float64) @ columns.T).T
        n, disagreement, sum_y, sum_p, sum_yy, sum_pp = moments
        expected_n = n * (sum_yy + sum_pp) - 2.0 * sum_y * sum_p
        return 1.0 - _ratio(n * disagreement, expected_n)

    return kernel


def _roc_auc_kernel(inputs: _Inputs, average: str) -> _Kernel:
    assert inputs.probs is not None
    probs, k = inputs.probs, inputs.n_classes
    if average == "micro":
        one_hot = _one_hot(inputs.labels, k).ravel()
        return lambda weights: weighted_roc_auc(
            one_hot, probs.ravel(), np.repeat(weights, k, axis=1)
        )

    def kernel(weights: np.ndarray) -> NDArray[np.float64]:
        per_class = [weighted_roc_auc(inputs.labels == c, probs[:, c], weights) for c in range(k)]
        return np.mean(per_class, axis=0)

    return kernel


# --- One-vs-rest ROC AUC -------------------------------------------------------------------


def _per_class(inputs: _Inputs, alpha: float) -> dict[int, MetricResult]:
    assert inputs.probs is not None
    n = inputs.labels.shape[0]
    counts = np.bincount(inputs.labels, minlength=inputs.n_classes)
    results: dict[int, MetricResult] = {}
    # One binary roc_auc per class (K is small): ties and midranks follow one implementation.
    for k in range(inputs.n_classes):
        result = roc_auc(inputs.labels == k, inputs.probs[:, k], alpha=alpha)
        method = f"class {k} vs rest (one-vs-rest); {result.method}"
        if result.defined:
            results[k] = replace(result, method=method)
            continue
        if counts[k] == 0:
            reason = (
                f"class {k} is absent from y_true (0 of {n} cases): its one-vs-rest ROC AUC "
                f"needs at least one case of class {k} and one of another class"
            )
        else:
            reason = (
                f"every case in y_true is class {k} ({n} cases): its one-vs-rest ROC AUC needs "
                f"at least one case of another class"
            )
        results[k] = replace(result, method=method, reason=reason)
    return results


def per_class_roc_auc(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    n_classes: int | None = None,
    alpha: float = 0.05,
) -> dict[int, MetricResult]:
    """One-vs-rest ROC AUC of every class, each with a DeLong interval.

    Class ``k``'s AUC is :func:`grader.metrics.roc_auc` of ``y_true == k`` against
    ``y_prob[:, k]``; its result keeps the binary metric's name ``"roc_auc"`` and says
    which class in ``method``.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_prob : array-like of shape (n, K)
        Class probabilities: finite, in [0, 1], each row summing to 1 within 1e-6.
    n_classes : int, optional
        K; must equal ``y_prob.shape[1]`` when given.
    alpha : float, default=0.05
        Each interval is a ``1 - alpha`` DeLong interval.

    Returns
    -------
    dict of int to MetricResult
        Keyed by class, in class order. A class absent from ``y_true`` (or holding every
        case) has value NaN and a reason naming it.

    Examples
    --------
    >>> per = per_class_roc_auc([0, 1, 2, 2], [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3],
    ...                                         [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    >>> {k: r.value for k, r in per.items()}
    {0: 1.0, 1: 1.0, 2: 1.0}
    """
    alpha = check_alpha(alpha)
    inputs = _check_inputs(y_true, y_prob, n_classes, name="y_prob", labels_allowed=False)
    return _per_class(inputs, alpha)


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
        return _with_interval(_undefined("multiclass_roc_auc", method, n, reason), plan, kernel)
    # Sum, then divide: the plain mean sklearn's np.average computes.
    return _with_interval(
        _defined("multiclass_roc_auc", float(np.mean(values)), method, n), plan, kernel
    )


# --- Label-based metrics -------------------------------------------------------------------


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
        return _with_interval(_undefined("macro_f1", method, n, reason), plan, kernel)
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
        result = _undefined("quadratic_weighted_kappa", method, n, reason)
    else:
        kappa = 1.0 - n * disagreement / expected_n
        result = _defined("quadratic_weighted_kappa", kappa, method, n)
    return _with_interval(result, plan, _kappa_kernel(inputs))


def multiclass_confusion_matrix(
    y_true: ArrayLike, y_pred_or_prob: ArrayLike, *, n_classes: int | None = None
) -> NDArray[np.int64]:
    """The K x K confusion matrix: ``C[i, j]`` cases of true class ``i`` predicted ``j``.

    Predictions are labels or a probability matrix read by its row-wise argmax, checked as
    for every metric here. Meant for reports, where K is the task's handful of classes.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Class labels 0..K-1.
    y_pred_or_prob : array-like of shape (n,) or (n, K)
        Predicted labels, or class probabilities whose row-wise argmax is the prediction.
    n_classes : int, optional
        K; pass it so that a class nobody has or predicts still gets its row and column.

    Returns
    -------
    ndarray of int64, shape (K, K)
        Rows true classes, columns predicted classes, as ``sklearn.metrics.confusion_matrix``
        with ``labels=range(K)``.

    Examples
    --------
    >>> multiclass_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 1]).tolist()
    [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    """
    inputs = _check_inputs(
        y_true, y_pred_or_prob, n_classes, name="y_pred_or_prob", labels_allowed=True
    )
    k = inputs.n_classes
    cells = np.bincount(inputs.labels * k + inputs.predicted, minlength=k * k)
    return cells.reshape(k, k).astype(np.int64)
