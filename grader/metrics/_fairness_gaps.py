"""The two fairness gaps of a subgroup report and their percentile intervals, all groups
evaluated on one shared set of bootstrap resamples (see :mod:`grader.metrics._fairness`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from grader.metrics._bootstrap import BootstrapSpec, class_strata, percentile_interval
from grader.metrics._fairness_groups import GroupLabel, GroupResult
from grader.metrics._fairness_metrics import _Metric
from grader.metrics._result import MetricResult


def _label_list(groups: list[GroupResult]) -> str:
    return ", ".join(g.label for g in groups)


@dataclass(frozen=True, slots=True)
class _GapContext:
    """What both gaps need to know, and how they are named and described."""

    spec: _Metric
    metric: str
    attribute: str
    alpha: float
    n: int
    overall: MetricResult
    results: tuple[GroupResult, ...]
    compared: list[int]

    def definition(self, index: int) -> str:
        title = self.spec.phrase
        if index == 0:
            what = f"max - min of the {title}"
        elif self.spec.higher_is_better is None:
            what = f"largest |group - overall| of the {title}"
        elif self.spec.higher_is_better:
            what = f"overall minus worst (lowest) group {title}"
        else:
            what = f"worst (highest) group {title} minus overall"
        return f"{what} over the estimable groups of {self.attribute!r}"

    def gap(
        self, index: int, value: float, *, method: str | None = None, reason: str | None = None
    ) -> MetricResult:
        kind = ("max_minus_min", "worst_vs_overall")[index]
        return MetricResult(
            name=f"{self.metric}_gap_{kind}",
            value=value,
            ci_low=None,
            ci_high=None,
            higher_is_better=False,
            method=self.definition(index) if method is None else method,
            # max - min rests on the compared groups' cases, worst vs overall on all cases.
            n=sum(self.results[i].n for i in self.compared) if index == 0 else self.n,
            alpha=self.alpha,
            reason=reason,
        )

    def left_out(self) -> list[GroupResult]:
        return [g for g in self.results if not g.estimable or g.group is None]

    def too_few_groups_reason(self) -> str:
        detail = "; ".join(
            f"{g.label}: {g.result.reason if not g.estimable else 'missing values, not compared'}"
            for g in self.left_out()
        )
        return (
            f"fewer than 2 estimable groups ({len(self.compared)} of {len(self.results)}): a "
            f"gap needs at least two" + (f" (left out: {detail})" if detail else "")
        )


def _gaps_with_intervals(
    context: _GapContext,
    labels: NDArray[np.bool_],
    scores: NDArray[np.float64],
    predicted: NDArray[np.bool_],
    members: list[NDArray[np.intp]],
    bootstrap: BootstrapSpec,
    patients: NDArray[np.intp] | None,
) -> tuple[MetricResult, MetricResult, GroupLabel]:
    """Both gaps, their percentile intervals from one set of resamples, the worst group."""
    spec, alpha, overall = context.spec, context.alpha, context.overall
    compared = [context.results[i] for i in context.compared]
    values = np.array([g.result.value for g in compared])
    # The overall value pools the groups' cases, so it is defined whenever a group's is
    # (each metric is a ratio of pooled counts, or the AUC of pooled classes).
    deviations = _deviations(spec, values[None, :], np.array([overall.value]))[0]
    worst = int(np.argmax(deviations))

    # One shared set of resamples: every group and the overall value see the same rows.
    strata = class_strata(labels, groups=patients)
    group_batches: list[NDArray[np.float64]] = []
    overall_batches: list[NDArray[np.float64]] = []
    for batch in bootstrap.weight_batches(labels.shape[0], strata=strata, groups=patients):
        # Converted once per batch rather than inside every kernel call (each matmul of an
        # int32 matrix converts it again), which was most of the run time.
        weights = batch.astype(np.float64) if spec.matmul_kernel else batch
        overall_batches.append(spec.kernel(labels, scores, predicted, weights))
        group_batches.append(
            np.column_stack(
                [
                    spec.kernel(labels[idx], scores[idx], predicted[idx], weights[:, idx])
                    for idx in members
                ]
            )
        )
    resampled = np.concatenate(group_batches)  # (n_resamples, number of compared groups)
    resampled_overall = np.concatenate(overall_batches)
    # max and min propagate NaN, so a resample with an undefined group gets a NaN gap.
    spread = resampled.max(axis=1) - resampled.min(axis=1)
    shortfall = _deviations(spec, resampled, resampled_overall).max(axis=1)

    undefined_counts = [
        f"{g.label}: {int(k)}"
        for g, k in zip(compared, np.isnan(resampled).sum(axis=0), strict=True)
        if k
    ]
    design = (
        "stratified bootstrap shared by all groups (cases resampled within each class of "
        "y_true; class sizes kept, group sizes vary)"
        if patients is None
        else f"cluster bootstrap shared by all groups ({int(patients.max()) + 1} patients "
        f"drawn whole with replacement within strata of their label composition; group "
        f"sizes vary)"
    )
    groups_text = f"compared groups: {_label_list(compared)} (worst: {compared[worst].label})"
    if context.left_out():
        groups_text += f"; left out: {_label_list(context.left_out())}"

    def with_interval(index: int, value: float, estimates: NDArray[np.float64]) -> MetricResult:
        n_undefined = int(np.count_nonzero(np.isnan(estimates)))
        method = (
            f"{context.definition(index)}; {groups_text}; "
            f"{bootstrap.describe(alpha=alpha, design=design, n_undefined=n_undefined)}"
        )
        if n_undefined:
            # The overall value pools the groups, so it is never undefined alone.
            method += (
                f" (a resample with an undefined group is ignored, not recomputed over fewer "
                f"groups; resamples undefined per group: {', '.join(undefined_counts)})"
            )
        low, high = percentile_interval(estimates, alpha)
        if math.isnan(low):
            return context.gap(
                index, value, method=method + "; no CI: the gap is undefined on every resample"
            )
        if not low <= value <= high:
            # A known weakness, said where it shows rather than corrected away: for groups
            # near parity the resampled max and min are biased away from the estimate, so
            # the interval can miss it.  Efron's bias-corrected interval only moves the miss
            # to the other side and covers worse for two groups (simulated: 0.85 against
            # the percentile interval's 0.96), so the percentile interval stays.
            method += (
                f"; the estimate lies outside this interval: groups this close make the "
                f"resampled {'maximum and minimum' if index == 0 else 'worst group'} biased, "
                "so read the interval as unreliable, not as a 95% range"
            )
        return replace(context.gap(index, value, method=method), ci_low=low, ci_high=high)

    max_minus_min = with_interval(0, float(values.max() - values.min()), spread)
    worst_vs_overall = with_interval(1, float(deviations[worst]), shortfall)
    return max_minus_min, worst_vs_overall, compared[worst].group


def _deviations(
    spec: _Metric, values: NDArray[np.float64], overall: NDArray[np.float64]
) -> NDArray[np.float64]:
    """How much worse than overall each group is, per row: (B, k) from (B, k) and (B,)."""
    difference = values - overall[:, None]
    if spec.higher_is_better is None:
        return np.abs(difference)
    return -difference if spec.higher_is_better else difference
