"""The metrics :func:`~grader.metrics._fairness.subgroup_metrics` accepts: how each is
computed on one group (with its own interval) and on a batch of resamples (a weighted
kernel), and which classes it needs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from grader.metrics._bootstrap_kernels import (
    weighted_brier,
    weighted_proportion,
    weighted_roc_auc,
)
from grader.metrics._calibration import brier_score
from grader.metrics._catalogue import ALIASES, CATALOGUE, metric_key
from grader.metrics._classification import (
    confusion_matrix,
    npv,
    ppv,
    sensitivity,
    specificity,
    wilson_interval,
)
from grader.metrics._classification_ranking import roc_auc
from grader.metrics._result import MetricResult
from grader.metrics._validation import percent
from grader.suggest import close_names, either

PointFunction: TypeAlias = Callable[
    [NDArray[np.bool_], NDArray[np.float64], float, float], MetricResult
]
Kernel: TypeAlias = Callable[
    [NDArray[np.bool_], NDArray[np.float64], NDArray[np.bool_], NDArray[np.int32 | np.float64]],
    NDArray[np.float64],
]


def _wilson_result(
    name: str, successes: int, trials: int, alpha: float, method: str, reason: str
) -> MetricResult:
    """A proportion with its Wilson interval, for the rates _classification does not have."""
    if trials == 0:
        return MetricResult(name, math.nan, None, None, False, method, 0, alpha, reason)
    low, high = wilson_interval(successes, trials, alpha)
    return MetricResult(name, successes / trials, low, high, False, method, trials, alpha)


def _fpr(
    labels: NDArray[np.bool_], scores: NDArray[np.float64], threshold: float, alpha: float
) -> MetricResult:
    # Counted directly rather than as 1 - specificity, so that the value is FP / (FP + TN)
    # to the last bit, as scikit-learn and fairlearn compute it.
    counts = confusion_matrix(labels, scores, threshold=threshold)
    return _wilson_result(
        "fpr",
        counts.fp,
        counts.fp + counts.tn,
        alpha,
        f"FP / (FP + TN) = 1 - specificity with y_score >= {threshold:g} predicted positive; "
        f"{percent(alpha)} Wilson score interval",
        "no negative cases: the false-positive rate is undefined",
    )


def _selection_rate(
    labels: NDArray[np.bool_], scores: NDArray[np.float64], threshold: float, alpha: float
) -> MetricResult:
    n_selected = int(np.count_nonzero(scores >= threshold))
    return _wilson_result(
        "selection_rate",
        n_selected,
        labels.shape[0],
        alpha,
        f"share of cases with y_score >= {threshold:g} (predicted positive); "
        f"{percent(alpha)} Wilson score interval; no direction: higher_is_better is False "
        f"only because every result must state one",
        "no cases",  # unreachable: every group has at least one case
    )


def _ones(labels: NDArray[np.bool_]) -> NDArray[np.bool_]:
    return np.ones(labels.shape[0], dtype=bool)


@dataclass(frozen=True, slots=True)
class _Metric:
    """How one metric is computed on a group and on a batch of resamples.

    ``kernel(labels, scores, predicted, weights)`` gives the metric on every row of
    ``weights`` (NaN where undefined); ``higher_is_better`` None means no direction.
    ``phrase`` names the metric inside a sentence ("the sensitivity needs positive cases");
    its title and direction are the catalogue's (:mod:`grader.metrics._catalogue`).
    ``matmul_kernel``: the kernel is a matrix product, which runs on float64 weights (an
    int32 matrix would be converted again in every call).
    """

    name: str
    phrase: str
    point: PointFunction
    kernel: Kernel
    needs_positive: bool
    needs_negative: bool
    uses_threshold: bool
    probabilities: bool
    matmul_kernel: bool = True

    @property
    def higher_is_better(self) -> bool | None:
        return CATALOGUE[self.name].higher_is_better


_METRICS: dict[str, _Metric] = {
    metric.name: metric
    for metric in (
        _Metric(
            "roc_auc",
            "ROC AUC",
            lambda y, s, t, a: roc_auc(y, s, alpha=a),
            lambda y, s, p, w: weighted_roc_auc(y, s, w),
            needs_positive=True,
            needs_negative=True,
            uses_threshold=False,
            probabilities=False,
            matmul_kernel=False,
        ),
        _Metric(
            "sensitivity",
            "sensitivity",
            lambda y, s, t, a: sensitivity(y, s, threshold=t, alpha=a),
            lambda y, s, p, w: weighted_proportion(p, y, w),
            needs_positive=True,
            needs_negative=False,
            uses_threshold=True,
            probabilities=False,
        ),
        _Metric(
            "specificity",
            "specificity",
            lambda y, s, t, a: specificity(y, s, threshold=t, alpha=a),
            lambda y, s, p, w: weighted_proportion(~p, ~y, w),
            needs_positive=False,
            needs_negative=True,
            uses_threshold=True,
            probabilities=False,
        ),
        _Metric(
            "fpr",
            "false-positive rate",
            _fpr,
            lambda y, s, p, w: weighted_proportion(p, ~y, w),
            needs_positive=False,
            needs_negative=True,
            uses_threshold=True,
            probabilities=False,
        ),
        _Metric(
            "ppv",
            "PPV",
            lambda y, s, t, a: ppv(y, s, threshold=t, alpha=a),
            lambda y, s, p, w: weighted_proportion(y, p, w),
            needs_positive=False,
            needs_negative=False,
            uses_threshold=True,
            probabilities=False,
        ),
        _Metric(
            "npv",
            "NPV",
            lambda y, s, t, a: npv(y, s, threshold=t, alpha=a),
            lambda y, s, p, w: weighted_proportion(~y, ~p, w),
            needs_positive=False,
            needs_negative=False,
            uses_threshold=True,
            probabilities=False,
        ),
        _Metric(
            "brier_score",
            "Brier score",
            lambda y, s, t, a: replace(brier_score(y, s), alpha=a),
            lambda y, s, p, w: weighted_brier(y, s, w),
            needs_positive=False,
            needs_negative=False,
            uses_threshold=False,
            probabilities=True,
        ),
        _Metric(
            "selection_rate",
            "selection rate",
            _selection_rate,
            lambda y, s, p, w: weighted_proportion(p, _ones(y), w),
            needs_positive=False,
            needs_negative=False,
            uses_threshold=True,
            probabilities=False,
        ),
    )
}

SUBGROUP_METRICS: tuple[str, ...] = tuple(sorted(_METRICS))
"""The metric names :func:`subgroup_metrics` accepts."""


def _check_metric(metric: str) -> _Metric:
    if isinstance(metric, str) and metric in _METRICS:
        return _METRICS[metric]
    suggestions = close_names(metric_key(metric), SUBGROUP_METRICS, n=2, aliases=ALIASES)
    hint = f" did you mean {either(suggestions)}?" if suggestions else ""
    raise ValueError(
        f"unknown metric {metric!r} for subgroup_metrics;{hint} Valid names: "
        f"{', '.join(SUBGROUP_METRICS)}"
    )
