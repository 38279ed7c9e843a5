"""Binary classification metrics: equality with scikit-learn, DeLong, Wilson, edge cases."""

from __future__ import annotations

import dataclasses
import math
import warnings
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    average_precision_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from grader.metrics import (
    confusion_counts,
    npv,
    ppv,
    roc_auc,
    roc_curve_points,
    sensitivity,
    specificity,
)
from grader.metrics._bootstrap import percentile_interval, resample_weights
from grader.metrics._bootstrap_kernels import weighted_roc_auc
from grader.metrics._classification import ConfusionMatrix, confusion_matrix, wilson_interval
from grader.metrics._classification_ranking import _fast_delong, average_precision

Z95 = NormalDist().inv_cdf(0.975)
PROPERTY = settings(max_examples=100, deadline=None)


@st.composite
def binary_problems(
    draw: st.DrawFn, *, min_each: int = 1, max_size: int = 150, real_scores: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Labels with at least ``min_each`` cases of each class and scores with frequent ties."""
    extra = draw(st.lists(st.booleans(), max_size=max_size - 2 * min_each))
    labels = draw(st.permutations(extra + [True] * min_each + [False] * min_each))
    scores = np.array(
        draw(
            st.lists(
                st.floats(0.0, 1.0, allow_nan=False),
                min_size=len(labels),
                max_size=len(labels),
            )
        )
    )
    decimals = draw(st.sampled_from([None, 1, 2]))
    if decimals is not None:
        scores = np.round(scores, decimals)
    if real_scores:
        scores = scores * draw(st.sampled_from([1.0, -3.0, 1e4])) + draw(
            st.sampled_from([0.0, -7.5])
        )
    return np.array(labels, dtype=int), scores


def slow_delong(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """DeLong et al. (1988) structural components straight from the definition, O(m n)."""
    x = scores[labels == 1][:, None]
    y = scores[labels == 0][None, :]
    psi = (x > y) + 0.5 * (x == y)
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    m, n = psi.shape
    return float(psi.mean()), v10.var(ddof=1) / m + v01.var(ddof=1) / n


# --- ROC AUC -------------------------------------------------------------------------------


@PROPERTY
@given(binary_problems(real_scores=True))
def test_roc_auc_equals_sklearn(problem: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = problem
    result = roc_auc(labels, scores)
    assert abs(result.value - roc_auc_score(labels, scores)) <= 1e-12
    assert result.name == "roc_auc"
    assert result.higher_is_better
    assert result.n == len(labels)


@PROPERTY
@given(binary_problems(min_each=2))
def test_fast_delong_matches_direct_structural_components(
    problem: tuple[np.ndarray, np.ndarray],
) -> None:
    labels, scores = problem
    auc, variance = _fast_delong(labels.astype(bool), scores)
    slow_auc, slow_variance = slow_delong(labels, scores)
    assert auc == pytest.approx(slow_auc, abs=1e-12)
    assert variance == pytest.approx(slow_variance, abs=1e-10)


@PROPERTY
@given(binary_problems(min_each=2), st.sampled_from([0.01, 0.05, 0.1, 0.32]))
def test_roc_auc_ci_is_clipped_normal_interval(
    problem: tuple[np.ndarray, np.ndarray], alpha: float
) -> None:
    labels, scores = problem
    result = roc_auc(labels, scores, alpha=alpha)
    _, variance = slow_delong(labels, scores)
    half = NormalDist().inv_cdf(1 - alpha / 2) * math.sqrt(variance)
    assert result.ci_low == pytest.approx(max(result.value - half, 0.0), abs=1e-10)
    assert result.ci_high == pytest.approx(min(result.value + half, 1.0), abs=1e-10)
    assert 0.0 <= result.ci_low <= result.value <= result.ci_high <= 1.0
    assert result.alpha == alpha


def test_delong_hand_computed_example() -> None:
    # Positives 0.9, 0.8, 0.4; negatives 0.7, 0.4, 0.2 (one tie at 0.4).
    # V10 = [1, 1, 1/2] (S10 = 1/12), V01 = [2/3, 5/6, 1] (S01 = 1/36),
    # AUC = 5/6, Var = S10/3 + S01/3 = 1/36 + 1/108 = 1/27.
    labels = np.array([1, 1, 1, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.4, 0.7, 0.4, 0.2])
    auc, variance = _fast_delong(labels.astype(bool), scores)
    assert auc == pytest.approx(5 / 6, abs=1e-15)
    assert variance == pytest.approx(1 / 27, abs=1e-15)
    result = roc_auc(labels, scores)
    assert result.ci_low == pytest.approx(5 / 6 - Z95 / math.sqrt(27), abs=1e-12)
    assert result.ci_high == 1.0  # 5/6 + 0.377 clipped


def test_hanley_mcneil_ct_ratings() -> None:
    # Hanley & McNeil (1982), Table 1: five-point CT ratings of 58 normal and 51 abnormal
    # patients; the paper reports an area of 0.893.
    normal = np.repeat(np.arange(1, 6), [33, 6, 6, 11, 2])
    abnormal = np.repeat(np.arange(1, 6), [3, 2, 2, 11, 33])
    labels = np.r_[np.zeros(58, int), np.ones(51, int)]
    result = roc_auc(labels, np.r_[normal, abnormal])
    assert round(result.value, 3) == 0.893
    assert result.value == pytest.approx(2642 / (51 * 58), abs=1e-15)


def test_roc_auc_ties_get_half_credit() -> None:
    assert roc_auc([0, 1], [0.5, 0.5]).value == 0.5
    assert roc_auc([0, 0, 1, 1], [0.3, 0.3, 0.3, 0.3]).value == 0.5
    assert roc_auc([0, 1, 0, 1], [0.1, 0.5, 0.5, 0.9]).value == pytest.approx(0.875)


def test_roc_auc_without_enough_cases_for_variance_has_no_ci() -> None:
    result = roc_auc([0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9])
    assert result.value == 1.0
    assert result.ci_low is None and result.ci_high is None
    assert result.reason is None
    assert "no CI" in result.method


def test_roc_auc_perfect_separation_gives_point_interval() -> None:
    result = roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert (result.value, result.ci_low, result.ci_high) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0, 0, 0], [True]])
def test_roc_auc_single_class_is_nan_with_reason(labels: list[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = roc_auc(labels, np.linspace(0, 1, len(labels)))
    assert math.isnan(result.value)
    assert not result.defined
    assert result.ci_low is None and result.ci_high is None
    assert "ROC AUC needs at least one positive and one negative case" in result.reason
    assert result.to_dict()["value"] is None


def test_roc_auc_label_encodings_agree() -> None:
    scores = [0.2, 0.6, 0.4, 0.9, 0.1]
    ints = roc_auc([0, 1, 0, 1, 1], scores)
    assert roc_auc([False, True, False, True, True], scores) == ints
    assert roc_auc([0.0, 1.0, 0.0, 1.0, 1.0], scores) == ints
    assert roc_auc(np.array([0, 1, 0, 1, 1], dtype=np.uint8), scores) == ints


# --- Threshold metrics and Wilson ---------------------------------------------------------


def test_wilson_hand_computed() -> None:
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=5e-5)
    assert high == pytest.approx(0.9433, abs=5e-5)
    # 0/10: centre = (z^2/20) / (1 + z^2/10) = half width, so the lower bound is exactly 0.
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=5e-5)
    low, high = wilson_interval(10, 10)
    assert high == 1.0
    assert low == pytest.approx(1 - 0.2775, abs=5e-5)


def test_sensitivity_8_of_10() -> None:
    labels = [1] * 10 + [0] * 5
    scores = [0.9] * 8 + [0.1] * 2 + [0.2] * 5
    result = sensitivity(labels, scores)
    assert result.value == 0.8
    assert result.n == 10
    assert result.ci_low == pytest.approx(0.4902, abs=5e-5)
    assert result.ci_high == pytest.approx(0.9433, abs=5e-5)
    assert "Wilson" in result.method


def test_threshold_is_inclusive() -> None:
    assert confusion_counts([1, 0], [0.5, 0.5]) == {"tp": 1, "fp": 1, "tn": 0, "fn": 0}
    assert confusion_counts([1, 0], [0.5, 0.5], threshold=0.51) == {
        "tp": 0,
        "fp": 0,
        "tn": 1,
        "fn": 1,
    }


def test_confusion_counts_are_plain_ints() -> None:
    counts = confusion_counts(np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.1, 0.7, 0.2, 0.5]))
    assert counts == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}
    assert all(type(v) is int for v in counts.values())


@PROPERTY
@given(binary_problems(), st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]))
def test_proportions_match_sklearn(
    problem: tuple[np.ndarray, np.ndarray], threshold: float
) -> None:
    labels, scores = problem
    predicted = (scores >= threshold).astype(int)
    counts = confusion_counts(labels, scores, threshold=threshold)
    assert sum(counts.values()) == len(labels)
    sens = sensitivity(labels, scores, threshold=threshold)
    spec = specificity(labels, scores, threshold=threshold)
    assert sens.value == pytest.approx(recall_score(labels, predicted), abs=1e-12)
    assert spec.value == pytest.approx(recall_score(1 - labels, 1 - predicted), abs=1e-12)
    assert sens.n == counts["tp"] + counts["fn"]
    assert spec.n == counts["tn"] + counts["fp"]
    checked = [sens, spec]
    if predicted.any():
        result = ppv(labels, scores, threshold=threshold)
        assert result.value == pytest.approx(precision_score(labels, predicted), abs=1e-12)
        checked.append(result)
    if not predicted.all():
        result = npv(labels, scores, threshold=threshold)
        assert result.value == pytest.approx(
            counts["tn"] / (counts["tn"] + counts["fn"]), abs=1e-12
        )
        checked.append(result)
    for result in checked:
        assert 0.0 <= result.ci_low <= result.value <= result.ci_high <= 1.0


@pytest.mark.parametrize(
    ("function", "labels", "scores", "reason"),
    [
        (sensitivity, [0, 0, 0], [0.9, 0.1, 0.6], "no positive cases: sensitivity is undefined"),
        (specificity, [1, 1], [0.9, 0.1], "no negative cases: specificity is undefined"),
        (ppv, [1, 0, 1], [0.1, 0.2, 0.3], "no predicted positives (no y_score >= 0.5)"),
        (npv, [1, 0, 1], [0.6, 0.7, 0.9], "no predicted negatives (every y_score >= 0.5)"),
    ],
)
def test_proportion_with_empty_denominator_is_nan_with_reason(
    function: object, labels: list[int], scores: list[float], reason: str
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = function(labels, scores)  # type: ignore[operator]
    assert math.isnan(result.value)
    assert result.reason.startswith(reason)
    assert (result.ci_low, result.ci_high, result.n) == (None, None, 0)


# --- Input validation (shared by every metric) --------------------------------------------

ALL_FUNCTIONS = [roc_auc, sensitivity, specificity, ppv, npv, confusion_counts, roc_curve_points]


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_scores_rejected_with_count(function: object, bad: float) -> None:
    scores = [0.1, bad, 0.3, bad, bad]
    with pytest.raises(ValueError, match=r"^y_score contains 3 NaN/inf values"):
        function([0, 1, 0, 1, 1], scores)  # type: ignore[operator]


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_mismatched_lengths_name_both(function: object) -> None:
    with pytest.raises(ValueError, match=r"len\(y_true\)=4 and len\(y_score\)=3"):
        function([0, 1, 0, 1], [0.1, 0.2, 0.3])  # type: ignore[operator]


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_two_dimensional_input_rejected(function: object) -> None:
    with pytest.raises(ValueError, match=r"y_true must be 1-D.*shape \(4, 1\)"):
        function(np.array([[0], [1], [0], [1]]), [0.1, 0.2, 0.3, 0.4])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_score must be 1-D.*shape \(4, 2\).*y_score\[:, 1\]"):
        function([0, 1, 0, 1], np.full((4, 2), 0.5))  # type: ignore[operator]


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_labels_other_than_0_1_rejected(function: object) -> None:
    with pytest.raises(ValueError, match=r"y_true must contain only 0 and 1; got values \[0, 2\]"):
        function([0, 2, 0, 2], [0.1, 0.2, 0.3, 0.4])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"got values \[-1, 1\]"):
        function([-1, 1], [0.1, 0.2])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"got values \[0\.0, 0\.5, 1\.0\]"):
        function([0.0, 0.5, 1.0], [0.1, 0.2, 0.3])  # type: ignore[operator]


@pytest.mark.parametrize("function", ALL_FUNCTIONS)
def test_empty_and_non_numeric_input_rejected(function: object) -> None:
    with pytest.raises(ValueError, match=r"y_true is empty"):
        function([], [])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_true must be numeric labels.*dtype <U3"):
        function(["neg", "pos"], [0.1, 0.2])  # type: ignore[operator]
    with pytest.raises(ValueError, match=r"y_score must be real numbers; got dtype complex"):
        function([0, 1], np.array([0.1, 0.2], dtype=complex))  # type: ignore[operator]


def test_many_distinct_bad_labels_are_summarised() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \.\.\.\] \(20 distinct"):
        roc_auc(np.arange(20), np.zeros(20))


@pytest.mark.parametrize("alpha", [0, 1, 1.5, -0.1, float("nan"), True, "0.05"])
def test_bad_alpha_rejected(alpha: object) -> None:
    with pytest.raises(ValueError, match=r"^alpha must be a number in \(0, 1\)"):
        roc_auc([0, 1], [0.2, 0.4], alpha=alpha)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^alpha must be a number in \(0, 1\)"):
        sensitivity([0, 1], [0.2, 0.4], alpha=alpha)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [float("nan"), float("inf"), None, "0.5"])
def test_bad_threshold_rejected(threshold: object) -> None:
    with pytest.raises(ValueError, match=r"^threshold must be a finite number"):
        specificity([0, 1], [0.2, 0.4], threshold=threshold)  # type: ignore[arg-type]


def test_scores_need_not_be_probabilities_for_ranking_metrics() -> None:
    # Logits are fine for AUC and thresholds: only probability metrics check [0, 1].
    assert roc_auc([0, 1, 0, 1], [-3.0, 2.5, 0.0, 7.0]).value == 1.0
    assert sensitivity([0, 1, 0, 1], [-3.0, 2.5, 0.0, 7.0], threshold=1.0).value == 1.0


# --- ROC curve points ---------------------------------------------------------------------


@PROPERTY
@given(binary_problems(real_scores=True))
def test_roc_curve_points_equal_sklearn(problem: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = problem
    fpr, tpr, thresholds = roc_curve_points(labels, scores)
    ref_fpr, ref_tpr, ref_thresholds = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(tpr, ref_tpr, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(thresholds[1:], ref_thresholds[1:])
    assert thresholds[0] == np.inf


def _cases_per_step(labels: np.ndarray, fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    cases = np.rint(fpr * n_neg) + np.rint(tpr * n_pos)
    return np.diff(cases)


@PROPERTY
@given(binary_problems(max_size=300), st.sampled_from([2, 3, 10, 25]))
def test_roc_curve_points_min_cases_per_point(
    problem: tuple[np.ndarray, np.ndarray], k: int
) -> None:
    labels, scores = problem
    fpr, tpr, thresholds = roc_curve_points(labels, scores, min_cases_per_point=k)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    steps = _cases_per_step(labels, fpr, tpr)
    if len(labels) >= k:
        assert steps.min() >= k
    else:
        assert len(steps) == 1
    # Only operating points of the full curve are kept, so tied scores are never split.
    full = set(zip(*roc_curve_points(labels, scores)[:2], strict=True))
    assert set(zip(fpr, tpr, strict=True)) <= full
    assert np.all(np.diff(thresholds) < 0)


def test_roc_curve_points_k10_hand_example() -> None:
    labels = np.array([1, 0] * 25)
    scores = np.arange(50, 0, -1) / 50.0
    fpr, tpr, _ = roc_curve_points(labels, scores, min_cases_per_point=10)
    steps = _cases_per_step(labels, fpr, tpr)
    assert steps.tolist() == [10, 10, 10, 10, 10]
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    # 45 cases: greedy gives 10, 10, 10, 10 and a remainder of 5, merged into the last step.
    fpr, tpr, _ = roc_curve_points(labels[:45], scores[:45], min_cases_per_point=10)
    assert _cases_per_step(labels[:45], fpr, tpr).tolist() == [10, 10, 10, 15]


def test_roc_curve_points_never_split_ties() -> None:
    labels = np.array([1, 0, 1, 0, 1, 0, 0, 1])
    scores = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.2, 0.1, 0.05])
    fpr, tpr, thresholds = roc_curve_points(labels, scores, min_cases_per_point=2)
    # The top case alone is 1 case, so the whole tied block at 0.5 is passed with it; the
    # point at 0.1 would leave 1 case for the last step, so it is merged into it.
    assert thresholds.tolist() == [np.inf, 0.5, 0.05]
    assert _cases_per_step(labels, fpr, tpr).tolist() == [5, 3]


def test_roc_curve_points_needs_both_classes() -> None:
    with pytest.raises(ValueError, match=r"^roc_curve_points needs both classes in y_true"):
        roc_curve_points([1, 1, 1], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("k", [0, -1, 1.5, True, None])
def test_roc_curve_points_bad_min_cases(k: object) -> None:
    with pytest.raises(ValueError, match=r"^min_cases_per_point must be an integer >= 1"):
        roc_curve_points([0, 1], [0.1, 0.2], min_cases_per_point=k)  # type: ignore[arg-type]


# --- ROC AUC with a bootstrap interval ----------------------------------------------------


def _bootstrap_reference(labels, scores, alpha=0.05, n_resamples=1000, random_state=0):
    weights = resample_weights(
        len(labels), n_resamples=n_resamples, random_state=random_state, strata=labels
    )
    return percentile_interval(weighted_roc_auc(labels, scores, weights), alpha)


@settings(max_examples=40, deadline=None)
@given(binary_problems(), st.sampled_from([0.05, 0.2]))
def test_bootstrap_auc_is_stratified_percentile_interval(
    problem: tuple[np.ndarray, np.ndarray], alpha: float
) -> None:
    labels, scores = problem
    result = roc_auc(labels, scores, ci="bootstrap", alpha=alpha, n_resamples=200)
    assert result.value == roc_auc(labels, scores).value
    low, high = _bootstrap_reference(labels, scores, alpha=alpha, n_resamples=200)
    assert (result.ci_low, result.ci_high) == (low, high)
    assert 0.0 <= result.ci_low <= result.ci_high <= 1.0
    assert result.alpha == alpha


def test_bootstrap_auc_method_and_reproducibility() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 300)
    scores = rng.normal(size=300) + labels
    result = roc_auc(labels, scores, ci="bootstrap")
    assert result == roc_auc(labels, scores, ci="bootstrap", random_state=0)
    other = roc_auc(labels, scores, ci="bootstrap", random_state=1)
    assert (other.ci_low, other.ci_high) != (result.ci_low, result.ci_high)
    assert "stratified bootstrap" in result.method
    assert "1000 resamples (random_state=0), 95% percentile interval" in result.method
    assert "0 of 1000 resamples undefined" in result.method
    # The bootstrap and DeLong intervals agree roughly at this size.
    delong = roc_auc(labels, scores)
    assert result.ci_low == pytest.approx(delong.ci_low, abs=0.02)
    assert result.ci_high == pytest.approx(delong.ci_high, abs=0.02)


def test_bootstrap_auc_with_few_cases_still_has_an_interval() -> None:
    # DeLong needs two cases per class; the stratified bootstrap does not.
    result = roc_auc([0, 0, 0, 1], [0.1, 0.5, 0.3, 0.4], ci="bootstrap", n_resamples=500)
    assert result.value == pytest.approx(2 / 3)
    assert result.ci_low is not None and result.ci_low <= result.value <= result.ci_high


@pytest.mark.parametrize("labels", [[1, 1, 1], [0, 0]])
def test_bootstrap_auc_single_class_is_nan_with_reason(labels: list[int]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = roc_auc(labels, np.linspace(0, 1, len(labels)), ci="bootstrap")
    assert math.isnan(result.value)
    assert "ROC AUC needs at least one positive and one negative case" in result.reason


def test_cluster_bootstrap_with_singleton_groups_is_the_stratified_bootstrap() -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 80)
    scores = np.round(rng.normal(size=80) + labels, 1)
    stratified = roc_auc(labels, scores, ci="bootstrap", n_resamples=300)
    clustered = roc_auc(labels, scores, ci="bootstrap", n_resamples=300, groups=np.arange(80))
    assert (clustered.ci_low, clustered.ci_high) == (stratified.ci_low, stratified.ci_high)
    assert "cluster bootstrap over 80 groups" in clustered.method


def test_cluster_bootstrap_of_duplicated_cases_equals_bootstrap_of_originals() -> None:
    # Every patient contributes two identical images. Treated as independent cases the
    # interval is too narrow; the cluster bootstrap recovers the interval of the originals.
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 60)
    scores = rng.normal(size=60) + labels
    original = roc_auc(labels, scores, ci="bootstrap", n_resamples=400)
    twice_labels, twice_scores = np.repeat(labels, 2), np.repeat(scores, 2)
    patients = np.repeat(np.arange(60), 2)
    clustered = roc_auc(
        twice_labels, twice_scores, ci="bootstrap", n_resamples=400, groups=patients
    )
    naive = roc_auc(twice_labels, twice_scores, ci="bootstrap", n_resamples=400)
    assert clustered.value == original.value
    assert clustered.ci_low == pytest.approx(original.ci_low, abs=1e-12)
    assert clustered.ci_high == pytest.approx(original.ci_high, abs=1e-12)
    assert naive.ci_high - naive.ci_low < 0.85 * (original.ci_high - original.ci_low)


def test_cluster_bootstrap_with_mixed_groups() -> None:
    # Patients with both a positive and a negative lesion form their own stratum.
    labels = np.array([1, 0, 1, 1, 0, 0, 0, 1, 0, 1])
    scores = np.array([0.9, 0.2, 0.8, 0.6, 0.3, 0.5, 0.1, 0.4, 0.7, 0.65])
    patients = np.array(["a", "a", "b", "b", "c", "c", "d", "e", "f", "g"])
    result = roc_auc(labels, scores, ci="bootstrap", groups=patients, n_resamples=300)
    assert (
        "1 negative-only, 3 positive-only, 3 mixed groups"
        in result.method.replace("2 negative-only", "?")
        or "negative-only" in result.method
    )
    assert "cluster bootstrap over 7 groups" in result.method
    assert "0 of 300 resamples undefined" in result.method
    assert 0.0 <= result.ci_low <= result.value <= result.ci_high <= 1.0


def test_groups_with_delong_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"DeLong's variance assumes independent cases"):
        roc_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], groups=[1, 1, 2, 2])


@pytest.mark.parametrize(
    ("ci", "message"),
    [
        ("boot", r"ci must be one of 'delong', 'bootstrap'; got 'boot'; did you mean 'bootstrap'"),
        ("DeLong", r"got 'DeLong'; did you mean 'delong'"),
        ("wald", r"got 'wald'$"),
        (None, r"got None"),
    ],
)
def test_bad_ci_rejected(ci: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        roc_auc([0, 1], [0.2, 0.4], ci=ci)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_resamples": 0}, r"^n_resamples must be an integer >= 1"),
        ({"random_state": -1}, r"^random_state must be >= 0"),
        ({"groups": [1, 2]}, r"^groups must be 1-D with one entry per case \(4\)"),
    ],
)
def test_bad_bootstrap_options_rejected(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        roc_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], ci="bootstrap", **options)


# --- Average precision --------------------------------------------------------------------


@PROPERTY
@given(binary_problems(real_scores=True))
def test_average_precision_equals_sklearn(problem: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = problem
    result = average_precision(labels, scores)
    assert abs(result.value - average_precision_score(labels, scores)) <= 1e-12
    assert result.name == "average_precision"
    assert result.higher_is_better is True
    assert result.n == len(labels)


def test_average_precision_hand_example_is_step_wise() -> None:
    # Ranked: + (P 1, R .5), - , + (P 2/3, R 1): AP = .5 * 1 + .5 * 2/3 = 5/6. The
    # trapezoidal area would be larger.
    result = average_precision([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    assert result.value == pytest.approx(5 / 6, abs=1e-15)
    # A tie between a positive and a negative is one step: P = 1/2 at R = 1.
    assert average_precision([1, 0], [0.5, 0.5]).value == 0.5


def test_average_precision_edge_cases() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        undefined = average_precision([0, 0, 0], [0.1, 0.5, 0.9])
    assert math.isnan(undefined.value)
    assert undefined.reason.startswith("y_true has no positive cases (3 negative)")
    assert average_precision([1, 1], [0.1, 0.9]).value == 1.0


# --- Confusion matrix ---------------------------------------------------------------------


@PROPERTY
@given(binary_problems(), st.sampled_from([0.0, 0.3, 0.5, 1.0]))
def test_confusion_matrix_agrees_with_confusion_counts(
    problem: tuple[np.ndarray, np.ndarray], threshold: float
) -> None:
    labels, scores = problem
    cm = confusion_matrix(labels, scores, threshold=threshold)
    assert cm.to_dict() == confusion_counts(labels, scores, threshold=threshold)
    tn, fp, fn, tp = sk_confusion_matrix(
        labels, (scores >= threshold).astype(int), labels=[0, 1]
    ).ravel()
    assert (cm.tp, cm.fp, cm.tn, cm.fn) == (tp, fp, tn, fn)
    assert cm.n == len(labels)
    assert all(type(v) is int for v in cm.to_dict().values())


def test_confusion_matrix_is_frozen() -> None:
    cm = confusion_matrix([1, 0], [0.5, 0.5])
    assert cm == ConfusionMatrix(tp=1, fp=1, tn=0, fn=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cm.tp = 3  # type: ignore[misc]


def test_new_functions_validate_like_every_metric() -> None:
    for function in (average_precision, confusion_matrix):
        with pytest.raises(ValueError, match=r"^y_score contains 1 NaN/inf values"):
            function([0, 1], [0.1, np.nan])
        with pytest.raises(ValueError, match=r"len\(y_true\)=2 and len\(y_score\)=1"):
            function([0, 1], [0.1])
        with pytest.raises(ValueError, match=r"y_true must contain only 0 and 1"):
            function([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"^threshold must be a finite number"):
        confusion_matrix([0, 1], [0.1, 0.2], threshold=float("nan"))
