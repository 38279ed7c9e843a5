"""Rubric scoring: linear and band scales, undefined metrics, penalties, manual marks."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from grader.metrics import MetricResult
from grader.rubric import ManualMarks, Rubric, score

RUBRIC = Rubric.model_validate(
    {
        "name": "r",
        "title": "R",
        "criteria": [
            {
                "kind": "automatic",
                "id": "auc",
                "title": "AUC",
                "points": 50,
                "metric": "roc_auc",
                "scale": {"type": "linear", "floor": 0.5, "target": 0.9},
            },
            {
                "kind": "automatic",
                "id": "brier",
                "title": "Brier",
                "points": 20,
                "metric": "brier_score",
                "scale": {"type": "linear", "floor": 0.25, "target": 0.05},
            },
            {
                "kind": "automatic",
                "id": "sens",
                "title": "Sensitivity",
                "points": 10,
                "metric": "sensitivity",
                "scale": {
                    "type": "bands",
                    "bands": [{"at": 0.9, "points": 10}, {"at": 0.8, "points": 5}],
                },
                "undefined_points": 2,
            },
            {"kind": "manual", "id": "writeup", "title": "Write-up", "points": 20},
        ],
        "penalties": [{"id": "slow", "title": "Slow", "points": 5, "cpu_time_over_s": 10}],
    }
)


def result(name: str, value: float, higher: bool = True, reason: str | None = None) -> MetricResult:
    return MetricResult(
        name=name,
        value=value,
        ci_low=None,
        ci_high=None,
        higher_is_better=higher,
        method="test",
        n=100,
        reason=reason,
    )


def metrics(auc=0.7, brier=0.15, sensitivity=0.85):
    return {
        "roc_auc": result("roc_auc", auc),
        "brier_score": result("brier_score", brier, higher=False),
        "sensitivity": result(
            "sensitivity",
            sensitivity,
            reason=None if not math.isnan(sensitivity) else "no positives",
        ),
    }


def by_id(marks):
    return {m.id: m for m in marks.marks}


def test_linear_scales_interpolate_between_floor_and_target_in_either_direction():
    marks = by_id(score(RUBRIC, metrics=metrics(), failure_reason=None, cpu_time_s=1.0))
    assert marks["auc"].points == pytest.approx(25.0)  # (0.7 - 0.5) / (0.9 - 0.5) = 0.5
    assert marks["brier"].points == pytest.approx(10.0)  # (0.15 - 0.25) / (0.05 - 0.25) = 0.5
    assert "(0.7000 - 0.5) / (0.9 - 0.5) = 0.500 -> 25 / 50" in marks["auc"].explanation


def test_linear_scales_clip_at_zero_and_full_points():
    marks = by_id(
        score(RUBRIC, metrics=metrics(auc=0.99, brier=0.4), failure_reason=None, cpu_time_s=1.0)
    )
    assert marks["auc"].points == 50 and "clipped to 1" in marks["auc"].explanation
    assert marks["brier"].points == 0 and "clipped to 0" in marks["brier"].explanation


@pytest.mark.parametrize(("value", "points"), [(0.95, 10), (0.9, 10), (0.85, 5), (0.5, 0)])
def test_bands_award_the_best_band_reached(value, points):
    marks = by_id(
        score(RUBRIC, metrics=metrics(sensitivity=value), failure_reason=None, cpu_time_s=1.0)
    )
    assert marks["sens"].points == points


def test_an_undefined_metric_earns_what_the_rubric_states_with_the_reason():
    marks = by_id(
        score(
            RUBRIC, metrics=metrics(sensitivity=float("nan")), failure_reason=None, cpu_time_s=1.0
        )
    )
    assert marks["sens"].points == 2
    assert "undefined on this data (no positives)" in marks["sens"].explanation


def test_manual_criteria_are_pending_until_marked():
    pending = score(RUBRIC, metrics=metrics(), failure_reason=None, cpu_time_s=1.0)
    assert pending.pending == ["writeup"]
    assert by_id(pending)["writeup"].points is None
    marked = score(
        RUBRIC,
        metrics=metrics(),
        failure_reason=None,
        cpu_time_s=1.0,
        manual=ManualMarks({"writeup": 15}),
    )
    assert marked.pending == []
    assert marked.total == pytest.approx(pending.total + 15)


def test_a_penalty_applies_over_its_run_time_and_the_total_never_goes_negative():
    slow = score(
        RUBRIC,
        metrics=metrics(auc=0.5, brier=0.25, sensitivity=0.1),
        failure_reason=None,
        cpu_time_s=12.0,
    )
    assert by_id(slow)["slow"].points == -5
    assert slow.total == 0
    fast = score(RUBRIC, metrics=metrics(), failure_reason=None, cpu_time_s=9.0)
    assert "slow" not in by_id(fast)


def test_a_failed_run_earns_no_automatic_points_but_keeps_manual_marks():
    marks = score(
        RUBRIC,
        metrics=None,
        failure_reason="the submission failed (timeout)",
        cpu_time_s=20.0,
        manual=ManualMarks({"writeup": 12}),
    )
    assert marks.total == 12
    assert by_id(marks)["auc"].explanation == "0 points: the submission failed (timeout)"
    assert "slow" not in by_id(marks)


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        (
            {"metric": "brier_score", "scale": {"type": "linear", "floor": 0.05, "target": 0.25}},
            "better when lower",
        ),
        (
            {"metric": "roc_auc", "scale": {"type": "linear", "floor": 0.9, "target": 0.5}},
            "better when higher",
        ),
        (
            {"metric": "roc_auc", "scale": {"type": "bands", "bands": [{"at": 0.9, "points": 99}]}},
            "exceed",
        ),
        (
            {"metric": "roc_aux", "scale": {"type": "linear", "floor": 0.5, "target": 0.9}},
            "unknown metric",
        ),
    ],
)
def test_inconsistent_criteria_are_refused(criterion, message):
    base = {"kind": "automatic", "id": "c", "title": "C", "points": 10}
    with pytest.raises(ValidationError, match=message):
        Rubric.model_validate({"name": "r", "title": "R", "criteria": [{**base, **criterion}]})


@pytest.mark.parametrize("criterion_id", ["name", "comment", "report_comment", "total"])
def test_an_id_that_would_overwrite_a_sheet_column_is_refused(criterion_id):
    criterion = {"kind": "manual", "id": criterion_id, "title": "Write-up", "points": 10}
    with pytest.raises(ValidationError, match="would collide with the gradebook"):
        Rubric.model_validate({"name": "r", "title": "R", "criteria": [criterion]})
