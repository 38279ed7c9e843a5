"""Multi-label metrics: one probability per case and label, some labels not measured.

A multi-label task (Tox21's twelve assays, a chest X-ray's fourteen findings) has an
``(n, L)`` label matrix of 0, 1 and NaN, NaN where a label was not measured for a case. A
missing label is masked, never counted as a negative: label ``j`` is scored on the cases
whose label ``j`` is known, and each label is the binary metric of those cases
(:func:`~grader.metrics.roc_auc`, :func:`~grader.metrics.average_precision`), so ties and
midranks follow one implementation. The macro means weigh every label alike; a label whose
known cases are all of one class is left out of the mean and named in its ``method``.

The mean's interval is a bootstrap over cases (over patients with ``groups``): each resample
draws whole cases, all their labels together, so the correlation between a molecule's assays
is kept; a resample in which a label of the mean has one class only is undefined and
counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import BootstrapSpec, RandomState, percentile_interval
from grader.metrics._bootstrap_kernels import weighted_roc_auc
from grader.metrics._classification_ranking import average_precision, roc_auc
from grader.metrics._result import MetricResult, undefined_result
from grader.metrics._validation import check_alpha


@dataclass(frozen=True)
class _Labelled:
    """The checked inputs: ``known[:, j]`` marks the cases whose label ``j`` is measured."""

    labels: NDArray[np.float64]
    probs: NDArray[np.float64]
    known: NDArray[np.bool_]

    @property
    def n_labels(self) -> int:
        return self.labels.shape[1]

    def column(self, j: int) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
        """Label ``j``'s known cases: their labels (as booleans) and probabilities."""
        rows = self.known[:, j]
        return self.labels[rows, j] == 1.0, self.probs[rows, j]


def check_multilabel_inputs(y_true: ArrayLike, y_prob: ArrayLike) -> _Labelled:
    """Check an ``(n, L)`` label matrix of 0, 1 and NaN and the probabilities beside it."""
    labels = np.asarray(y_true, dtype=np.float64)
    probs = np.asarray(y_prob, dtype=np.float64)
    if labels.ndim != 2 or labels.shape[0] == 0 or labels.shape[1] == 0:
        raise ValueError(
            f"y_true must be a non-empty 2-D array (n_cases, n_labels); got shape {labels.shape}"
        )
    if probs.shape != labels.shape:
        raise ValueError(
            f"y_prob must have y_true's shape {labels.shape} (one probability per case and "
            f"label); got {probs.shape}"
        )
    known = ~np.isnan(labels)
    wrong = known & (labels != 0.0) & (labels != 1.0)
    if wrong.any():
        values = sorted(set(labels[wrong].tolist()))[:5]
        raise ValueError(
            f"y_true must contain only 0, 1 and NaN (not measured); got {int(wrong.sum())} "
            f"other values, e.g. {values}"
        )
    not_finite = int(np.count_nonzero(~np.isfinite(probs)))
    if not_finite:
        raise ValueError(f"y_prob must be finite; got {not_finite} NaN or infinite values")
    outside = int(np.count_nonzero((probs < 0.0) | (probs > 1.0)))
    if outside:
        raise ValueError(
            f"y_prob must be probabilities in [0, 1]; got {outside} values outside (min "
            f"{probs.min():.4g}, max {probs.max():.4g})"
        )
    return _Labelled(labels, probs, known)


def per_label_roc_auc(
    y_true: ArrayLike, y_prob: ArrayLike, *, alpha: float = 0.05
) -> tuple[MetricResult, ...]:
    """Each label's ROC AUC on its known cases, with a DeLong interval.

    Label ``j``'s result is :func:`grader.metrics.roc_auc` of the cases whose label ``j``
    is measured; it keeps the binary metric's name ``"roc_auc"``, its ``n`` counts those
    cases, and its ``method`` says which label it is.

    Examples
    --------
    >>> nan = float("nan")
    >>> labels = [[0, 1], [1, nan], [1, 0], [0, 1]]
    >>> probs = [[0.2, 0.9], [0.8, 0.5], [0.6, 0.3], [0.4, 0.6]]
    >>> [(r.value, r.n) for r in per_label_roc_auc(labels, probs)]
    [(1.0, 4), (1.0, 3)]
    """
    inputs = check_multilabel_inputs(y_true, y_prob)
    alpha = check_alpha(alpha)
    return tuple(_per_label(inputs, "roc_auc", lambda y, p: roc_auc(y, p, alpha=alpha)))


def _per_label(
    inputs: _Labelled, name: str, metric: Callable[[np.ndarray, np.ndarray], MetricResult]
) -> list[MetricResult]:
    """``metric`` (named ``name``) of each label on its known cases."""
    results = []
    for j in range(inputs.n_labels):
        labels, probs = inputs.column(j)
        if labels.size == 0:
            reason = f"label {j} is not measured for any case"
            results.append(undefined_result(name, method="no known cases", n=0, reason=reason))
            continue
        result = metric(labels, probs)
        results.append(
            replace(result, method=f"label {j} on its {labels.size} known cases; {result.method}")
        )
    return results


def mean_roc_auc(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    *,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    groups: ArrayLike | None = None,
) -> MetricResult:
    """The mean over labels of each label's ROC AUC on its known cases, with a bootstrap
    interval over cases (a cluster bootstrap over ``groups``, e.g. patients).

    Labels whose known cases are all of one class are left out of the mean (and named in
    ``method``); with no label left the mean is undefined. On every resample the mean is
    taken over the same labels; a resample in which one of them has one class only is
    undefined and ignored, and counted in ``method``. Equals the mean of
    ``sklearn.metrics.roc_auc_score`` over the labels, each on its known cases.

    Examples
    --------
    >>> nan = float("nan")
    >>> labels = [[0, 1], [1, nan], [1, 0], [0, 1], [1, 0], [0, nan]]
    >>> probs = [[0.2, 0.9], [0.8, 0.5], [0.6, 0.3], [0.4, 0.6], [0.3, 0.4], [0.1, 0.2]]
    >>> result = mean_roc_auc(labels, probs, n_resamples=200)
    >>> round(result.value, 4), result.n
    (0.9444, 6)
    """
    inputs = check_multilabel_inputs(y_true, y_prob)
    alpha = check_alpha(alpha)
    spec = BootstrapSpec(n_resamples=n_resamples, random_state=random_state)
    per_label = _per_label(inputs, "roc_auc", lambda y, p: roc_auc(y, p, alpha=alpha))
    result = _macro_mean("mean_roc_auc", inputs, per_label)
    if not result.defined:
        return result
    estimates = _bootstrap_means(inputs, per_label, spec, groups)
    low, high = percentile_interval(estimates, alpha)
    undefined = int(np.count_nonzero(np.isnan(estimates)))
    design = "cluster bootstrap over groups" if groups is not None else "bootstrap over cases"
    return replace(
        result,
        ci_low=None if math.isnan(low) else low,
        ci_high=None if math.isnan(high) else high,
        alpha=alpha,
        method=f"{result.method}; {spec.describe(alpha=alpha, design=design, n_undefined=undefined)}",
    )


def macro_average_precision(y_true: ArrayLike, y_prob: ArrayLike) -> MetricResult:
    """The mean over labels of each label's average precision on its known cases (no
    interval). Labels with no positive known case are left out of the mean and named in
    ``method``. Equals the mean of ``sklearn.metrics.average_precision_score`` over the
    labels, each on its known cases.

    Examples
    --------
    >>> nan = float("nan")
    >>> labels = [[0, 1], [1, nan], [1, 0], [0, 1]]
    >>> probs = [[0.2, 0.9], [0.8, 0.5], [0.6, 0.3], [0.4, 0.6]]
    >>> macro_average_precision(labels, probs).value
    1.0
    """
    inputs = check_multilabel_inputs(y_true, y_prob)
    per_label = _per_label(inputs, "average_precision", average_precision)
    result = _macro_mean("macro_average_precision", inputs, per_label)
    return replace(result, method=f"{result.method}; no CI") if result.defined else result


def _bootstrap_means(
    inputs: _Labelled,
    per_label: list[MetricResult],
    spec: BootstrapSpec,
    groups: ArrayLike | None,
) -> NDArray[np.float64]:
    """The mean over the labels the estimate uses, on each resample of whole cases."""
    used = [j for j, result in enumerate(per_label) if result.defined]
    estimates = []
    for weights in spec.weight_batches(inputs.labels.shape[0], groups=groups):
        aucs = [weighted_roc_auc(*inputs.column(j), weights[:, inputs.known[:, j]]) for j in used]
        # A label with one class in a resample is NaN there, and so is the resample's mean.
        estimates.append(np.mean(np.stack(aucs), axis=0))
    return np.concatenate(estimates)


def _macro_mean(name: str, inputs: _Labelled, per_label: list[MetricResult]) -> MetricResult:
    """The mean of the defined per-label results, with no interval."""
    used = [j for j, result in enumerate(per_label) if result.defined]
    left_out = [j for j in range(inputs.n_labels) if j not in used]
    method = f"mean over {len(used)} of {inputs.n_labels} labels, each on its known cases"
    if left_out:
        method += f" (left out, undefined: labels {', '.join(map(str, left_out))})"
    undefined = not used
    return MetricResult(
        name=name,
        value=math.nan if undefined else float(np.mean([per_label[j].value for j in used])),
        ci_low=None,
        ci_high=None,
        higher_is_better=True,
        method=method,
        n=inputs.labels.shape[0],
        reason="no label is defined on its known cases: "
        + "; ".join(str(result.reason) for result in per_label[:3])
        if undefined
        else None,
    )
