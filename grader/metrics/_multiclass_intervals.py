"""Bootstrap intervals of the multiclass summary metrics.

An interval is planned (options validated, resamples not yet drawn) before the point
estimate, so that bad options fail on every call; every resample is then evaluated at once
by the metric's weighted kernel (the metric of the data with case ``i`` repeated
``W[b, i]`` times, see :mod:`grader.metrics._bootstrap`), with no Python loop over
resamples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import BootstrapSpec, RandomState, percentile_interval
from grader.metrics._bootstrap_kernels import _ratio, weighted_roc_auc
from grader.metrics._multiclass_inputs import _Inputs
from grader.metrics._result import MetricResult
from grader.metrics._validation import check_alpha

_CI_CHOICES = ("none", "bootstrap")

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


def _accuracy_kernel(inputs: _Inputs) -> _Kernel:
    correct = (inputs.labels == inputs.predicted).astype(np.float64)

    def kernel(weights: np.ndarray) -> NDArray[np.float64]:
        w = weights.astype(np.float64)
        return _ratio(w @ correct, w.sum(axis=1))

    return kernel


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
