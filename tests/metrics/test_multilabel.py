"""Multi-label metrics: each label on its known cases (a missing label is masked, never a
negative), their macro means, and the mean's bootstrap interval."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from grader.metrics import (
    compute_metric,
    macro_average_precision,
    mean_roc_auc,
    per_label_roc_auc,
)


def problem(n: int = 240, n_labels: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels with about a fifth missing and probabilities that rank them imperfectly."""
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < np.linspace(0.05, 0.4, n_labels)).astype(float)
    probs = 1 / (1 + np.exp(-(1.5 * labels + rng.normal(size=(n, n_labels)) - 1)))
    labels[rng.random((n, n_labels)) < 0.2] = np.nan
    return labels, probs


def sklearn_per_label(labels: np.ndarray, probs: np.ndarray, metric) -> list[float]:
    known = ~np.isnan(labels)
    return [metric(labels[known[:, j], j], probs[known[:, j], j]) for j in range(labels.shape[1])]


@pytest.mark.parametrize("seed", range(5))
def test_each_label_and_the_means_equal_scikit_learn_on_the_known_cases(seed: int) -> None:
    labels, probs = problem(seed=seed)
    expected = sklearn_per_label(labels, probs, roc_auc_score)
    per_label = per_label_roc_auc(labels, probs)
    assert [r.value for r in per_label] == pytest.approx(expected, abs=1e-12)
    assert [r.n for r in per_label] == (~np.isnan(labels)).sum(axis=0).tolist()
    assert all(r.ci_low < r.value < r.ci_high for r in per_label)  # DeLong, as roc_auc's
    mean = mean_roc_auc(labels, probs, n_resamples=300)
    assert mean.value == pytest.approx(np.mean(expected), abs=1e-12)
    assert mean.ci_low < mean.value < mean.ci_high
    assert mean.n == labels.shape[0] and "6 of 6 labels" in mean.method
    ap = macro_average_precision(labels, probs)
    assert ap.value == pytest.approx(
        np.mean(sklearn_per_label(labels, probs, average_precision_score)), abs=1e-12
    )
    assert ap.ci_low is None and "no CI" in ap.method


def test_a_missing_label_is_never_counted_as_a_negative() -> None:
    labels, probs = problem()
    missing = np.isnan(labels)
    # Whatever a submission predicts where the label is missing, nothing changes...
    shuffled = probs.copy()
    shuffled[missing] = np.random.default_rng(1).random(int(missing.sum()))
    for metric in ("mean_roc_auc", "macro_average_precision"):
        assert (
            compute_metric(metric, labels, probs).value
            == compute_metric(metric, labels, shuffled).value
        )
    # ...and reading a missing label as negative would give other values.
    as_negative = np.where(missing, 0.0, labels)
    assert mean_roc_auc(as_negative, probs).value != mean_roc_auc(labels, probs).value


def test_a_label_of_one_class_is_left_out_of_the_mean_and_named() -> None:
    labels, probs = problem()
    labels[:, 2] = np.where(np.isnan(labels[:, 2]), np.nan, 0.0)  # no positive left
    others = [j for j in range(labels.shape[1]) if j != 2]
    expected = sklearn_per_label(labels[:, others], probs[:, others], roc_auc_score)
    mean = mean_roc_auc(labels, probs, n_resamples=200)
    assert mean.value == pytest.approx(np.mean(expected), abs=1e-12)
    assert "5 of 6 labels" in mean.method and "left out, undefined: labels 2" in mean.method
    assert math.isnan(per_label_roc_auc(labels, probs)[2].value)
    # A label measured for no case is left out the same way, for both means.
    labels[:, 4] = np.nan
    assert "left out, undefined: labels 2, 4" in macro_average_precision(labels, probs).method
    assert per_label_roc_auc(labels, probs)[4].reason == "label 4 is not measured for any case"
    # With no defined label the mean is undefined, with the reason.
    undefined = mean_roc_auc(np.zeros((4, 2)), np.full((4, 2), 0.5))
    assert math.isnan(undefined.value) and undefined.ci_low is None
    assert undefined.reason.startswith("no label is defined on its known cases")


def test_the_interval_resamples_whole_patients_with_groups() -> None:
    labels, probs = problem(n=200)
    patients = np.repeat(np.arange(50), 4)
    plain = mean_roc_auc(labels, probs, n_resamples=400)
    grouped = mean_roc_auc(labels, probs, n_resamples=400, groups=patients)
    assert grouped.value == plain.value
    assert "cluster bootstrap over groups" in grouped.method
    assert (grouped.ci_low, grouped.ci_high) != (plain.ci_low, plain.ci_high)
    again = mean_roc_auc(labels, probs, n_resamples=400, groups=patients)
    assert (again.ci_low, again.ci_high) == (grouped.ci_low, grouped.ci_high)  # seeded


@pytest.mark.parametrize(
    ("labels", "probs", "message"),
    [
        (np.zeros(4), np.zeros(4), r"y_true must be a non-empty 2-D array"),
        (np.zeros((4, 2)), np.zeros((4, 3)), r"y_prob must have y_true's shape \(4, 2\)"),
        (np.full((2, 2), 2.0), np.zeros((2, 2)), r"only 0, 1 and NaN .* e.g. \[2.0\]"),
        (np.zeros((2, 2)), np.full((2, 2), np.nan), r"y_prob must be finite; got 4 NaN"),
        (np.zeros((2, 2)), np.full((2, 2), 1.5), r"probabilities in \[0, 1\]; got 4 values"),
    ],
)
def test_invalid_input_is_named(labels, probs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mean_roc_auc(labels, probs)
