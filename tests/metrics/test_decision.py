"""Decision curve analysis: net benefit against hand computations and a plain loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.metrics._decision import (
    DEFAULT_THRESHOLDS,
    DecisionCurve,
    decision_curve,
    net_benefit,
)

PROPERTY = settings(max_examples=100, deadline=None)


@st.composite
def probability_problems(draw: st.DrawFn, max_size: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Labels (possibly one class) and probabilities, often on a coarse grid."""
    labels = np.array(draw(st.lists(st.booleans(), min_size=1, max_size=max_size)), dtype=int)
    probs = np.array(
        draw(
            st.lists(
                st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0])),
                min_size=len(labels),
                max_size=len(labels),
            )
        )
    )
    return labels, probs


def loop_net_benefit(labels: np.ndarray, probs: np.ndarray, t: float) -> float:
    """The definition, case by case."""
    tp = fp = 0
    for y, p in zip(labels, probs, strict=True):
        if p >= t:
            tp += y == 1
            fp += y == 0
    n = len(labels)
    return tp / n - fp / n * t / (1 - t)


def test_net_benefit_hand_example() -> None:
    # n = 10, t = 0.25 (odds 1/3): treated are p >= 0.25 -> 4 positives, 3 negatives.
    labels = [1, 1, 1, 1, 0, 0, 0, 1, 0, 0]
    probs = [0.9, 0.8, 0.3, 0.25, 0.6, 0.4, 0.3, 0.1, 0.2, 0.05]
    result = net_benefit(labels, probs, threshold=0.25)
    assert result.value == pytest.approx(4 / 10 - 3 / 10 * (1 / 3), abs=1e-15)
    assert result.name == "net_benefit"
    assert result.higher_is_better is True
    assert result.n == 10
    assert (result.ci_low, result.ci_high) == (None, None)
    # Treat-all at t = 0.25: prevalence 0.5 - 0.5 / 3.
    assert "treat-all NB 0.3333" in result.method


def test_threshold_is_inclusive() -> None:
    assert net_benefit([1, 0], [0.3, 0.3], threshold=0.3).value == pytest.approx(
        0.5 - 0.5 * 0.3 / 0.7
    )


@PROPERTY
@given(probability_problems(), st.lists(st.floats(0.001, 0.999), min_size=1, max_size=30))
def test_decision_curve_equals_plain_loop(
    problem: tuple[np.ndarray, np.ndarray], thresholds: list[float]
) -> None:
    labels, probs = problem
    curve = decision_curve(labels, probs, thresholds=thresholds)
    expected = [loop_net_benefit(labels, probs, t) for t in thresholds]
    np.testing.assert_allclose(curve.model, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(curve.thresholds, thresholds)
    for t, value in zip(thresholds[:3], curve.model[:3], strict=False):
        assert net_benefit(labels, probs, threshold=t).value == pytest.approx(value, abs=1e-12)


@PROPERTY
@given(probability_problems())
def test_default_strategies_are_net_benefits_of_constant_predictions(
    problem: tuple[np.ndarray, np.ndarray],
) -> None:
    labels, probs = problem
    curve = decision_curve(labels, probs)
    everyone = decision_curve(labels, np.ones(len(labels)))
    no_one = decision_curve(labels, np.zeros(len(labels)))
    np.testing.assert_allclose(curve.treat_all, everyone.model, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(curve.treat_none, no_one.model)
    assert np.all(curve.treat_none == 0.0)
    # No strategy beats perfect knowledge: NB <= prevalence.
    assert np.all(curve.model <= labels.mean() + 1e-12)


def test_default_thresholds_and_read_only_arrays() -> None:
    curve = decision_curve([0, 1, 1], [0.2, 0.7, 0.4])
    assert isinstance(curve, DecisionCurve)
    np.testing.assert_array_equal(curve.thresholds, np.linspace(0.01, 0.99, 99))
    np.testing.assert_array_equal(DEFAULT_THRESHOLDS, np.linspace(0.01, 0.99, 99))
    assert not DEFAULT_THRESHOLDS.flags.writeable
    for array in (curve.thresholds, curve.model, curve.treat_all, curve.treat_none):
        assert array.shape == (99,)
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1.0


def test_decision_curve_hand_example() -> None:
    curve = decision_curve([1, 1, 0, 0, 1], [0.9, 0.3, 0.5, 0.1, 0.1], thresholds=[0.2, 0.5])
    # t = 0.2: TP 2, FP 1 -> 0.4 - 0.2/4 = 0.35; t = 0.5: TP 1, FP 1 -> 0.2 - 0.2 = 0.
    np.testing.assert_allclose(curve.model, [0.35, 0.0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(curve.treat_all, [0.6 - 0.4 / 4, 0.6 - 0.4], rtol=0, atol=1e-15)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1]])
def test_single_class_is_defined(labels: list[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = net_benefit(labels, np.full(len(labels), 0.6), threshold=0.5)
        curve = decision_curve(labels, np.full(len(labels), 0.6))
    assert result.defined
    assert result.value == (1.0 if labels[0] == 1 else -1.0)
    assert np.isfinite(curve.model).all()


@pytest.mark.parametrize("threshold", [0, 1, 0.0, 1.0, -0.2, 1.5, float("nan"), True, "0.2"])
def test_bad_threshold_rejected(threshold: object) -> None:
    with pytest.raises(ValueError, match=r"^threshold must be a probability strictly between"):
        net_benefit([0, 1], [0.2, 0.7], threshold=threshold)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ([0.1, 1.0], r"strictly between 0 and 1; 1 do not \(e\.g\. 1\.0\)"),
        ([0.0, 0.5, -1.0], r"2 do not"),
        ([0.1, np.nan], r"1 do not"),
        ([], r"non-empty 1-D array"),
        ([[0.1, 0.2]], r"non-empty 1-D array"),
        (["0.1"], r"non-empty 1-D array of numbers"),
    ],
)
def test_bad_thresholds_rejected(thresholds: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decision_curve([0, 1], [0.2, 0.7], thresholds=thresholds)  # type: ignore[arg-type]


def test_net_benefit_needs_a_threshold() -> None:
    with pytest.raises(TypeError, match="threshold"):
        net_benefit([0, 1], [0.2, 0.7])  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "function",
    [lambda y, p: net_benefit(y, p, threshold=0.3), decision_curve],
    ids=["net_benefit", "decision_curve"],
)
def test_probabilities_are_validated(function: object) -> None:
    with pytest.raises(ValueError, match=r"^y_prob must be probabilities in \[0, 1\]"):
        function([0, 1], [0.2, 1.7])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"^y_prob contains 1 NaN/inf values"):
        function([0, 1], [0.2, np.nan])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"len\(y_true\)=2 and len\(y_prob\)=1"):
        function([0, 1], [0.2])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_true must contain only 0 and 1"):
        function([0, 2], [0.2, 0.3])  # type: ignore[operator]
