"""Calibration metrics: Brier, scaled Brier, ECE and the reliability curve."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss

from grader.metrics import (
    ReliabilityCurve,
    brier_score,
    expected_calibration_error,
    reliability_curve,
    scaled_brier_score,
)

PROPERTY = settings(max_examples=100, deadline=None)


@st.composite
def calibration_problems(
    draw: st.DrawFn, *, both_classes: bool = True, max_size: int = 150
) -> tuple[np.ndarray, np.ndarray]:
    """Labels and probabilities, often rounded so that ties, 0.0, 1.0 and bin edges occur."""
    if both_classes:
        extra = draw(st.lists(st.booleans(), max_size=max_size - 2))
        labels = draw(st.permutations([*extra, True, False]))
    else:
        labels = draw(st.lists(st.booleans(), min_size=1, max_size=max_size))
    probs = np.array(
        draw(
            st.lists(
                st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.2, 0.5])),
                min_size=len(labels),
                max_size=len(labels),
            )
        )
    )
    decimals = draw(st.sampled_from([None, 1, 2]))
    if decimals is not None:
        probs = np.round(probs, decimals)
    return np.array(labels, dtype=int), probs


def reference_ece(labels: np.ndarray, probs: np.ndarray, n_bins: int) -> float:
    """Straightforward loop over bins, as the definition reads."""
    n = len(labels)
    bin_of = [min(math.floor(p * n_bins), n_bins - 1) for p in probs]
    total = 0.0
    for b in range(n_bins):
        members = [i for i in range(n) if bin_of[i] == b]
        if not members:
            continue
        fraction_positive = sum(labels[i] for i in members) / len(members)
        mean_predicted = sum(probs[i] for i in members) / len(members)
        total += len(members) / n * abs(fraction_positive - mean_predicted)
    return total


# --- Brier --------------------------------------------------------------------------------


@PROPERTY
@given(calibration_problems())
def test_brier_equals_sklearn(problem: tuple[np.ndarray, np.ndarray]) -> None:
    labels, probs = problem
    result = brier_score(labels, probs)
    assert abs(result.value - brier_score_loss(labels, probs)) <= 1e-12
    assert result.higher_is_better is False
    assert (result.ci_low, result.ci_high) == (None, None)
    assert result.n == len(labels)


def test_brier_hand_example_and_not_doubled() -> None:
    result = brier_score([0, 1, 1], [0.1, 0.9, 0.6])
    assert result.value == pytest.approx((0.01 + 0.01 + 0.16) / 3, abs=1e-15)
    assert brier_score([1, 0], [0.0, 1.0]).value == 1.0  # worst case is 1, not 2
    assert "not doubled" in result.method


def test_brier_is_defined_for_a_single_class() -> None:
    result = brier_score([1, 1, 1], [0.9, 0.8, 1.0])
    assert result.defined
    assert result.value == pytest.approx((0.01 + 0.04) / 3)


@PROPERTY
@given(calibration_problems())
def test_scaled_brier_is_skill_against_prevalence(
    problem: tuple[np.ndarray, np.ndarray],
) -> None:
    labels, probs = problem
    prevalence = labels.mean()
    expected = 1 - brier_score_loss(labels, probs) / (prevalence * (1 - prevalence))
    result = scaled_brier_score(labels, probs)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.higher_is_better is True
    # Predicting the prevalence itself scores exactly 0.
    constant = scaled_brier_score(labels, np.full(len(labels), prevalence))
    assert constant.value == pytest.approx(0.0, abs=1e-12)


def test_scaled_brier_hand_example() -> None:
    # Brier = (0.01 + 0.04 + 0.04 + 0.01) / 4 = 0.025; reference 0.5 * 0.5 = 0.25.
    result = scaled_brier_score([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert result.value == pytest.approx(0.9, abs=1e-12)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1]])
def test_scaled_brier_single_class_is_nan_with_reason(labels: list[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = scaled_brier_score(labels, np.full(len(labels), 0.3))
    assert math.isnan(result.value)
    assert "scaled Brier score is undefined" in result.reason
    assert "only" in result.reason
    assert result.to_dict()["value"] is None


# --- ECE ----------------------------------------------------------------------------------


@PROPERTY
@given(
    calibration_problems(both_classes=False),
    st.one_of(st.just(15), st.integers(1, 20)),
)
def test_ece_equals_loop_reference(problem: tuple[np.ndarray, np.ndarray], n_bins: int) -> None:
    labels, probs = problem
    result = expected_calibration_error(labels, probs, n_bins=n_bins)
    assert abs(result.value - reference_ece(labels, probs, n_bins)) <= 1e-12
    assert result.higher_is_better is False
    assert result.n == len(labels)


def test_ece_method_states_binning() -> None:
    result = expected_calibration_error([0, 1], [0.2, 0.7])
    assert "15 equal-width bins, L1, weighted by bin count" in result.method


def test_ece_counts_probabilities_exactly_0_and_1() -> None:
    # Perfect predictions at the ends: both end bins hold cases, nothing is dropped.
    assert expected_calibration_error([0, 1, 0, 1], [0.0, 1.0, 0.0, 1.0]).value == 0.0
    # The worst predictions at the ends: an ECE of 1 only if both cases are binned.
    assert expected_calibration_error([1, 0], [0.0, 1.0]).value == 1.0
    curve = reliability_curve([0, 1, 0, 1, 1], [0.0, 1.0, 0.0, 1.0, 1.0])
    assert curve.count.tolist() == [2, 3]
    assert curve.bin_lower.tolist() == [0.0, 14 / 15]
    assert curve.bin_upper.tolist() == [1 / 15, 1.0]


def test_ece_hand_example() -> None:
    # Two bins: [0, 0.5) holds p = 0.2, 0.2 with one positive -> gap 0.3, weight 1/2;
    # [0.5, 1] holds p = 0.9, 1.0 both positive -> gap 0.05, weight 1/2.
    result = expected_calibration_error([0, 1, 1, 1], [0.2, 0.2, 0.9, 1.0], n_bins=2)
    assert result.value == pytest.approx(0.5 * 0.3 + 0.5 * 0.05, abs=1e-15)


@pytest.mark.parametrize("n_bins", [0, -3, 2.5, True, None])
def test_ece_bad_n_bins(n_bins: object) -> None:
    with pytest.raises(ValueError, match=r"^n_bins must be an integer >= 1"):
        expected_calibration_error([0, 1], [0.2, 0.7], n_bins=n_bins)  # type: ignore[arg-type]


# --- Reliability curve --------------------------------------------------------------------


@PROPERTY
@given(calibration_problems(both_classes=False), st.integers(1, 20))
def test_reliability_curve_consistent_with_ece(
    problem: tuple[np.ndarray, np.ndarray], n_bins: int
) -> None:
    labels, probs = problem
    curve = reliability_curve(labels, probs, n_bins=n_bins)
    assert curve.count.sum() == len(labels)
    assert curve.n_hidden_bins == 0
    assert np.all(curve.count > 0)
    weighted_gap = np.sum(curve.count * np.abs(curve.fraction_positive - curve.mean_predicted))
    ece = expected_calibration_error(labels, probs, n_bins=n_bins).value
    assert weighted_gap / len(labels) == pytest.approx(ece, abs=1e-12)
    assert np.all(curve.bin_lower <= curve.mean_predicted)
    assert np.all(curve.mean_predicted <= curve.bin_upper)
    np.testing.assert_allclose(curve.bin_upper - curve.bin_lower, 1 / n_bins)


@PROPERTY
@given(calibration_problems(both_classes=False), st.integers(1, 10))
def test_reliability_curve_hides_small_bins(
    problem: tuple[np.ndarray, np.ndarray], min_cases: int
) -> None:
    labels, probs = problem
    full = reliability_curve(labels, probs, n_bins=10)
    shown = reliability_curve(labels, probs, n_bins=10, min_cases_per_bin=min_cases)
    assert np.all(shown.count >= min_cases)
    assert len(shown.count) + shown.n_hidden_bins == len(full.count)
    assert set(shown.bin_lower.tolist()) <= set(full.bin_lower.tolist())


def test_reliability_curve_hand_example() -> None:
    curve = reliability_curve(
        [0, 1, 1, 1, 0], [0.2, 0.2, 1.0, 1.0, 0.6], n_bins=4, min_cases_per_bin=2
    )
    assert isinstance(curve, ReliabilityCurve)
    assert curve.bin_lower.tolist() == [0.0, 0.75]
    assert curve.bin_upper.tolist() == [0.25, 1.0]
    assert curve.mean_predicted.tolist() == pytest.approx([0.2, 1.0])
    assert curve.fraction_positive.tolist() == [0.5, 1.0]
    assert curve.count.tolist() == [2, 2]
    assert curve.n_hidden_bins == 1


def test_reliability_curve_arrays_are_read_only() -> None:
    curve = reliability_curve([0, 1], [0.2, 0.7])
    with pytest.raises(ValueError, match="read-only"):
        curve.count[0] = 5


@pytest.mark.parametrize("min_cases", [0, 1.0, False])
def test_reliability_curve_bad_min_cases(min_cases: object) -> None:
    with pytest.raises(ValueError, match=r"^min_cases_per_bin must be an integer >= 1"):
        reliability_curve([0, 1], [0.2, 0.7], min_cases_per_bin=min_cases)  # type: ignore[arg-type]


# --- Shared probability validation -------------------------------------------------------

PROBABILITY_FUNCTIONS = [
    brier_score,
    scaled_brier_score,
    expected_calibration_error,
    reliability_curve,
]


@pytest.mark.parametrize("function", PROBABILITY_FUNCTIONS)
def test_out_of_range_probabilities_rejected_not_clipped(function: object) -> None:
    with pytest.raises(ValueError) as info:
        function([0, 1, 0, 1], [-0.1, 0.5, 1.2, 0.9])  # type: ignore[operator]
    message = str(info.value)
    assert message.startswith("y_prob must be probabilities in [0, 1]; 2 values are outside")
    assert "min -0.1" in message and "max 1.2" in message
    assert "never clips" in message
    # Logits are rejected too, however plausible they look.
    with pytest.raises(ValueError, match=r"1 values are outside"):
        function([0, 1], [0.3, 1.0000001])  # type: ignore[operator]


@pytest.mark.parametrize("function", PROBABILITY_FUNCTIONS)
def test_non_finite_probabilities_rejected(function: object) -> None:
    with pytest.raises(ValueError, match=r"^y_prob contains 2 NaN/inf values"):
        function([0, 1, 0], [np.nan, 0.5, np.inf])  # type: ignore[operator]


@pytest.mark.parametrize("function", PROBABILITY_FUNCTIONS)
def test_probability_shape_and_label_checks(function: object) -> None:
    with pytest.raises(ValueError, match=r"len\(y_true\)=3 and len\(y_prob\)=2"):
        function([0, 1, 0], [0.5, 0.5])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_prob must be 1-D"):
        function([0, 1], [[0.5, 0.5], [0.5, 0.5]])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_true must contain only 0 and 1; got values \[0, 2\]"):
        function([0, 2], [0.5, 0.5])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_true is empty"):
        function([], [])  # type: ignore[operator]
