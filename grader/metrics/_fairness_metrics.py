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
from grader.metrics._classification import (
    confusion_matrix,
    npv,
    ppv,
    sensitivity,
    specificity,
    wilson_interval,
)
from grader.metrics._classification_ranking import roc_auc
from grader.metrics._registry import metric_key
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
    ``matmul_kernel``: the kernel is a matrix product, which runs on float64 weights (an
    int32 matrix would be converted again in every call).
    """

    title: str
    point: PointFunction
    kernel: Kernel
    higher_is_better: bool | None
    needs_positive: bool
    needs_negative: bool
    uses_threshold: bool
    probabilities: bool
    matmul_kernel: bool = True


_METRICS: dict[str, _Metric] = {
    "roc_auc": _Metric(
        "ROC AUC",
        lambda y, s, t, a: roc_auc(y, s, alpha=a),
        lambda y, s, p, w: weighted_roc_auc(y, s, w),
        higher_is_better=True,
        needs_positive=True,
        needs_negative=True,
        uses_threshold=False,
        probabilities=False,
        matmul_kernel=False,
    ),
    "sensitivity": _Metric(
        "sensitivity",
        lambda y, s, t, a: sensitivity(y, s, threshold=t, alpha=a),
        lambda y, s, p, w: weighted_proportion(p, y, w),
        higher_is_better=True,
        needs_positive=True,
        needs_negative=False,
        uses_threshold=True,
        probabilities=False,
    ),
    "specificity": _Metric(
        "specificity",
        lambda y, s, t, a: specificity(y, s, threshold=t, alpha=a),
        lambda y, s, p, w: weighted_proportion(~p, ~y, w),
        higher_is_better=True,
        needs_positive=False,
        needs_negative=True,
        uses_threshold=True,
        probabilities=False,
    ),
    "fpr": _Metric(
        "false-positive rate",
        _fpr,
        lambda y, s, p, w: weighted_proportion(p, ~y, w),
        higher_is_better=False,
        needs_positive=False,
        needs_negative=True,
        uses_threshold=True,
        probabilities=False,
    ),
    "ppv": _Metric(
        "PPV",
        lambda y, s, t, a: ppv(y, s, threshold=t, alpha=a),
        lambda y, s, p, w: weighted_proportion(y, p, w),
        higher_is_better=True,
        needs_positive=False,
        needs_negative=False,
        uses_threshold=True,
        probabilities=False,
    ),
    "npv": _Metric(
        "NPV",
        lambda y, s, t, a: npv(y, s, threshold=t, alpha=a),
        lambda y, s, p, w: weighted_proportion(~y, ~p, w),
        higher_is_better=True,
        needs_positive=False,
        needs_negative=False,
        uses_threshold=True,
        probabilities=False,
    ),
    "brier_score": _Metric(
        "Brier score",
        lambda y, s, t, a: replace(brier_score(y, s), alpha=a),
        lambda y, s, p, w: weighted_brier(y, s, w),
        higher_is_better=False,
        needs_positive=False,
        needs_negative=False,
        uses_threshold=False,
        probabilities=True,
    ),
    "selection_rate": _Metric(
        "selection rate",
        _selection_rate,
        lambda y, s, p, w: weighted_proportion(p, _ones(y), w),
        higher_is_better=None,
        needs_positive=False,
        needs_negative=False,
        uses_threshold=True,
        probabilities=False,
    ),
}

SUBGROUP_METRICS: tuple[str, ...] = tuple(sorted(_METRICS))
"""The metric names :func:`subgroup_metrics` accepts."""

# Other spellings, only ever suggested (as the registry does), so that a rubric always
# names the exact metric it grades on.
_ALIASES = {
    "auc": "roc_auc",
    "auroc": "roc_auc",
    "roc_auc_score": "roc_auc",
    "tpr": "sensitivity",
    "recall": "sensitivity",
    "true_positive_rate": "sensitivity",
    "tnr": "specificity",
    "true_negative_rate": "specificity",
    "false_positive_rate": "fpr",
    "precision": "ppv",
    "brier": "brier_score",
    "brier_score_loss": "brier_score",
    "demographic_parity": "selection_rate",
    "positive_rate": "selection_rate",
}


def _check_metric(metric: str) -> _Metric:
    if isinstance(metric, str) and metric in _METRICS:
        return _METRICS[metric]
    suggestions = close_names(metric_key(metric), SUBGROUP_METRICS, n=2, aliases=_ALIASES)
    hint = f" did you mean {either(suggestions)}?" if suggestions else ""
    raise ValueError(
        f"unknown metric {metric!r} for subgroup_metrics;{hint} Valid names: "
        f"{', '.join(SUBGROUP_METRICS)}"
    )
