"""Segmentation metrics over cases: the aggregation (bootstrap, patients resampled
together, undefined cases) and the report every segmentation task's marks come from."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from grader.metrics._bootstrap import percentile_interval, resample_weights
from grader.metrics._catalogue import CATALOGUE
from grader.metrics._segmentation_aggregate import aggregate_cases
from grader.metrics._segmentation_cases import (
    SEGMENTATION_METRICS,
    segmentation_case,
)
from grader.metrics._segmentation_evaluation import segmentation_metrics
from tests.metrics.test_segmentation import ball, box

# --- Aggregation -------------------------------------------------------------------------


def test_aggregate_is_the_mean_with_the_bootstrap_of_resample_weights():
    values = np.array([0.9, 0.7, 0.8, 0.95, 0.6, 0.85])
    groups = ["a", "a", "b", "c", "c", "d"]
    result = aggregate_cases(
        values, name="dice", higher_is_better=True, groups=groups, n_resamples=500, random_state=7
    )
    weights = resample_weights(6, n_resamples=500, random_state=7, groups=groups)
    expected = percentile_interval(weights @ values / weights.sum(axis=1), 0.05)
    assert result.value == pytest.approx(values.mean(), rel=1e-15)
    assert (result.ci_low, result.ci_high) == pytest.approx(expected, rel=1e-12)
    assert (result.name, result.higher_is_better, result.n) == ("dice", True, 6)
    assert "patient-level percentile bootstrap (4 groups" in result.method


def test_cases_of_one_patient_are_resampled_together():
    # Two identical cases per patient: resampling patients is then the plain bootstrap of
    # the patient values, draw for draw (same generator calls).
    per_patient = np.array([0.2, 0.9, 0.5, 0.7, 0.4])
    grouped = aggregate_cases(
        np.repeat(per_patient, 2),
        name="dice",
        higher_is_better=True,
        groups=np.repeat(np.arange(5), 2),
        n_resamples=300,
    )
    plain = aggregate_cases(per_patient, name="dice", higher_is_better=True, n_resamples=300)
    assert (grouped.ci_low, grouped.ci_high) == pytest.approx((plain.ci_low, plain.ci_high))
    # Treating the duplicated cases as independent would understate the uncertainty.
    naive = aggregate_cases(np.repeat(per_patient, 2), name="dice", higher_is_better=True)
    assert naive.ci_high - naive.ci_low < grouped.ci_high - grouped.ci_low


def test_aggregate_leaves_out_undefined_cases_and_counts_them():
    result = aggregate_cases([0.1, math.nan, 0.3, 0.2], name="x", higher_is_better=False)
    assert result.value == pytest.approx(0.2)
    assert result.n == 3
    assert "mean over 3 of 4 cases (1 undefined, left out)" in result.method
    undefined = aggregate_cases([math.nan, math.nan], name="x", higher_is_better=False)
    assert math.isnan(undefined.value) and undefined.ci_low is None
    assert undefined.reason == "all 2 per-case values are undefined (NaN)"


def test_aggregate_of_a_single_case_has_no_interval():
    result = aggregate_cases([0.8], name="dice", higher_is_better=True)
    assert (result.value, result.ci_low, result.ci_high) == (0.8, None, None)
    assert "no CI" in result.method
    one_patient = aggregate_cases([0.8, 0.6], name="dice", higher_is_better=True, groups=["p", "p"])
    assert one_patient.ci_low is None and "at least 2 groups" in one_patient.method


def test_aggregate_is_reproducible_and_seeded():
    values = np.linspace(0, 1, 20)
    first = aggregate_cases(values, name="dice", higher_is_better=True, random_state=1)
    again = aggregate_cases(values, name="dice", higher_is_better=True, random_state=1)
    other = aggregate_cases(values, name="dice", higher_is_better=True, random_state=2)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert "1000 resamples (random_state=1)" in first.method


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"per_case_values": [0.1, math.inf]}, "1 infinite values"),
        ({"per_case_values": [[0.1, 0.2]]}, "non-empty 1-D array"),
        ({"per_case_values": []}, "non-empty 1-D array"),
        ({"per_case_values": ["a"]}, "real numbers"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"higher_is_better": "yes"}, "higher_is_better must be True or False"),
        ({"alpha": 1.5}, "alpha must be a number in"),
        ({"n_resamples": 0}, "n_resamples must be an integer >= 1"),
        ({"groups": [1, 2]}, "groups must be 1-D with one entry per case"),
        ({"random_state": -1}, "random_state must be >= 0"),
    ],
)
def test_aggregate_rejects_invalid_input(kwargs, message):
    arguments = {"per_case_values": [0.1, 0.2, 0.3], "name": "dice", "higher_is_better": True}
    arguments.update(kwargs)
    values = arguments.pop("per_case_values")
    with pytest.raises(ValueError, match=message):
        aggregate_cases(values, **arguments)


# --- The report --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def report_inputs():
    shape = (12, 14, 10)
    references, predictions = [], []
    for i in range(5):
        ref = ball(shape, (6, 7, 5), 3 + i % 2) + box(shape, (0, 0, 0), (3, 3, 3), 2)
        pred = ball(shape, (6 + i % 2, 7, 5), 3) + box(shape, (0, 0, 0), (3, 3, 2 + i % 2), 2)
        if i == 3:  # structure 2 absent from the reference, hallucinated by the model
            ref[ref == 2] = 0
        if i == 4:  # structure 2 absent from both
            ref[ref == 2] = 0
            pred[pred == 2] = 0
        references.append(ref)
        predictions.append(pred)
    spacings = [(1.0, 1.0, 2.0)] * 5
    groups = ["p1", "p1", "p2", "p3", "p4"]
    return references, predictions, spacings, groups


def test_report_holds_every_case_structure_and_aggregate(report_inputs):
    references, predictions, spacings, groups = report_inputs
    report = segmentation_metrics(
        references, predictions, labels=[1, 2], spacings=spacings, groups=groups, tolerance_mm=2.0
    )
    assert report.labels == (1, 2)
    assert len(report.cases) == 5 and all(len(case) == 2 for case in report.cases)
    for i, case in enumerate(report.cases):
        expected = segmentation_case(
            references[i], predictions[i], labels=[1, 2], spacing=spacings[i], tolerance_mm=2.0
        )
        # to_dict: NaN (an undefined RVE) compares unequal to itself, None does not.
        assert [c.to_dict() for c in case] == [c.to_dict() for c in expected]
    assert [s.structure for s in report.summaries] == [1, 2, None]
    assert report.n_empty_reference == {1: 0, 2: 2}
    assert report.summary(None).n_empty_reference == 2
    for summary in report.summaries:
        assert list(summary.results) == list(SEGMENTATION_METRICS)
        for metric, result in summary.results.items():
            assert result.name == metric  # the structure is in the summary, not the name
            assert result.higher_is_better is CATALOGUE[metric].higher_is_better
            assert "patient-level percentile bootstrap (4 groups" in result.method


def test_report_aggregates_match_aggregate_cases(report_inputs):
    references, predictions, spacings, groups = report_inputs
    report = segmentation_metrics(
        references, predictions, labels=[1, 2], spacings=spacings, groups=groups
    )
    for metric in SEGMENTATION_METRICS:
        values = report.values(metric)
        if metric == "relative_volume_error":
            values = np.abs(values)  # the aggregate of RVE is the mean |RVE|
        for j, structure in enumerate(report.labels):
            expected = aggregate_cases(
                values[:, j],
                name=metric,
                higher_is_better=CATALOGUE[metric].higher_is_better,
                groups=groups,
            )
            got = report.result(metric, structure)
            assert (got.value, got.ci_low, got.ci_high, got.n) == pytest.approx(
                (expected.value, expected.ci_low, expected.ci_high, expected.n), rel=1e-12
            )
        # Mean over structures: each case's mean over its defined structures, then cases.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_case = np.nanmean(values, axis=1)
        expected = aggregate_cases(
            per_case,
            name=metric,
            higher_is_better=CATALOGUE[metric].higher_is_better,
            groups=groups,
        )
        got = report.result(metric)
        assert (got.value, got.ci_low, got.ci_high) == pytest.approx(
            (expected.value, expected.ci_low, expected.ci_high), rel=1e-12
        )


def test_report_counts_empty_references_and_penalises_hallucinations(report_inputs):
    references, predictions, spacings, _ = report_inputs
    report = segmentation_metrics(references, predictions, labels=[1, 2], spacings=spacings)
    dice_two = report.values("dice")[:, 1]
    assert dice_two[3] == 0.0 and dice_two[4] == 1.0  # hallucinated, and absent from both
    rve = report.result("relative_volume_error", 2)
    assert rve.n == 3 and "(2 undefined, left out)" in rve.method
    assert rve.higher_is_better is False


def test_report_gives_nan_with_a_reason_when_no_reference_has_the_structure():
    volume = box((8, 8), (1, 1), (4, 4))
    report = segmentation_metrics([volume, volume], [volume, volume], labels=[1, 2])
    rve = report.result("relative_volume_error", 2)
    assert math.isnan(rve.value)
    assert rve.reason.startswith("the reference of structure 2 is empty in all 2 cases")
    assert report.result("dice", 2).value == 1.0
    assert report.n_empty_reference == {1: 0, 2: 2}


def test_report_to_dict_is_strict_json(report_inputs):
    references, predictions, spacings, _ = report_inputs
    report = segmentation_metrics(references, predictions, labels=[1, 2], spacings=spacings)
    text = json.dumps(report.to_dict(), allow_nan=False)
    data = json.loads(text)
    assert data["cases"][3][1]["relative_volume_error"] is None
    assert data["summaries"][2]["structure"] is None


def test_report_lookups_reject_unknown_names(report_inputs):
    references, predictions, _, _ = report_inputs
    report = segmentation_metrics(references[:2], predictions[:2], labels=[1], n_resamples=10)
    with pytest.raises(ValueError, match="metric must be one of dice, iou"):
        report.result("hd95")
    with pytest.raises(ValueError, match=r"evaluated labels \[1\] or None"):
        report.summary(2)
    with pytest.raises(ValueError, match="metric must be one of"):
        report.values("jaccard")
