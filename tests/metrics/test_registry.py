"""The metric registry, compute_metric, the result type and the public surface."""

from __future__ import annotations

import inspect
import json
import math
import types

import numpy as np
import pytest

import grader.metrics
from grader.metrics import (
    METRICS,
    MetricInfo,
    MetricResult,
    UnknownMetricError,
    compute_metric,
    get_metric_info,
    metric_names,
    roc_auc,
    sensitivity,
)

EXPECTED_NAMES = {
    "roc_auc",
    "brier_score",
    "scaled_brier_score",
    "expected_calibration_error",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "average_precision",
    "smooth_ece",
    "net_benefit",
}
#: Registered for label-map outputs: each the mean over structures of a segmentation metric.
SEGMENTATION_NAMES = {"dice", "iou", "hausdorff95", "surface_dice", "relative_volume_error"}
#: Registered for class-probability outputs: the multiclass engine with a bootstrap CI.
MULTICLASS_NAMES = {
    "accuracy",
    "macro_roc_auc",
    "micro_roc_auc",
    "balanced_accuracy",
    "macro_f1",
    "quadratic_weighted_kappa",
}
#: Registered for multi-label outputs: each label on its known cases, then the mean.
MULTILABEL_NAMES = {"mean_roc_auc", "macro_average_precision"}
#: Options a metric cannot do without (grading passes the task's threshold).
REQUIRED_OPTIONS = {"net_benefit": {"threshold": 0.5}}
LABELS = np.array([0, 1, 0, 1, 1, 0, 1, 0, 0, 1])
PROBS = np.array([0.1, 0.8, 0.4, 0.35, 0.9, 0.2, 0.7, 0.6, 0.05, 1.0])


def test_registry_is_complete() -> None:
    every = EXPECTED_NAMES | SEGMENTATION_NAMES | MULTICLASS_NAMES | MULTILABEL_NAMES
    assert set(METRICS) == every
    assert metric_names() == sorted(every)
    assert {n for n, i in METRICS.items() if i.output == "label_map"} == SEGMENTATION_NAMES
    assert {n for n, i in METRICS.items() if i.output == "class_probabilities"} == (
        MULTICLASS_NAMES
    )
    assert {n for n, i in METRICS.items() if i.output == "multilabel_probabilities"} == (
        MULTILABEL_NAMES
    )


#: Each multiclass entry: the engine function and the options that make it that entry.
MULTICLASS_ENGINE = {
    "macro_roc_auc": (grader.metrics.multiclass_roc_auc, {"average": "macro"}),
    "micro_roc_auc": (grader.metrics.multiclass_roc_auc, {"average": "micro"}),
    "accuracy": (grader.metrics.accuracy, {}),
    "balanced_accuracy": (grader.metrics.balanced_accuracy, {}),
    "macro_f1": (grader.metrics.macro_f1, {}),
    "quadratic_weighted_kappa": (grader.metrics.quadratic_weighted_kappa, {}),
}
GRADES = np.array([0, 1, 2, 3, 4, 0, 0, 2, 1, 3, 4, 2, 0, 1])


def grade_probabilities(n: int, seed: int = 0) -> np.ndarray:
    raw = np.random.default_rng(seed).random((n, 5)) + np.eye(5)[GRADES[:n]]
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("name", sorted(MULTICLASS_NAMES))
def test_a_multiclass_entry_is_the_engine_with_a_bootstrap_interval(name: str) -> None:
    info = METRICS[name]
    function, fixed = MULTICLASS_ENGINE[name]
    probs = grade_probabilities(len(GRADES))
    result = compute_metric(name, GRADES, probs, n_classes=5)
    expected = function(GRADES, probs, n_classes=5, ci="bootstrap", **fixed)
    assert result.name == name and info.title and info.description
    assert (result.value, result.ci_low, result.ci_high, result.method) == (
        expected.value,
        expected.ci_low,
        expected.ci_high,
        expected.method,
    )
    assert result.ci_low <= result.value <= result.ci_high
    assert result.higher_is_better is info.higher_is_better is True
    # The grader fills n_classes and groups from the task; a spec may set the rest.
    assert set(info.options) == {"n_classes", "alpha", "n_resamples", "random_state", "groups"}
    clustered = compute_metric(name, GRADES, probs, n_classes=5, groups=np.arange(14) // 2)
    assert "cluster bootstrap over 7 groups" in clustered.method


@pytest.mark.parametrize("name", sorted(SEGMENTATION_NAMES))
def test_a_segmentation_entry_is_the_mean_over_structures_of_the_engine(name: str) -> None:
    reference = np.zeros((6, 8, 8), dtype=np.uint8)
    reference[1:4, 1:4, 1:4] = 1
    reference[2:5, 5:7, 5:7] = 2
    prediction = reference.copy()
    prediction[1:4, 1:4, 4] = 1  # structure 1 one voxel too wide
    cases = ([reference, reference], [prediction, reference])
    info = METRICS[name]
    result = compute_metric(name, *cases, labels=[1, 2], spacings=[(2.0, 1.0, 1.0)] * 2)
    expected = grader.metrics.segmentation_metrics(
        *cases, labels=[1, 2], spacings=[(2.0, 1.0, 1.0)] * 2
    ).result(name)
    assert result == expected
    assert result.higher_is_better is info.higher_is_better and info.title


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_registered_function_honours_its_info(name: str) -> None:
    info = METRICS[name]
    assert isinstance(info, MetricInfo)
    assert info.name == name
    assert info.title and info.description
    options = REQUIRED_OPTIONS.get(name, {})
    result = info.function(LABELS, PROBS, **options)
    assert isinstance(result, MetricResult)
    assert result.name == name
    assert result.higher_is_better is info.higher_is_better
    assert result.defined
    assert compute_metric(name, LABELS, PROBS, **options) == result
    # Probability metrics name their score argument y_prob, ranking/threshold ones y_score.
    score_argument = list(inspect.signature(info.function).parameters)[1]
    assert score_argument == ("y_prob" if info.needs_probabilities else "y_score")


def test_losses_are_marked_lower_is_better() -> None:
    lower = {name for name, info in METRICS.items() if not info.higher_is_better}
    assert lower == {
        "brier_score",
        "expected_calibration_error",
        "smooth_ece",
        "hausdorff95",
        "relative_volume_error",
    }


def test_every_metric_is_catalogued_once_and_nothing_else_is() -> None:
    from grader.metrics._catalogue import ALIASES, CATALOGUE
    from grader.metrics._fairness_metrics import _METRICS as SUBGROUP_TABLE

    assert set(CATALOGUE) == set(METRICS) | set(SUBGROUP_TABLE)
    for name, info in METRICS.items():
        assert (info.title, info.higher_is_better) == (
            CATALOGUE[name].title,
            CATALOGUE[name].higher_is_better,
        )
    for name, metric in SUBGROUP_TABLE.items():
        assert metric.higher_is_better is CATALOGUE[name].higher_is_better
    # An alias names a catalogued metric and is never itself a metric's name.
    assert set(ALIASES.values()) <= set(CATALOGUE)
    assert not set(ALIASES) & set(CATALOGUE)
    # Titles tell metrics apart in a report's tables and the dashboard's charts.
    titles = [entry.title for entry in CATALOGUE.values()]
    assert len(set(titles)) == len(titles)


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        METRICS["accuracy"] = METRICS["roc_auc"]  # type: ignore[index]


def test_compute_metric_forwards_options() -> None:
    result = compute_metric("sensitivity", LABELS, PROBS, threshold=0.3, alpha=0.1)
    assert result == sensitivity(LABELS, PROBS, threshold=0.3, alpha=0.1)
    assert compute_metric("roc_auc", LABELS, PROBS, alpha=0.2) == roc_auc(LABELS, PROBS, alpha=0.2)
    assert compute_metric("expected_calibration_error", LABELS, PROBS, n_bins=5).method.startswith(
        "5 equal-width bins"
    )


def test_unknown_metric_suggests_closest_name() -> None:
    with pytest.raises(UnknownMetricError) as info:
        compute_metric("roc_acu", LABELS, PROBS)
    message = str(info.value)
    assert "unknown metric 'roc_acu'" in message
    assert "did you mean 'roc_auc' or " in message  # the closest first
    for name in EXPECTED_NAMES:
        assert name in message
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ValueError)
    assert info.value.suggestions == ["roc_auc", "mean_roc_auc", "micro_roc_auc"]


def test_unknown_metric_without_close_match() -> None:
    with pytest.raises(UnknownMetricError) as info:
        get_metric_info("sharpness")
    assert "did you mean" not in str(info.value)
    assert "Valid names: accuracy, average_precision, balanced_accuracy, brier_score, " in str(
        info.value
    )


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("qwk", "quadratic_weighted_kappa"), ("multiclass_roc_auc", "macro_roc_auc")],
)
def test_multiclass_names_from_elsewhere_are_suggested(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownMetricError, match=f"did you mean '{suggestion}'"):
        get_metric_info(name)


def test_a_segmentation_name_without_its_percentile_is_suggested() -> None:
    with pytest.raises(UnknownMetricError, match="did you mean 'hausdorff95'"):
        get_metric_info("hausdorff")


def test_unknown_metric_is_catchable_as_key_error_and_value_error() -> None:
    with pytest.raises(KeyError):
        compute_metric("auc_roc", LABELS, PROBS)
    with pytest.raises(ValueError, match="did you mean 'roc_auc'"):
        compute_metric("auc_roc", LABELS, PROBS)


def test_option_not_accepted_names_option_and_metric() -> None:
    with pytest.raises(
        ValueError, match=r"metric 'roc_auc' does not accept the option 'threshold'"
    ):
        compute_metric("roc_auc", LABELS, PROBS, threshold=0.5)
    with pytest.raises(ValueError, match=r"it accepts: 'alpha', 'ci', 'n_resamples'"):
        compute_metric("roc_auc", LABELS, PROBS, threshold=0.5)
    with pytest.raises(ValueError, match=r"options 'alpha', 'n_bin'; it accepts: 'n_bins'"):
        compute_metric("expected_calibration_error", LABELS, PROBS, n_bin=10, alpha=0.1)
    with pytest.raises(ValueError, match=r"'brier_score' does not accept .*it accepts: no options"):
        compute_metric("brier_score", LABELS, PROBS, alpha=0.05)


def test_metric_info_rejects_malformed_function() -> None:
    def wrong(y_true: object) -> MetricResult:
        raise AssertionError

    with pytest.raises(TypeError, match="exactly two positional arguments"):
        MetricInfo("wrong", wrong, True, False, "Wrong", "A function with one argument.")


# --- MetricResult -------------------------------------------------------------------------


def test_result_to_dict_is_strict_json() -> None:
    undefined = compute_metric("roc_auc", [1, 1, 1], [0.2, 0.4, 0.6])
    document = undefined.to_dict()
    assert document["value"] is None
    assert document["reason"] == undefined.reason
    json.dumps(document, allow_nan=False)
    defined = compute_metric("roc_auc", LABELS, PROBS)
    document = defined.to_dict()
    assert document["value"] == defined.value
    assert document["ci_low"] == defined.ci_low
    assert json.loads(json.dumps(document, allow_nan=False)) == document
    assert set(document) == {
        "name",
        "value",
        "ci_low",
        "ci_high",
        "higher_is_better",
        "method",
        "n",
        "alpha",
        "reason",
        "implementation",
    }


def test_result_defined_and_immutable() -> None:
    result = compute_metric("brier_score", LABELS, PROBS)
    assert result.defined
    assert result.implementation == "medgrade.metrics"
    assert type(result.value) is float
    with pytest.raises(AttributeError):
        result.value = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value": math.nan}, "a NaN value needs a reason"),
        ({"value": 0.5, "reason": "because"}, "reason is only for NaN values"),
        ({"ci_low": 0.1}, "both be set or both be None"),
        ({"value": math.nan, "reason": "r", "ci_low": 0.1, "ci_high": 0.2}, "cannot have"),
        ({"alpha": 0.0}, "alpha must be in"),
        ({"n": -1}, "n must be >= 0"),
    ],
)
def test_result_rejects_contradictions(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "x",
        "value": 0.5,
        "ci_low": None,
        "ci_high": None,
        "higher_is_better": True,
        "method": "m",
        "n": 3,
    }
    fields.update(kwargs)
    with pytest.raises(ValueError, match=message):
        MetricResult(**fields)  # type: ignore[arg-type]


# --- Public surface -----------------------------------------------------------------------


def test_all_is_sorted_and_complete() -> None:
    exported = grader.metrics.__all__
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    public = {
        name
        for name, value in vars(grader.metrics).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert set(exported) == public


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("AUROC", "roc_auc"), ("ece", "expected_calibration_error"), ("recall", "sensitivity")],
)
def test_common_aliases_are_suggested_not_accepted(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownMetricError, match=f"did you mean '{suggestion}'"):
        compute_metric(name, LABELS, PROBS)
