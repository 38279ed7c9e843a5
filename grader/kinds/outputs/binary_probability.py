"""``binary_probability``: one probability of the positive class per case.

Scored by the binary metrics (ROC AUC, calibration, sensitivity at the threshold...), drawn
as ROC, reliability and risk curves, and reported by subgroup.  On a hidden split every
view comes from one grouping of the cases by score (:func:`grader.disclosure.score_groups`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import Field

from grader import disclosure
from grader.charts import (
    decision_curve_chart,
    reliability_chart,
    risk_distribution_chart,
    roc_chart,
)
from grader.kinds._base import (
    OutputKind,
    ReportSection,
    Scored,
    ViewDisclosure,
    section_template,
)
from grader.kinds._contract import OutputContract
from grader.kinds._files import InvalidOutput
from grader.kinds._registry import register_kind
from grader.kinds._scoring import read_rows, score_metrics
from grader.metrics import (
    MetricResult,
    SubgroupReport,
    calibration_intercept_slope,
    decision_curve,
    reliability_curve,
    roc_confidence_band,
    roc_curve_points,
    smooth_reliability_curve,
    subgroup_metrics,
)

if TYPE_CHECKING:
    from grader.evaluation import Evaluation, PreparedSplit
    from grader.tasks import Task


class BinaryProbabilityContract(OutputContract):
    kind: Literal["binary_probability"] = Field(
        description="One probability of the positive class per case."
    )
    threshold: Annotated[float, Field(gt=0, lt=1)] = Field(
        default=0.5, description="Decision threshold for sensitivity/specificity."
    )
    positive_label: str = Field(
        default="positive", description="What the positive class is, e.g. 'malignant'."
    )

    def describe(self) -> str:
        return (
            f"a float numpy array of shape (n_cases,): the probability of "
            f"'{self.positive_label}' for each case, in input order (threshold "
            f"{self.threshold:g})"
        )

    def predicted(self) -> str:
        return self.positive_label

    def metric_defaults(self) -> dict[str, Any]:
        return {"threshold": self.threshold}


STARTER = '''"""Starter submission for {task_id}: replace the model, keep the two functions.

load_model(artifacts_dir) is called once with this folder (read-only in the sandbox);
predict(model, inputs) gets {inputs} and must return {output}.
Check it with:  medgrade check . --task {task_id}
"""

import numpy as np


def load_model(artifacts_dir: str) -> float:
    # A real model would load its weights here, e.g. torch.load(Path(artifacts_dir) / "model.pt").
    return {prevalence!r}  # the training prevalence: what a model that learnt nothing predicts


def predict(model: float, inputs: np.ndarray) -> np.ndarray:
    return np.full(len(inputs), model, dtype=np.float64)
'''


@dataclass(frozen=True)
class Curves:
    """Plot data and calibration figures for the report.

    For a split whose labels are hidden, everything drawn comes from one grouping of the
    cases by score (:func:`grader.disclosure.score_groups`), each group of at least
    ``min_cases_per_point`` cases, with each case drawn at its group's mean score; the
    calibration intercept and slope and the views that resolve to single cases (the
    smoothed reliability curve, the decision curve, the ROC band) are left out.
    """

    roc_fpr: list[float]
    roc_tpr: list[float]
    reliability: dict[str, list[float]]
    hidden_bins: int
    min_cases_per_point: int
    risk_positive: list[float]
    risk_negative: list[float]
    calibration_intercept: MetricResult | None = None
    calibration_slope: MetricResult | None = None
    #: The hidden split's groups: how many cases each has and how many are positive.
    groups: dict[str, list[float]] | None = None
    roc_band: dict[str, list[float]] | None = None
    smooth_reliability: dict[str, list[float]] | None = None
    decision_curve: dict[str, list[float]] | None = None

    def json_fields(self) -> dict[str, Any]:
        return {}  # the curves are drawn in the report; --json has the metrics


#: Metrics that depend on the labels only through the counts at the threshold.
_COUNTS_AT_THRESHOLD = frozenset({"sensitivity", "specificity", "ppv", "npv", "net_benefit"})

#: The report's discrimination and calibration sections (:class:`~grader.kinds.ReportSection`).
REPORT_SECTIONS = section_template(__package__, "templates/binary_probability.html.j2")


@register_kind
class BinaryProbability(OutputKind):
    name = "binary_probability"
    contract = BinaryProbabilityContract
    reports_subgroups = True
    results = Curves

    def read(self, output_dir: Path, prepared: PreparedSplit) -> np.ndarray:
        return check_probabilities(read_rows(output_dir, prepared.n_cases), prepared.n_cases)

    def score(self, prepared: PreparedSplit, predictions: np.ndarray) -> Scored:  # type: ignore[override]
        return Scored(
            metrics=score_metrics(prepared, predictions),
            subgroups=_subgroups(prepared, predictions),
            kind_results=_curves(prepared, predictions),
        )

    def report_sections(self, evaluation: Evaluation, task: Task) -> list[ReportSection]:
        curves = evaluation.kind_results
        if not isinstance(curves, Curves):
            return []
        discrimination, calibration = _charts(curves, evaluation, task)
        variables = {"curves": curves, "charts": discrimination, "calibration_charts": calibration}
        return [ReportSection(REPORT_SECTIONS, variables)]

    def split_note(self, evaluation: Evaluation) -> str:
        curves = evaluation.kind_results
        if not isinstance(curves, Curves):
            return ""
        return f"Every point on the charts below aggregates at least {curves.min_cases_per_point} cases."

    def view_disclosure(self, prepared: PreparedSplit, scored: Scored) -> ViewDisclosure:
        curves = scored.kind_results
        if not isinstance(curves, Curves) or curves.groups is None:
            return ViewDisclosure()
        sizes = [int(n) for n in curves.groups["n_cases"]]
        channel = (f"{len(sizes)} groups' positive counts", sum(math.log2(n + 1) for n in sizes))
        if not curves.groups["threshold_is_boundary"][0]:
            return ViewDisclosure((channel,))
        # A count-based metric at the task's threshold, when the threshold is a group
        # boundary, is a sum of the groups' counts, and so is its Wilson interval.
        spec = prepared.task.spec
        threshold = spec.output.metric_defaults().get("threshold")
        at_threshold = {
            name
            for name in scored.metrics
            if (metric := spec.metric(name)) is not None
            and metric.options.get("threshold") in (None, threshold)
        }
        return ViewDisclosure((channel,), frozenset(at_threshold & _COUNTS_AT_THRESHOLD))

    def starter(self, contract: OutputContract, task_id: str, inputs: str, null: Any) -> str:
        return STARTER.format(
            task_id=task_id, inputs=inputs, output=contract.describe(), prevalence=round(null, 4)
        )

    def bundle_labels(self, contract: OutputContract) -> str:
        assert isinstance(contract, BinaryProbabilityContract)
        return f"`inputs`, `labels` (1 = {contract.positive_label})"


def _contract(prepared: PreparedSplit) -> BinaryProbabilityContract:
    contract = prepared.task.spec.output
    assert isinstance(contract, BinaryProbabilityContract)
    return contract


def check_probabilities(array: np.ndarray, n_cases: int) -> np.ndarray:
    """Check shape, dtype, finiteness and range; return the predictions as float64 (n,)."""
    if array.dtype.kind not in "biuf":
        raise InvalidOutput(f"predictions must be numbers; got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and array.shape[1] == 2:
        raise InvalidOutput(
            f"predictions have shape {array.shape}: return only the probability of the positive "
            "class, one number per case (e.g. probabilities[:, 1])",
            "wrong_shape",
        )
    if array.shape != (n_cases,):
        raise InvalidOutput(
            f"predictions have shape {array.shape}; expected ({n_cases},): one probability per case",
            "wrong_shape",
        )
    values = array.astype(np.float64)
    not_finite = int(np.count_nonzero(~np.isfinite(values)))
    if not_finite:
        raise InvalidOutput(
            f"{not_finite} of {n_cases} predictions are NaN or infinite; every case needs a "
            "probability (check for a division by zero or a diverged model)",
            "non_finite",
        )
    outside = int(np.count_nonzero((values < 0) | (values > 1)))
    if outside:
        raise InvalidOutput(
            f"{outside} of {n_cases} predictions are outside [0, 1] (min {values.min():.4g}, max "
            f"{values.max():.4g}); return probabilities, e.g. apply a sigmoid to the logits",
            "out_of_range",
        )
    return values


def _subgroups(prepared: PreparedSplit, predictions: np.ndarray) -> tuple[SubgroupReport, ...]:
    spec = prepared.task.spec
    return tuple(
        subgroup_metrics(
            prepared.labels,
            predictions,
            values,
            metric=metric,
            threshold=_contract(prepared).threshold,
            min_group_size=spec.min_subgroup_size,
            patient_groups=prepared.attributes.get(spec.cluster_key or ""),
            attribute=attribute,
        )
        for attribute in spec.subgroups
        for metric in spec.subgroup_metrics
        for values in [prepared.attributes[attribute]]
    )


def _curves(prepared: PreparedSplit, predictions: np.ndarray) -> Curves | None:
    labels = prepared.labels
    if len(np.unique(labels)) < 2:
        return None
    if prepared.labels_hidden:
        return _hidden_curves(prepared, predictions)
    floor = 1
    fpr, tpr, _ = roc_curve_points(labels, predictions, min_cases_per_point=floor)
    ece = prepared.task.spec.metric("expected_calibration_error")
    n_bins = int(ece.options.get("n_bins", 15)) if ece is not None else 15
    reliability = reliability_curve(labels, predictions, n_bins=n_bins, min_cases_per_bin=floor)
    intercept, slope = calibration_intercept_slope(labels, predictions)
    detail: dict[str, dict[str, list[float]]] = {}
    if not prepared.labels_hidden:
        grid, low, high = roc_confidence_band(labels, predictions)
        smooth = smooth_reliability_curve(labels, predictions)
        decision = decision_curve(labels, predictions)
        detail = {
            "roc_band": {"fpr": grid.tolist(), "low": low.tolist(), "high": high.tolist()},
            "smooth_reliability": {
                "x": smooth.grid.tolist(),
                "y": smooth.fraction_positive.tolist(),
            },
            "decision_curve": {
                "thresholds": decision.thresholds.tolist(),
                "model": decision.model.tolist(),
                "treat_all": decision.treat_all.tolist(),
            },
        }
    return Curves(
        roc_fpr=fpr.tolist(),
        roc_tpr=tpr.tolist(),
        reliability={
            "mean_predicted": reliability.mean_predicted.tolist(),
            "fraction_positive": reliability.fraction_positive.tolist(),
            "count": reliability.count.tolist(),
        },
        hidden_bins=reliability.n_hidden_bins,
        min_cases_per_point=floor,
        risk_positive=predictions[labels == 1].tolist(),
        risk_negative=predictions[labels == 0].tolist(),
        calibration_intercept=intercept,
        calibration_slope=slope,
        **detail,
    )


def _hidden_curves(prepared: PreparedSplit, predictions: np.ndarray) -> Curves:
    """Every view of a hidden split from its one grouping of the cases by score."""
    groups = disclosure.score_groups(
        prepared.labels, predictions, threshold=_contract(prepared).threshold
    )
    fpr, tpr = groups.roc_points()
    pairs = list(zip(groups.mean_score, groups.n_cases, groups.n_positive, strict=True))
    return Curves(
        roc_fpr=fpr,
        roc_tpr=tpr,
        reliability={
            "mean_predicted": [mean for mean, _, _ in pairs][::-1],
            "fraction_positive": [k / n for _, n, k in pairs][::-1],
            "count": [float(n) for _, n, _ in pairs][::-1],
        },
        hidden_bins=0,
        min_cases_per_point=disclosure.MIN_CASES,
        risk_positive=[mean for mean, _, k in pairs for _ in range(k)],
        risk_negative=[mean for mean, n, k in pairs for _ in range(n - k)],
        groups={
            "n_cases": [float(n) for n in groups.n_cases],
            "n_positive": [float(k) for k in groups.n_positive],
            "mean_score": list(groups.mean_score),
            "lower": list(groups.lower),
            "threshold_is_boundary": [float(groups.threshold_is_boundary)],
        },
    )


def _charts(curves: Curves, evaluation: Evaluation, task: Task) -> tuple[list[str], list[str]]:
    """The discrimination charts and the calibration charts of a report."""
    auc = evaluation.metrics.get("roc_auc")
    decimals = disclosure.DECIMALS if evaluation.labels_hidden else 3
    label = f"AUC {auc.value:.{decimals}f}" if auc is not None and auc.defined else "model"
    band = curves.roc_band or {}
    contract = task.spec.output
    assert isinstance(contract, BinaryProbabilityContract)
    positive = contract.positive_label
    discrimination = [
        roc_chart(
            curves.roc_fpr,
            curves.roc_tpr,
            auc_label=label,
            band_fpr=band.get("fpr"),
            band_low=band.get("low"),
            band_high=band.get("high"),
            band_label="95% pointwise bootstrap band",
        ),
        risk_distribution_chart(
            curves.risk_positive,
            curves.risk_negative,
            positive_label=positive,
            negative_label=f"not {positive}",
            min_cases_per_bin=curves.min_cases_per_point,
        ),
    ]
    calibration = []
    reliability = curves.reliability
    if reliability["mean_predicted"]:
        smooth = curves.smooth_reliability or {}
        calibration.append(
            reliability_chart(
                reliability["mean_predicted"],
                reliability["fraction_positive"],
                counts=reliability["count"],
                smooth_x=smooth.get("x"),
                smooth_y=smooth.get("y"),
                smooth_label="smoothed (smECE kernel)",
            )
        )
    if curves.decision_curve is not None:
        decision = curves.decision_curve
        calibration.append(
            decision_curve_chart(decision["thresholds"], decision["model"], decision["treat_all"])
        )
    return discrimination, calibration
