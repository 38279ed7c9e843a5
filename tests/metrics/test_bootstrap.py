"""The vectorised bootstrap: resample weights, percentile intervals and weighted kernels."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, roc_auc_score

import grader.metrics._bootstrap as bootstrap
from grader.metrics import roc_auc, sensitivity
from grader.metrics._bootstrap import (
    BootstrapSpec,
    check_weights,
    class_strata,
    percentile_interval,
    resample_weights,
)
from grader.metrics._bootstrap_kernels import (
    weighted_brier,
    weighted_mean,
    weighted_proportion,
    weighted_roc_auc,
)

PROPERTY = settings(max_examples=100, deadline=None)


@st.composite
def binary_problems(
    draw: st.DrawFn, *, min_each: int = 1, max_size: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Labels with both classes and scores with frequent ties (rounded to 0-2 decimals)."""
    extra = draw(st.lists(st.booleans(), max_size=max_size - 2 * min_each))
    labels = draw(st.permutations(extra + [True] * min_each + [False] * min_each))
    scores = np.array(
        draw(st.lists(st.floats(-5.0, 5.0), min_size=len(labels), max_size=len(labels)))
    )
    decimals = draw(st.sampled_from([None, 0, 1]))
    if decimals is not None:
        scores = np.round(scores, decimals)
    return np.array(labels, dtype=int), scores


def integer_weights(draw: st.DrawFn, n: int, max_rows: int = 5) -> np.ndarray:
    rows = draw(st.integers(1, max_rows))
    flat = draw(st.lists(st.integers(0, 4), min_size=rows * n, max_size=rows * n))
    return np.array(flat, dtype=np.int32).reshape(rows, n)


# --- resample_weights --------------------------------------------------------------------


def test_plain_weights_shape_dtype_and_row_sums() -> None:
    w = resample_weights(37, n_resamples=250, random_state=4)
    assert w.shape == (250, 37)
    assert w.dtype == np.int32
    assert np.all(w.sum(axis=1) == 37)
    assert w.min() >= 0


def test_plain_weights_have_multinomial_moments() -> None:
    # Each count is Binomial(n, 1/n): mean 1, variance 1 - 1/n; pairs covary by -1/n.
    n, b = 20, 20_000
    w = resample_weights(n, n_resamples=b, random_state=0).astype(float)
    assert w.mean() == pytest.approx(1.0, abs=0.01)
    assert w.var(axis=0).mean() == pytest.approx(1 - 1 / n, abs=0.02)
    # P(a case is never drawn) = (1 - 1/n)^n.
    assert (w == 0).mean() == pytest.approx((1 - 1 / n) ** n, abs=0.01)


def test_stratified_weights_keep_stratum_sizes() -> None:
    strata = np.array(["a", "b", "a", "c", "b", "a", "c"])
    w = resample_weights(7, n_resamples=500, strata=strata, random_state=1)
    for label in "abc":
        members = strata == label
        assert np.all(w[:, members].sum(axis=1) == members.sum())
    # Within a stratum every member is drawn sometimes.
    assert np.all(w.sum(axis=0) > 0)


def test_cluster_weights_move_groups_together() -> None:
    groups = np.array([3, 3, 1, 2, 2, 2, 7])
    w = resample_weights(7, n_resamples=400, groups=groups, random_state=2)
    assert np.all(w[:, 0] == w[:, 1])
    assert np.all(w[:, 3] == w[:, 4]) and np.all(w[:, 4] == w[:, 5])
    # Four groups are drawn per resample: the group counts (one case per group) sum to 4.
    assert np.all(w[:, [0, 2, 3, 6]].sum(axis=1) == 4)
    # Rows sum to n only on average (groups differ in size).
    assert len(set(w.sum(axis=1).tolist())) > 1


def test_cluster_weights_within_strata_keep_group_counts_per_stratum() -> None:
    groups = np.array(["p1", "p1", "p2", "p3", "p3", "p4", "p5"])
    strata = np.array([0, 0, 0, 1, 1, 1, 1])  # p1, p2 in stratum 0; p3, p4, p5 in 1
    w = resample_weights(7, n_resamples=300, groups=groups, strata=strata, random_state=3)
    representatives = [0, 2, 3, 5, 6]  # one case of each group
    group_counts = w[:, representatives]
    assert np.all(group_counts[:, :2].sum(axis=1) == 2)
    assert np.all(group_counts[:, 2:].sum(axis=1) == 3)


def test_group_spanning_strata_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"1 groups span more than one stratum \(e\.g\. 'p1'\)"):
        resample_weights(3, groups=["p1", "p1", "p2"], strata=[0, 1, 1])


def test_singleton_groups_equal_case_resampling() -> None:
    plain = resample_weights(9, n_resamples=50, random_state=5)
    assert np.array_equal(
        resample_weights(9, n_resamples=50, random_state=5, groups=range(9)), plain
    )
    strata = [0, 1, 1, 0, 0, 1, 0, 0, 1]
    stratified = resample_weights(9, n_resamples=50, random_state=5, strata=strata)
    clustered = resample_weights(9, n_resamples=50, random_state=5, strata=strata, groups=range(9))
    assert np.array_equal(clustered, stratified)


def test_random_state_semantics() -> None:
    a = resample_weights(10, n_resamples=20, random_state=11)
    assert np.array_equal(a, resample_weights(10, n_resamples=20, random_state=11))
    assert not np.array_equal(a, resample_weights(10, n_resamples=20, random_state=12))
    rng = np.random.default_rng(11)
    first = resample_weights(10, n_resamples=20, random_state=rng)
    assert np.array_equal(first, a)  # a Generator seeded alike draws the same
    assert not np.array_equal(resample_weights(10, n_resamples=20, random_state=rng), first)
    assert resample_weights(10, n_resamples=3, random_state=None).shape == (3, 10)


def test_batches_stack_to_the_same_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_MAX_CELLS_PER_BATCH", 64)  # 6 rows of n=10 per batch
    spec = BootstrapSpec(n_resamples=25, random_state=8)
    strata = np.arange(10) % 3
    for kwargs in ({}, {"strata": strata}, {"groups": np.arange(10) // 2}):
        batches = list(spec.weight_batches(10, **kwargs))
        assert [b.shape[0] for b in batches] == [6, 6, 6, 6, 1]
        assert np.array_equal(np.concatenate(batches), spec.weights(10, **kwargs))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, r"^n must be an integer >= 1"),
        ({"n": 3, "n_resamples": 0}, r"^n_resamples must be an integer >= 1"),
        ({"n": 3, "n_resamples": 2.0}, r"^n_resamples must be an integer >= 1"),
        ({"n": 3, "random_state": -1}, r"^random_state must be >= 0"),
        ({"n": 3, "random_state": True}, r"^random_state must be a non-negative integer"),
        ({"n": 3, "random_state": "0"}, r"^random_state must be a non-negative integer"),
        (
            {"n": 3, "random_state": np.random.RandomState(0)},
            r"np\.random\.default_rng\(seed\)",
        ),
        ({"n": 3, "strata": [0, 1]}, r"^strata must be 1-D with one entry per case \(3\)"),
        ({"n": 2, "groups": [[0, 1]]}, r"^groups must be 1-D"),
        ({"n": 3, "groups": [1.0, np.nan, 2.0]}, r"^groups contains 1 NaN values"),
        ({"n": 2, "groups": np.array([1, "a"], dtype=object)}, r"^groups must hold comparable"),
    ],
)
def test_resample_weights_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resample_weights(**kwargs)


def test_class_strata() -> None:
    assert class_strata([0, 1, 1, 0]).tolist() == [0, 1, 1, 0]
    strata = class_strata([0, 1, 1, 0, 0], groups=["a", "a", "b", "c", "c"])
    assert strata.tolist() == [2, 2, 1, 0, 0]
    # These strata never split a group, so they combine with the same groups.
    w = resample_weights(5, n_resamples=10, strata=strata, groups=["a", "a", "b", "c", "c"])
    assert w.shape == (10, 5)


# --- percentile_interval and BootstrapSpec ------------------------------------------------


def test_percentile_interval_matches_numpy_and_ignores_nan() -> None:
    rng = np.random.default_rng(0)
    estimates = rng.normal(size=999)
    expected = np.percentile(estimates, [2.5, 97.5])
    with_nan = np.concatenate([estimates, [np.nan] * 7])
    assert percentile_interval(with_nan, 0.05) == pytest.approx(tuple(expected), abs=0)
    assert percentile_interval(np.arange(101.0), 0.1) == (5.0, 95.0)


def test_percentile_interval_all_nan() -> None:
    low, high = percentile_interval(np.full(5, np.nan), 0.05)
    assert math.isnan(low) and math.isnan(high)


@pytest.mark.parametrize("alpha", [0, 1, -0.5, float("nan")])
def test_percentile_interval_bad_alpha(alpha: float) -> None:
    with pytest.raises(ValueError, match=r"^alpha must be a number in \(0, 1\)"):
        percentile_interval(np.arange(3.0), alpha)


def test_bootstrap_spec_validates_and_describes() -> None:
    with pytest.raises(ValueError, match="n_resamples"):
        BootstrapSpec(n_resamples=0)
    with pytest.raises(ValueError, match="random_state"):
        BootstrapSpec(random_state=-3)
    spec = BootstrapSpec(n_resamples=200, random_state=7)
    text = spec.describe(alpha=0.1, design="stratified bootstrap", n_undefined=3)
    assert text == (
        "stratified bootstrap, 200 resamples (random_state=7), 90% percentile interval; "
        "3 of 200 resamples undefined and ignored"
    )
    generator = BootstrapSpec(random_state=np.random.default_rng(1))
    assert "caller's Generator" in generator.describe(alpha=0.05, design="d", n_undefined=0)
    assert "not reproducible" in BootstrapSpec(random_state=None).describe(
        alpha=0.05, design="d", n_undefined=0
    )


# --- weighted_roc_auc -----------------------------------------------------------------------


@PROPERTY
@given(binary_problems())
def test_weighted_auc_with_unit_weights_is_roc_auc(problem: tuple[np.ndarray, np.ndarray]) -> None:
    labels, scores = problem
    value = weighted_roc_auc(labels, scores, np.ones((1, len(labels)), dtype=np.int32))[0]
    assert abs(value - roc_auc(labels, scores).value) <= 1e-12
    assert abs(value - roc_auc_score(labels, scores)) <= 1e-12


@PROPERTY
@given(st.data())
def test_weighted_auc_with_integer_weights_is_auc_of_repeated_data(data: st.DataObject) -> None:
    labels, scores = data.draw(binary_problems())
    weights = integer_weights(data.draw, len(labels))
    values = weighted_roc_auc(labels, scores, weights)
    assert values.shape == (weights.shape[0],)
    for row, value in zip(weights, values, strict=True):
        repeated = np.repeat(np.arange(len(labels)), row)
        n_pos = labels[repeated].sum()
        if n_pos == 0 or n_pos == len(repeated):
            assert math.isnan(value)
        else:
            assert abs(value - roc_auc_score(labels[repeated], scores[repeated])) <= 1e-12


@PROPERTY
@given(st.data())
def test_weighted_auc_with_real_weights_matches_sklearn_sample_weight(
    data: st.DataObject,
) -> None:
    labels, scores = data.draw(binary_problems())
    weights = np.array(
        data.draw(st.lists(st.floats(0.01, 10.0), min_size=len(labels), max_size=len(labels)))
    )
    value = weighted_roc_auc(labels, scores, weights[None, :])[0]
    assert value == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights), abs=1e-9)


def test_weighted_auc_hand_example_and_undefined_rows() -> None:
    labels, scores = [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = weighted_roc_auc(labels, scores, [[1, 1, 1, 1], [2, 0, 1, 1], [1, 1, 0, 0]])
        zero = weighted_roc_auc(labels, scores, np.zeros((2, 4)))
    assert values[:2].tolist() == [0.75, 1.0]
    assert math.isnan(values[2])
    assert np.isnan(zero).all()
    # Ties: a positive tied with a negative of weight 3 and one below of weight 1.
    assert weighted_roc_auc([0, 0, 1], [0.5, 0.1, 0.5], [[3, 1, 1]])[0] == (1 + 1.5) / 4


def test_weighted_auc_single_class_is_nan() -> None:
    assert np.isnan(weighted_roc_auc([1, 1, 1], [0.1, 0.2, 0.3], np.ones((2, 3)))).all()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (
            np.ones(4),
            r"shape \(n_resamples, n_cases\) = \(B, 4\); got shape \(4,\).*weights\[None, :\]",
        ),
        (np.ones((2, 3)), r"got shape \(2, 3\)"),
        (np.array([[1, -1, 1, 1]]), r"^weights must be >= 0; got minimum -1"),
        (np.array([[1, np.nan, 1, 1]]), r"NaN or inf"),
        (np.array([["a"] * 4]), r"real numbers"),
    ],
)
def test_weights_are_validated(weights: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        weighted_roc_auc([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], weights)


def test_check_weights_keeps_integers_and_converts_bools() -> None:
    w = np.ones((2, 3), dtype=np.int32)
    assert check_weights(w, 3) is w
    assert check_weights(np.ones((1, 3), dtype=bool), 3).dtype == np.int32


# --- Other kernels ------------------------------------------------------------------------


@PROPERTY
@given(st.data(), st.sampled_from([-1.0, 0.0, 0.5, 2.0]))
def test_weighted_proportion_is_sensitivity_of_repeated_data(
    data: st.DataObject, threshold: float
) -> None:
    labels, scores = data.draw(binary_problems())
    weights = integer_weights(data.draw, len(labels))
    predicted = scores >= threshold
    values = weighted_proportion(predicted, labels == 1, weights)
    for row, value in zip(weights, values, strict=True):
        repeated = np.repeat(np.arange(len(labels)), row)
        if labels[repeated].sum() == 0:
            assert math.isnan(value)
        else:
            expected = sensitivity(labels[repeated], scores[repeated], threshold=threshold)
            assert abs(value - expected.value) <= 1e-12


def test_weighted_proportion_hand_example() -> None:
    successes = np.array([True, False, True, True])
    trials = np.array([True, True, False, True])  # the third success is not a trial
    values = weighted_proportion(successes, trials, [[1, 1, 1, 1], [0, 2, 5, 0], [0, 0, 1, 0]])
    assert values[:2].tolist() == [2 / 3, 0.0]
    assert math.isnan(values[2])


def test_weighted_proportion_needs_booleans() -> None:
    with pytest.raises(ValueError, match=r"^successes must be a boolean array"):
        weighted_proportion(np.array([1, 0]), np.array([True, True]), np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"^trials must be 1-D of length 2"):
        weighted_proportion(np.array([True, False]), np.array([True]), np.ones((1, 2)))


@PROPERTY
@given(st.data())
def test_weighted_brier_and_mean_match_references(data: st.DataObject) -> None:
    labels, _ = data.draw(binary_problems())
    n = len(labels)
    probs = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    weights = integer_weights(data.draw, n)
    brier = weighted_brier(labels, probs, weights)
    means = weighted_mean(probs, weights)
    for row, b, m in zip(weights, brier, means, strict=True):
        if row.sum() == 0:
            assert math.isnan(b) and math.isnan(m)
            continue
        assert b == pytest.approx(brier_score_loss(labels, probs, sample_weight=row), abs=1e-12)
        assert m == pytest.approx(np.average(probs, weights=row), abs=1e-12)


def test_weighted_brier_rejects_non_probabilities() -> None:
    with pytest.raises(ValueError, match=r"^y_prob must be probabilities in \[0, 1\]"):
        weighted_brier([0, 1], [0.2, 1.5], np.ones((1, 2)))


def test_weighted_mean_rejects_non_finite_values() -> None:
    with pytest.raises(ValueError, match=r"^values contains 1 NaN/inf values"):
        weighted_mean([0.2, np.inf], np.ones((1, 2)))


# --- Coverage -----------------------------------------------------------------------------


@pytest.mark.slow
def test_stratified_bootstrap_auc_interval_has_about_nominal_coverage() -> None:
    # Binormal model: negatives N(0, 1), positives N(d, 1), so AUC = Phi(d / sqrt(2)).
    from statistics import NormalDist

    d, n_pos, n_neg, repetitions = 1.0, 60, 90, 400
    true_auc = NormalDist().cdf(d / math.sqrt(2))
    rng = np.random.default_rng(2024)
    labels = np.r_[np.ones(n_pos, int), np.zeros(n_neg, int)]
    covered = 0
    for seed in range(repetitions):
        scores = np.r_[rng.normal(d, 1, n_pos), rng.normal(0, 1, n_neg)]
        result = roc_auc(labels, scores, ci="bootstrap", n_resamples=1000, random_state=seed)
        covered += result.ci_low <= true_auc <= result.ci_high
    # Nominal 95%; the percentile interval runs slightly short at this size. With 400
    # repetitions the standard error of the rate is about 1.1 points.
    assert 0.91 <= covered / repetitions <= 0.98
