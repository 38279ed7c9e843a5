"""Calibration metrics: Brier, scaled Brier, ECE and the reliability curve."""

from __future__ import annotations

import math
import types
import warnings
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss

from grader.metrics import (
    ReliabilityCurve,
    brier_score,
    expected_calibration_error,
    reliability_curve,
    scaled_brier_score,
)
from grader.metrics._calibration_logistic import calibration_intercept_slope
from grader.metrics._calibration_smooth import (
    SmoothReliabilityCurve,
    smooth_ece,
    smooth_reliability_curve,
)


@pytest.fixture(scope="module")
def relplot() -> types.ModuleType:
    """relplot (Blasiok & Nakkiran's reference code) is a test-only peer, not a dependency."""
    return pytest.importorskip("relplot")


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


# --- Smooth ECE ---------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(calibration_problems(both_classes=False, max_size=300))
def test_smooth_ece_equals_relplot(
    relplot: types.ModuleType, problem: tuple[np.ndarray, np.ndarray]
) -> None:
    labels, probs = problem
    result = smooth_ece(labels, probs)
    expected, width = relplot.smECE(probs, labels.astype(float), return_width=True)
    # Same discretisation and bisection; the FFT convolution differs by rounding only.
    assert result.value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert f"sigma* = {width:.6g}" in result.method
    assert result.higher_is_better is False
    assert result.n == len(labels)


@pytest.mark.parametrize("n", [1_000, 50_000])
def test_smooth_ece_equals_relplot_on_miscalibrated_models(
    relplot: types.ModuleType, n: int
) -> None:
    rng = np.random.default_rng(n)
    probs = rng.beta(0.5, 2.0, n)
    labels = (rng.uniform(size=n) < np.sqrt(probs)).astype(int)  # probabilities too low
    expected = relplot.smECE(probs, labels.astype(float))
    assert smooth_ece(labels, probs).value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("bandwidth", [0.005, 0.05, 0.3, 1.0])
def test_smooth_ece_fixed_bandwidth_equals_relplot_sigma(
    relplot: types.ModuleType, bandwidth: float
) -> None:
    rng = np.random.default_rng(1)
    probs = rng.uniform(size=400)
    labels = (rng.uniform(size=400) < probs**2).astype(int)
    result = smooth_ece(labels, probs, bandwidth=bandwidth)
    expected = relplot.smECE_sigma(probs, labels.astype(float), bandwidth)
    assert result.value == pytest.approx(expected, rel=1e-9)
    assert f"fixed bandwidth sigma = {bandwidth:g}" in result.method


def test_smooth_ece_is_small_for_calibrated_and_large_for_shifted_predictions() -> None:
    rng = np.random.default_rng(2)
    probs = rng.uniform(size=20_000)
    labels = (rng.uniform(size=20_000) < probs).astype(int)
    calibrated = smooth_ece(labels, probs).value
    shifted = smooth_ece(labels, np.clip(probs + 0.2, 0, 1)).value
    assert calibrated < 0.02
    assert shifted > 0.1


def test_smooth_ece_single_class_and_single_case_are_defined() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert smooth_ece([1, 1, 1], [0.9, 0.8, 1.0]).defined
        assert smooth_ece([0], [0.0]).defined


@pytest.mark.parametrize("bandwidth", [0, -0.1, 1.5, float("nan"), True, "0.1"])
def test_smooth_ece_bad_bandwidth(bandwidth: object) -> None:
    with pytest.raises(ValueError, match=r"^bandwidth must be a number in \(0, 1\] or None"):
        smooth_ece([0, 1], [0.2, 0.7], bandwidth=bandwidth)  # type: ignore[arg-type]


def test_smooth_reliability_curve_equals_relplot_diagram_pieces(
    relplot: types.ModuleType,
) -> None:
    from relplot.estimators import CenteredRegressor, KernelSmoother
    from relplot.kernels import ReflectedGaussianKernel

    rng = np.random.default_rng(3)
    probs = rng.uniform(size=3000) ** 2
    labels = (rng.uniform(size=3000) < probs**1.3).astype(int)
    curve = smooth_reliability_curve(labels, probs)
    _, width = relplot.smECE(probs, labels.astype(float), return_width=True)
    mesh = np.linspace(0, 1, 200)
    kernel = ReflectedGaussianKernel(width)
    smoother = CenteredRegressor(KernelSmoother(kernel)).fit(probs[:, None], labels)
    assert isinstance(curve, SmoothReliabilityCurve)
    assert curve.bandwidth == width
    np.testing.assert_allclose(curve.grid, mesh, rtol=0, atol=0)
    np.testing.assert_allclose(
        curve.fraction_positive, smoother.predict(mesh[:, None]), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(curve.density, kernel.kde(probs, mesh), rtol=0, atol=1e-12)
    assert np.trapezoid(curve.density, curve.grid) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="read-only"):
        curve.density[0] = 0.0


def test_smooth_reliability_curve_options() -> None:
    curve = smooth_reliability_curve([0, 1, 1], [0.2, 0.6, 0.9], n_points=11, bandwidth=0.1)
    assert curve.grid.shape == curve.fraction_positive.shape == curve.density.shape == (11,)
    assert curve.bandwidth == 0.1
    with pytest.raises(ValueError, match=r"^n_points must be >= 2"):
        smooth_reliability_curve([0, 1], [0.2, 0.7], n_points=1)
    with pytest.raises(ValueError, match=r"^n_points must be an integer >= 1"):
        smooth_reliability_curve([0, 1], [0.2, 0.7], n_points=0)


# --- Calibration intercept and slope ------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@st.composite
def recalibration_problems(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities in (0, 1) and labels drawn from a miscalibrated truth, both classes
    present and not separated (so that both fits have a finite maximum)."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(20, 300))
    rng = np.random.default_rng(seed)
    logits = rng.normal(draw(st.floats(-2, 2)), draw(st.floats(0.2, 3)), n)
    probs = _expit(logits)
    truth = _expit(draw(st.floats(-1, 1)) + draw(st.floats(0.3, 2)) * logits)
    labels = (rng.uniform(size=n) < truth).astype(int)
    # Lowest and highest two logits labelled 1, 0 and 0, 1: the classes overlap both ways.
    order = np.argsort(logits)
    labels[order[[0, 1, -2, -1]]] = [1, 0, 1, 0]
    return labels, probs


@settings(max_examples=60, deadline=None)
@given(recalibration_problems())
def test_calibration_slope_equals_sklearn_logistic_regression(
    problem: tuple[np.ndarray, np.ndarray],
) -> None:
    labels, probs = problem
    intercept, slope = calibration_intercept_slope(labels, probs)
    # penalty=None is deprecated in scikit-learn 1.8+; C=inf is the unpenalised fit.
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(
        _logit(probs)[:, None], labels
    )
    assert slope.value == pytest.approx(reference.coef_[0, 0], abs=1e-6)
    # The Wald interval uses the information matrix at the fitted values.
    x = np.column_stack([np.ones(len(probs)), _logit(probs)])
    mu = _expit(x @ np.r_[reference.intercept_, reference.coef_[0]])
    covariance = np.linalg.inv(x.T @ (x * (mu * (1 - mu))[:, None]))
    half_width = NormalDist().inv_cdf(0.975) * math.sqrt(covariance[1, 1])
    assert slope.ci_high - slope.ci_low == pytest.approx(2 * half_width, rel=1e-5)
    assert slope.ci_low + slope.ci_high == pytest.approx(2 * slope.value, abs=1e-9)
    assert intercept.defined


@settings(max_examples=60, deadline=None)
@given(recalibration_problems(), st.sampled_from([0.05, 0.1]))
def test_calibration_intercept_solves_the_score_equation(
    problem: tuple[np.ndarray, np.ndarray], alpha: float
) -> None:
    labels, probs = problem
    intercept, _ = calibration_intercept_slope(labels, probs, alpha=alpha)
    offset = _logit(probs)
    root = brentq(lambda a: np.sum(labels - _expit(a + offset)), -30, 30, xtol=1e-14)
    assert intercept.value == pytest.approx(root, abs=1e-9)
    mu = _expit(root + offset)
    half_width = NormalDist().inv_cdf(1 - alpha / 2) / math.sqrt(np.sum(mu * (1 - mu)))
    assert intercept.ci_low == pytest.approx(root - half_width, abs=1e-8)
    assert intercept.ci_high == pytest.approx(root + half_width, abs=1e-8)
    assert intercept.alpha == alpha


def test_calibration_of_a_calibrated_model_is_about_0_and_1() -> None:
    rng = np.random.default_rng(4)
    probs = _expit(rng.normal(0, 1.5, 20_000))
    labels = (rng.uniform(size=20_000) < probs).astype(int)
    intercept, slope = calibration_intercept_slope(labels, probs)
    assert intercept.ci_low < 0.0 < intercept.ci_high
    assert slope.ci_low < 1.0 < slope.ci_high
    assert abs(intercept.value) < 0.05 and abs(slope.value - 1) < 0.05
    # Overconfident predictions (logits doubled) give a slope of about 1/2.
    _, overconfident = calibration_intercept_slope(labels, _expit(2 * _logit(probs)))
    assert overconfident.value == pytest.approx(0.5, abs=0.03)
    assert "ideal 1" in slope.method and "ideal 0" in intercept.method


def test_calibration_names_and_direction() -> None:
    intercept, slope = calibration_intercept_slope([0, 1, 0, 1], [0.2, 0.3, 0.6, 0.7])
    assert (intercept.name, slope.name) == ("calibration_intercept", "calibration_slope")
    assert intercept.n == slope.n == 4
    assert "Wald" in slope.method


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_calibration_single_class_is_nan_with_reason(labels: list[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = calibration_intercept_slope(labels, [0.2, 0.5, 0.7])
    for result in results:
        assert math.isnan(result.value)
        assert "logistic recalibration needs both classes" in result.reason
        assert result.ci_low is None


def test_calibration_probabilities_0_or_1_are_nan_not_clipped() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = calibration_intercept_slope([0, 1, 0, 1], [0.0, 0.4, 0.3, 1.0])
    for result in results:
        assert math.isnan(result.value)
        assert result.reason.startswith("y_prob has 2 values exactly 0 or 1")
        assert "clip is not done for you" in result.reason


def test_calibration_constant_prediction_has_intercept_but_no_slope() -> None:
    labels = [0, 1, 1, 0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        intercept, slope = calibration_intercept_slope(labels, [0.4] * 5)
    # Calibration-in-the-large of a constant: logit(prevalence) - logit(p).
    assert intercept.value == pytest.approx(_logit(np.array(0.6)) - _logit(np.array(0.4)))
    assert math.isnan(slope.value)
    assert "not identifiable" in slope.reason


@pytest.mark.parametrize(
    "probs",
    [
        [0.1, 0.2, 0.3, 0.6, 0.7, 0.8],  # complete separation
        [0.1, 0.2, 0.5, 0.5, 0.7, 0.8],  # quasi-complete: one tie at the boundary
        [0.9, 0.8, 0.7, 0.3, 0.2, 0.1],  # reversed: slope -> -infinity
    ],
)
def test_calibration_separation_gives_nan_slope(probs: list[float]) -> None:
    labels = [0, 0, 0, 1, 1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        intercept, slope = calibration_intercept_slope(labels, probs)
    assert math.isnan(slope.value)
    assert "separates the classes" in slope.reason
    assert intercept.defined


def test_calibration_extreme_but_valid_probabilities_do_not_warn() -> None:
    labels = np.array([0, 1, 0, 1, 1, 0])
    probs = np.array([1e-300, 0.4, 0.3, 1 - 1e-16, 0.7, 0.6])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        intercept, slope = calibration_intercept_slope(labels, probs)
    assert intercept.defined and slope.defined


NEW_PROBABILITY_FUNCTIONS = [smooth_ece, smooth_reliability_curve, calibration_intercept_slope]


@pytest.mark.parametrize("function", NEW_PROBABILITY_FUNCTIONS)
def test_new_probability_functions_validate_input(function: object) -> None:
    with pytest.raises(ValueError, match=r"^y_prob must be probabilities in \[0, 1\]"):
        function([0, 1, 0, 1], [-0.1, 0.5, 1.2, 0.9])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"^y_prob contains 2 NaN/inf values"):
        function([0, 1, 0], [np.nan, 0.5, np.inf])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"len\(y_true\)=3 and len\(y_prob\)=2"):
        function([0, 1, 0], [0.5, 0.5])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_true must contain only 0 and 1"):
        function([0, 2], [0.5, 0.5])  # type: ignore[operator]


def test_a_bin_mean_rounded_below_its_edge_stays_in_the_bin() -> None:
    # 0.7 + 0.7 + 0.7 is 2.0999999999999996 in floating point: its mean falls one ulp short.
    curve = reliability_curve([0, 0, 0], [0.7, 0.7, 0.7], n_bins=10)
    assert curve.bin_lower[0] <= curve.mean_predicted[0] <= curve.bin_upper[0]
