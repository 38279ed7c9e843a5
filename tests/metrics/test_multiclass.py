"""Multiclass metrics: equality with scikit-learn, the edge-case policy, input validation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    f1_score,
    roc_auc_score,
)
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from grader.metrics import MetricInfo, _multiclass, roc_auc
from grader.metrics._multiclass import (
    accuracy,
    balanced_accuracy,
    macro_f1,
    multiclass_roc_auc,
    quadratic_weighted_kappa,
)
from grader.metrics._multiclass_counts import multiclass_confusion_matrix
from grader.metrics._multiclass_per_class import per_class_roc_auc

PROPERTY = settings(max_examples=60, deadline=None)
TOL = 1e-12
LABEL_METRICS = [accuracy, balanced_accuracy, macro_f1, quadratic_weighted_kappa]
ALL_METRICS = [multiclass_roc_auc, per_class_roc_auc, *LABEL_METRICS]


@st.composite
def multiclass_problems(
    draw: st.DrawFn, *, every_class: bool = True, max_extra: int = 80
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, probabilities, predicted labels) with K in 2..6 and frequent ties.

    With ``every_class`` each class has at least one case in the labels.
    """
    k = draw(st.integers(2, 6))
    extra = draw(st.lists(st.integers(0, k - 1), max_size=max_extra))
    if every_class:
        labels = np.array(draw(st.permutations(list(range(k)) + extra)))
    else:
        labels = np.array([*extra, draw(st.integers(0, k - 1))])
    n = labels.shape[0]
    if draw(st.booleans()):
        # Small integer weights: many tied probabilities, zeros and one-hot rows.
        raw = draw(hnp.arrays(np.float64, (n, k), elements=st.integers(0, 3).map(float)))
        raw[np.arange(n), draw(hnp.arrays(np.intp, n, elements=st.integers(0, k - 1)))] += 1.0
    else:
        raw = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(0.01, 1.0)))
    probs = raw / raw.sum(axis=1, keepdims=True)
    predicted = draw(hnp.arrays(np.intp, n, elements=st.integers(0, k - 1)))
    return labels, probs, predicted


def softmax_free_probs(k: int, n: int, seed: int = 0) -> np.ndarray:
    raw = np.random.default_rng(seed).random((n, k)) + 0.01
    return raw / raw.sum(axis=1, keepdims=True)


# --- Equality with scikit-learn -----------------------------------------------------------


@PROPERTY
@given(multiclass_problems())
def test_roc_auc_equals_sklearn(problem: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    labels, probs, _ = problem
    k = probs.shape[1]
    one_hot = np.eye(k, dtype=int)[labels]
    for average in ("macro", "micro"):
        result = multiclass_roc_auc(labels, probs, average=average)
        # The multilabel path is sklearn's one-vs-rest for every K (its multiclass path
        # reads K = 2 as a binary problem and wants a 1-D score).
        expected = roc_auc_score(one_hot, probs, average=average)
        assert abs(result.value - expected) <= TOL
        if k >= 3:
            ovr = roc_auc_score(labels, probs, multi_class="ovr", average=average)
            assert abs(result.value - ovr) <= TOL
        assert (result.name, result.higher_is_better, result.n) == (
            "multiclass_roc_auc",
            True,
            labels.shape[0],
        )
        assert result.ci_low is None and result.reason is None


@PROPERTY
@given(multiclass_problems())
def test_per_class_roc_auc_is_binary_roc_auc(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    labels, probs, _ = problem
    per = per_class_roc_auc(labels, probs, alpha=0.1)
    assert list(per) == list(range(probs.shape[1]))
    macro = multiclass_roc_auc(labels, probs).value
    assert abs(np.mean([r.value for r in per.values()]) - macro) <= TOL
    for k, result in per.items():
        binary = roc_auc(labels == k, probs[:, k], alpha=0.1)
        assert (result.value, result.ci_low, result.ci_high) == (
            binary.value,
            binary.ci_low,
            binary.ci_high,
        )
        assert result.method.startswith(f"class {k} vs rest")
        assert f"{k}: {result.value:.4f}" in multiclass_roc_auc(labels, probs).method


@PROPERTY
@given(multiclass_problems())
def test_label_metrics_equal_sklearn(problem: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    labels, _, predicted = problem
    k = int(labels.max()) + 1
    classes = list(range(k))
    assert (
        abs(balanced_accuracy(labels, predicted).value - balanced_accuracy_score(labels, predicted))
        <= TOL
    )
    assert abs(accuracy(labels, predicted).value - accuracy_score(labels, predicted)) <= TOL
    with warnings.catch_warnings():
        # sklearn warns about classes never predicted (precision 0/0); F1 is still defined.
        warnings.simplefilter("ignore")
        expected_f1 = f1_score(labels, predicted, average="macro", labels=classes)
    assert abs(macro_f1(labels, predicted).value - expected_f1) <= TOL
    expected_kappa = cohen_kappa_score(labels, predicted, weights="quadratic", labels=classes)
    assert abs(quadratic_weighted_kappa(labels, predicted).value - expected_kappa) <= TOL


@PROPERTY
@given(multiclass_problems())
def test_probabilities_are_read_by_argmax(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    labels, probs, _ = problem
    argmax = probs.argmax(axis=1)
    for metric in LABEL_METRICS:
        from_probs = metric(labels, probs)
        from_labels = metric(labels, argmax, n_classes=probs.shape[1])
        assert from_probs.value == from_labels.value or (
            math.isnan(from_probs.value) and math.isnan(from_labels.value)
        )
        assert "argmax" in from_probs.method
        assert "argmax" not in from_labels.method


@PROPERTY
@given(multiclass_problems(every_class=False))
def test_absent_classes_match_sklearn_where_defined(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    labels, probs, predicted = problem
    k = probs.shape[1]
    classes = list(range(k))
    present = np.bincount(labels, minlength=k) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn's UndefinedMetricWarning and friends
        one_hot = np.eye(k, dtype=int)[labels]
        sk_macro = roc_auc_score(one_hot, probs, average="macro")
        sk_micro = roc_auc_score(one_hot, probs, average="micro")
        sk_balanced = balanced_accuracy_score(labels, predicted)
        sk_f1 = f1_score(labels, predicted, average="macro", labels=classes, zero_division=0)
        sk_kappa = cohen_kappa_score(labels, predicted, weights="quadratic", labels=classes)

    macro = multiclass_roc_auc(labels, probs, n_classes=k)
    if present.all():
        assert abs(macro.value - sk_macro) <= TOL
    else:
        assert math.isnan(macro.value) and math.isnan(sk_macro)
        for c in np.flatnonzero(~present):
            assert str(c) in macro.reason
    assert abs(multiclass_roc_auc(labels, probs, average="micro").value - sk_micro) <= TOL

    assert abs(balanced_accuracy(labels, predicted, n_classes=k).value - sk_balanced) <= TOL

    f1 = macro_f1(labels, predicted, n_classes=k)
    empty = (np.bincount(labels, minlength=k) + np.bincount(predicted, minlength=k)) == 0
    if empty.any():
        assert math.isnan(f1.value)
        assert all(str(c) in f1.reason for c in np.flatnonzero(empty))
    else:
        assert abs(f1.value - sk_f1) <= TOL

    kappa = quadratic_weighted_kappa(labels, predicted, n_classes=k)
    if math.isnan(sk_kappa):
        assert math.isnan(kappa.value) and kappa.reason
    else:
        assert abs(kappa.value - sk_kappa) <= TOL


# --- Hand-computed fixtures --------------------------------------------------------------


def test_hand_computed_values() -> None:
    y_prob = [[0.5, 0.2, 0.3], [0.3, 0.4, 0.3], [0.2, 0.5, 0.3], [0.1, 0.5, 0.4]]
    # Class 1 vs rest: positives 0.4, 0.5 against negatives 0.2, 0.5 -> (1 + 0.5 + 1 + 0) / 4.
    assert multiclass_roc_auc([0, 1, 1, 2], y_prob).value == (1.0 + 0.625 + 1.0) / 3
    assert balanced_accuracy([0, 0, 0, 1, 2, 2], [0, 0, 1, 1, 2, 0]).value == pytest.approx(
        (2 / 3 + 1 + 1 / 2) / 3, abs=TOL
    )
    assert macro_f1([0, 0, 1, 1, 2], [0, 1, 1, 1, 2]).value == pytest.approx(
        (2 / 3 + 4 / 5 + 1) / 3, abs=TOL
    )
    # One grade off twice: observed disagreement 2, chance-expected 16 (per case, times n).
    assert quadratic_weighted_kappa([0, 1, 2, 3, 4], [0, 2, 2, 3, 3]).value == 1 - 2 / 16
    assert quadratic_weighted_kappa([0, 1, 2, 3, 4], [0, 1, 2, 3, 4]).value == 1.0


def test_kappa_weighs_by_grade_value_not_by_observed_position() -> None:
    # Grades 2 and 3 unused: a 1 -> 4 error costs 9 (not 1, as between neighbours among the
    # observed grades 0, 1, 4), as sklearn with labels=range(5).
    y_true, y_pred = [0, 0, 1, 4, 4], [0, 1, 1, 4, 1]
    ours = quadratic_weighted_kappa(y_true, y_pred, n_classes=5).value
    assert ours == pytest.approx(
        cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=range(5)), abs=TOL
    )
    assert ours != pytest.approx(cohen_kappa_score(y_true, y_pred, weights="quadratic"))


def test_argmax_ties_go_to_the_lowest_class() -> None:
    probs = [[0.4, 0.4, 0.2], [0.1, 0.45, 0.45], [1 / 3, 1 / 3, 1 / 3]]
    assert balanced_accuracy([0, 1, 0], probs).value == 1.0
    assert balanced_accuracy([1, 2, 2], probs).value == 0.0


# --- Edge cases: undefined values ---------------------------------------------------------


def test_absent_class_makes_macro_roc_auc_nan_and_names_it() -> None:
    probs = softmax_free_probs(4, 6)
    labels = np.array([0, 1, 1, 3, 0, 3])  # class 2 absent
    macro = multiclass_roc_auc(labels, probs)
    assert math.isnan(macro.value) and macro.ci_low is None
    assert macro.reason.startswith("class 2 is absent from y_true (0 of 6 cases)")
    assert "2: undefined" in macro.method
    assert macro.to_dict()["value"] is None
    per = per_class_roc_auc(labels, probs)
    assert math.isnan(per[2].value) and "class 2 is absent" in per[2].reason
    assert all(per[k].defined for k in (0, 1, 3))
    # micro pools every (case, class) pair and stays defined.
    micro = multiclass_roc_auc(labels, probs, average="micro")
    assert micro.defined
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(roc_auc_score(labels, probs, multi_class="ovr", labels=range(4)))


def test_single_class_in_y_true() -> None:
    probs = softmax_free_probs(3, 4)
    macro = multiclass_roc_auc([1, 1, 1, 1], probs)
    assert math.isnan(macro.value)
    assert macro.reason.startswith("classes 0, 2 are absent from y_true (all 4 cases are class 1)")
    per = per_class_roc_auc([1, 1, 1, 1], probs)
    assert per[1].reason.startswith("every case in y_true is class 1")
    assert multiclass_roc_auc([1, 1, 1, 1], probs, average="micro").defined


def test_balanced_accuracy_leaves_out_absent_class_and_says_so() -> None:
    labels, predicted = [0, 0, 1, 1], [0, 2, 1, 1]
    result = balanced_accuracy(labels, predicted, n_classes=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        assert result.value == balanced_accuracy_score(labels, predicted) == 0.75
    assert "classes 2, 3 are absent from y_true and left out" in result.method
    assert "2 of 4 classes" in result.method
    assert "absent" not in balanced_accuracy([0, 1, 2], [0, 1, 1]).method


def test_macro_f1_class_with_no_true_and_no_predicted_case_is_nan() -> None:
    labels, predicted = [0, 0, 1, 2], [0, 1, 1, 2]
    result = macro_f1(labels, predicted, n_classes=4)
    assert math.isnan(result.value)
    assert result.reason.startswith("class 3 has no case in y_true and none predicted")
    # sklearn scores that class 0, or drops it with zero_division=nan; both are numbers.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert f1_score(labels, predicted, average="macro", labels=range(4)) > 0
        dropped = f1_score(
            labels, predicted, average="macro", labels=range(4), zero_division=np.nan
        )
    assert dropped == pytest.approx(macro_f1(labels, predicted).value, abs=TOL)  # K = 3
    # Inferred K leaves a gap class undefined too; n_classes does not rescue it.
    assert "class 1" in macro_f1([0, 2], [0, 2]).reason


def test_macro_f1_never_predicted_class_scores_zero() -> None:
    # Class 2 has cases but no prediction: F1 = 0 / (0 + 0 + 1) = 0, defined.
    result = macro_f1([0, 1, 2], [0, 1, 1])
    assert result.value == pytest.approx((1 + 2 / 3 + 0) / 3, abs=TOL)


def test_qwk_single_predicted_class_is_chance_level() -> None:
    labels = [0, 1, 2, 3, 4, 2]
    result = quadratic_weighted_kappa(labels, [2] * 6)
    expected = cohen_kappa_score(labels, [2] * 6, weights="quadratic", labels=range(5))
    assert result.defined and abs(result.value - expected) <= TOL and abs(result.value) <= TOL
    # A single true grade and varied predictions: also chance level, defined.
    assert abs(quadratic_weighted_kappa([3, 3, 3], [1, 3, 4]).value) <= TOL


def test_qwk_undefined_when_expected_disagreement_is_zero() -> None:
    result = quadratic_weighted_kappa([2, 2, 2], [2, 2, 2], n_classes=5)
    assert math.isnan(result.value)
    assert "grade 2" in result.reason and "0/0" in result.reason
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(cohen_kappa_score([2, 2, 2], [2, 2, 2], weights="quadratic"))
    onehot = np.tile([0.0, 0.0, 1.0], (3, 1))
    assert math.isnan(quadratic_weighted_kappa([2, 2, 2], onehot).value)


def test_no_warnings_on_edge_cases() -> None:
    probs = softmax_free_probs(3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        multiclass_roc_auc([0, 0, 0], probs)
        per_class_roc_auc([0, 0, 0], probs)
        balanced_accuracy([0, 0, 0], [1, 2, 2], n_classes=3)
        macro_f1([0, 0, 0], [0, 0, 0], n_classes=3)
        quadratic_weighted_kappa([1, 1, 1], [1, 1, 1])


# --- Edge cases: invalid input -------------------------------------------------------------


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda f: f.__name__)
def test_rows_not_summing_to_one_are_rejected_with_the_worst_row(metric) -> None:
    probs = softmax_free_probs(3, 5)
    probs[1] *= 1.01
    probs[3] *= 0.5
    with pytest.raises(ValueError, match=r"must sum to 1 \(within 1e-06\); 2 rows do not") as err:
        metric([0, 1, 2, 0, 1], probs)
    assert "row 3" in str(err.value) and "renormalises" in str(err.value)


def test_row_sum_tolerance_is_one_in_a_million() -> None:
    probs = np.array([[0.5, 0.5 + 5e-7], [0.3, 0.7]])
    assert multiclass_roc_auc([0, 1], probs).defined
    probs[0, 1] = 0.5 + 2e-6
    with pytest.raises(ValueError, match="row 0"):
        multiclass_roc_auc([0, 1], probs)


@pytest.mark.parametrize("metric", ALL_METRICS, ids=lambda f: f.__name__)
def test_nan_probabilities_are_rejected(metric) -> None:
    probs = softmax_free_probs(3, 4)
    probs[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"contains NaN/inf in 1 rows \(first: row 2 = "):
        metric([0, 1, 2, 0], probs)


def test_nan_labels_are_rejected() -> None:
    probs = softmax_free_probs(3, 3)
    with pytest.raises(ValueError, match="y_true contains 1 NaN/inf"):
        multiclass_roc_auc([0, np.nan, 2], probs)
    with pytest.raises(ValueError, match="y_pred_or_prob contains 1 NaN/inf"):
        macro_f1([0, 1, 2], [0, np.nan, 2])


def test_logits_are_rejected_not_softmaxed() -> None:
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    with pytest.raises(ValueError, match=r"in \[0, 1\]; 1 rows .*row 0 .*softmax"):
        multiclass_roc_auc([0, 1], logits)


IDS = [
    "one-hot-y_true",
    "1-D-y_prob",
    "3-D-y_prob",
    "length",
    "one-column",
    "empty",
    "str",
    "str-prob",
]


@pytest.mark.parametrize(
    ("y_true", "y_prob", "match"),
    [
        ([[1, 0], [0, 1]], [[0.5, 0.5], [0.5, 0.5]], r"y_true must be 1-D .*argmax\(axis=1\)"),
        ([0, 1], [0.2, 0.8], r"y_prob must be an \(n, K\) matrix .*shape \(2,\).*roc_auc"),
        ([0, 1], np.full((2, 2, 1), 0.5), r"y_prob must be an \(n, K\) matrix"),
        ([0, 1, 1], [[0.5, 0.5], [0.5, 0.5]], r"len\(y_true\)=3 and y_prob.shape\[0\]=2"),
        ([0, 0], [[1.0], [1.0]], "at least 2 columns"),
        ([], np.empty((0, 2)), "y_true is empty"),
        (["a", "b"], [[0.5, 0.5], [0.5, 0.5]], "y_true must be integer class labels"),
        ([0, 1], [["a", "b"], ["c", "d"]], "y_prob must be real numbers"),
    ],
    ids=[
        "one-hot-y_true",
        "1-D-y_prob",
        "3-D-y_prob",
        "length",
        "one-column",
        "empty",
        "str",
        "str-prob",
    ],
)
def test_wrong_shapes_and_types(y_true, y_prob, match) -> None:
    with pytest.raises(ValueError, match=match):
        multiclass_roc_auc(y_true, y_prob)


def test_n_classes_must_match_columns() -> None:
    with pytest.raises(ValueError, match="got 3 columns but n_classes=4"):
        multiclass_roc_auc([0, 1, 2], softmax_free_probs(3, 3), n_classes=4)


@pytest.mark.parametrize("bad", [0, 1, 2.5, True, "3"])
def test_n_classes_is_validated(bad) -> None:
    with pytest.raises(ValueError, match="n_classes must be"):
        macro_f1([0, 1], [0, 1], n_classes=bad)


def test_labels_outside_range_are_rejected() -> None:
    probs = softmax_free_probs(3, 3)
    with pytest.raises(
        ValueError,
        match=r"y_true must hold class labels 0..2 \(K=3 from the columns of y_prob\); got values \[3\]",
    ):
        multiclass_roc_auc([0, 1, 3], probs)
    with pytest.raises(
        ValueError,
        match=r"y_pred_or_prob must hold class labels 0..2 \(n_classes=3\); got values \[5\]",
    ):
        quadratic_weighted_kappa([0, 1, 2], [0, 5, 2], n_classes=3)
    with pytest.raises(
        ValueError, match=r"y_true must be class labels 0\.\.K-1; got negative values \[-1\]"
    ):
        balanced_accuracy([0, -1, 2], [0, 1, 2])
    with pytest.raises(ValueError, match="non-integer values"):
        balanced_accuracy([0, 1.5, 2], [0, 1, 2])
    with pytest.raises(ValueError, match=r"1-D, so it is read as predicted class labels.*e.g. 0.2"):
        macro_f1([0, 1], [0.2, 0.8])


def test_label_dtypes_bool_and_whole_floats_are_accepted() -> None:
    assert balanced_accuracy(np.array([True, False]), np.array([1.0, 0.0])).value == 1.0
    assert (
        quadratic_weighted_kappa([0.0, 2.0, 4.0], np.array([0, 2, 4], dtype=np.uint8)).value == 1.0
    )


def test_inferred_k_is_stated_and_n_classes_fixes_it() -> None:
    inferred = balanced_accuracy([0, 1, 1], [0, 1, 2])
    assert "K=3 inferred from the largest label; pass n_classes" in inferred.method
    assert "n_classes=5" in balanced_accuracy([0, 1, 1], [0, 1, 2], n_classes=5).method


def test_huge_label_does_not_set_k() -> None:
    with pytest.raises(ValueError, match=r"largest label .* is 1000000000; .*pass n_classes"):
        macro_f1([0, 1, 2], [0, 10**9, 2])
    with pytest.raises(ValueError, match=r"got values \[1000000000\] outside"):
        macro_f1([0, 1, 2], [0, 10**9, 2], n_classes=3)


def test_many_columns_need_no_k_by_k_memory() -> None:
    # A (3, 200_000) probability matrix: a K x K confusion matrix would need 320 GB.
    probs = np.zeros((3, 200_000))
    probs[[0, 1, 2], [0, 5, 199_999]] = 1.0
    assert quadratic_weighted_kappa([0, 5, 199_999], probs).value == 1.0
    assert balanced_accuracy([0, 5, 199_999], probs).value == 1.0


def test_unknown_average_is_rejected() -> None:
    with pytest.raises(
        ValueError, match=r"average must be one of 'macro', 'micro'; got 'weighted'"
    ):
        multiclass_roc_auc([0, 1], [[0.5, 0.5], [0.5, 0.5]], average="weighted")  # type: ignore[arg-type]


# --- Contract -----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", [multiclass_roc_auc, *LABEL_METRICS], ids=lambda f: f.__name__)
def test_fits_the_registry_contract(metric) -> None:
    info = MetricInfo(metric.__name__, metric, True, False, metric.__name__, "")
    assert "n_classes" in info.options
    result = metric([0, 1, 2, 2], softmax_free_probs(3, 4))
    assert result.name == metric.__name__ and result.higher_is_better
    assert result.ci_low is None and "no CI" in result.method and result.n == 4


# --- Bootstrap intervals ------------------------------------------------------------------

#: Each summary metric and its weighted kernel, with the keyword that selects it.
KERNELS = [
    (multiclass_roc_auc, lambda inputs: _multiclass._roc_auc_kernel(inputs, "macro"), {}),
    (
        multiclass_roc_auc,
        lambda inputs: _multiclass._roc_auc_kernel(inputs, "micro"),
        {"average": "micro"},
    ),
    (balanced_accuracy, _multiclass._balanced_accuracy_kernel, {}),
    (macro_f1, _multiclass._macro_f1_kernel, {}),
    (quadratic_weighted_kappa, _multiclass._kappa_kernel, {}),
]


@PROPERTY
@given(multiclass_problems(max_extra=30), st.integers(0, 2**32 - 1))
def test_a_weighted_kernel_is_the_metric_of_the_repeated_data(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray], seed: int
) -> None:
    labels, probs, _ = problem
    k = probs.shape[1]
    weights = np.random.default_rng(seed).integers(0, 3, size=(3, labels.shape[0]))
    weights[0] = 1  # the data as it is: the point estimate
    for metric, make_kernel, fixed in KERNELS:
        inputs = _multiclass._check_inputs(
            labels, probs, k, name="y_prob", labels_allowed=metric is not multiclass_roc_auc
        )
        estimates = make_kernel(inputs)(weights)
        for row, estimate in zip(weights, estimates, strict=True):
            if not row.any():
                continue
            repeated = metric(
                np.repeat(labels, row), np.repeat(probs, row, axis=0), n_classes=k, **fixed
            )
            assert (math.isnan(estimate) and not repeated.defined) or abs(
                estimate - repeated.value
            ) <= 1e-9, (metric.__name__, fixed, estimate, repeated)


@pytest.mark.parametrize(("metric", "fixed"), [(m, f) for m, _, f in KERNELS])
def test_a_bootstrap_interval_is_reproducible_and_says_how_it_was_made(metric, fixed) -> None:
    labels = np.array([0, 1, 2, 3, 4] * 12)
    probs = softmax_free_probs(5, 60, seed=3) + 0.3 * np.eye(5)[labels]
    probs /= probs.sum(axis=1, keepdims=True)
    plain = metric(labels, probs, **fixed)
    result = metric(labels, probs, ci="bootstrap", n_resamples=300, **fixed)
    assert result.value == plain.value and result.ci_low < result.value < result.ci_high
    assert "stratified bootstrap (cases resampled within each true class" in result.method
    assert "300 resamples (random_state=0), 95% percentile interval" in result.method
    assert result == metric(labels, probs, ci="bootstrap", n_resamples=300, **fixed)
    wider = metric(labels, probs, ci="bootstrap", n_resamples=300, alpha=0.01, **fixed)
    assert wider.ci_low <= result.ci_low and wider.ci_high >= result.ci_high
    assert wider.alpha == 0.01
    patients = metric(labels, probs, ci="bootstrap", groups=np.arange(60) // 4, **fixed)
    assert "cluster bootstrap over 15 groups" in patients.method


def test_an_undefined_value_gets_no_interval() -> None:
    result = multiclass_roc_auc([0, 1, 1], softmax_free_probs(3, 3), ci="bootstrap")
    assert not result.defined and result.ci_low is None and result.method.endswith("no CI")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"ci": "delong"}, "ci must be one of 'none', 'bootstrap'; got 'delong'"),
        ({"groups": [0, 0, 1, 1]}, "groups is only used with ci='bootstrap'"),
        ({"ci": "bootstrap", "groups": [0, 1]}, "groups must be 1-D with one entry per case"),
        ({"n_resamples": 0}, "n_resamples"),
        ({"alpha": 1.5}, "alpha"),
    ],
)
def test_interval_options_are_validated_on_every_call(options, match) -> None:
    for metric in (multiclass_roc_auc, *LABEL_METRICS):
        with pytest.raises(ValueError, match=match):
            metric([0, 1, 2, 2], softmax_free_probs(3, 4), **options)


@PROPERTY
@given(multiclass_problems(every_class=False))
def test_the_confusion_matrix_equals_sklearn(
    problem: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    labels, probs, _ = problem
    k = probs.shape[1]
    expected = sklearn_confusion_matrix(labels, probs.argmax(axis=1), labels=range(k))
    assert multiclass_confusion_matrix(labels, probs, n_classes=k).tolist() == expected.tolist()
