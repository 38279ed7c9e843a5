"""Subgroup metrics and gaps: equality with fairlearn, the not-estimable policy, the bootstrap."""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import brier_score_loss, precision_score, recall_score, roc_auc_score

from grader.metrics import specificity
from grader.metrics._bootstrap import BootstrapSpec, class_strata, percentile_interval
from grader.metrics._fairness import SubgroupReport, subgroup_metrics
from grader.metrics._fairness_groups import GroupResult
from grader.metrics._fairness_metrics import SUBGROUP_METRICS
from grader.metrics._result import MetricResult

# Every call of ours must be silent; fairlearn/scikit-learn calls are wrapped in `quiet`.
pytestmark = pytest.mark.filterwarnings("error")

PROPERTY = settings(max_examples=20, deadline=None)

# The scikit-learn (or fairlearn) function for each metric, and whether it takes the scores
# (True) or the thresholded predictions (False).
REFERENCE: dict[str, tuple[Callable[..., float], bool]] = {
    "roc_auc": (roc_auc_score, True),
    "sensitivity": (recall_score, False),
    "specificity": (lambda y, p: recall_score(y, p, pos_label=0), False),
    "fpr": (false_positive_rate, False),
    "ppv": (precision_score, False),
    "npv": (lambda y, p: precision_score(y, p, pos_label=0), False),
    "brier_score": (brier_score_loss, True),
    "selection_rate": (lambda y, p: float(np.mean(p)), False),
}
HIGHER_IS_BETTER = {
    "roc_auc": True,
    "sensitivity": True,
    "specificity": True,
    "fpr": False,
    "ppv": True,
    "npv": True,
    "brier_score": False,
    "selection_rate": None,  # no direction
}


def test_the_reference_table_covers_every_metric() -> None:
    assert set(REFERENCE) == set(SUBGROUP_METRICS) == set(HIGHER_IS_BETTER)


def quiet(function: Callable[[], object]) -> object:
    """Run a fairlearn/scikit-learn call with its own warnings (zero division...) muted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function()


def metric_frame(
    metric: str, y: np.ndarray, s: np.ndarray, groups: object, threshold: float = 0.5
) -> MetricFrame:
    function, uses_scores = REFERENCE[metric]
    y_pred = s if uses_scores else (s >= threshold).astype(int)
    return quiet(
        lambda: MetricFrame(metrics=function, y_true=y, y_pred=y_pred, sensitive_features=groups)
    )


def _fixed_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    rng = np.random.default_rng(7)
    g = np.repeat(["A", "B", "C"], [80, 60, 40])
    y = (rng.random(180) < 0.4).astype(int)
    y[[0, 80, 140]] = 1
    y[[1, 81, 141]] = 0
    s = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0.0, 1.0)
    return y, s, g, 0.5


@st.composite
def well_posed(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Groups of >= 20 cases, each with both classes and both predictions at the threshold.

    The first four cases of every group are (1, 0.95), (0, 0.05), (1, 0.05), (0, 0.95): a
    true positive, a true negative, a false negative and a false positive at any threshold
    in (0.05, 0.95], so every metric is defined in every group. Scores may be rounded to
    create ties.
    """
    sizes = draw(st.lists(st.integers(20, 60), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2**32 - 1))
    decimals = draw(st.sampled_from([None, 1, 2]))
    threshold = draw(st.sampled_from([0.3, 0.5, 0.7]))
    int_labels = draw(st.booleans())
    rng = np.random.default_rng(seed)
    ys, ss, gs = [], [], []
    for k, size in enumerate(sizes):
        y = rng.random(size) < rng.uniform(0.2, 0.8)
        s = np.clip(rng.normal(0.5 + rng.uniform(0.0, 0.3) * (2 * y - 1), 0.25), 0.0, 1.0)
        y[:4] = [True, False, True, False]
        s[:4] = [0.95, 0.05, 0.05, 0.95]
        ys.append(y)
        ss.append(s)
        gs.append(np.full(size, 10 * k) if int_labels else np.full(size, f"site-{k}"))
    order = rng.permutation(sum(sizes))
    y, s, g = (np.concatenate(parts)[order] for parts in (ys, ss, gs))
    if decimals is not None:
        s = np.round(s, decimals)
    return y.astype(int), s, g, threshold


# --- Equality with fairlearn ---------------------------------------------------------------------


@pytest.mark.parametrize("metric", SUBGROUP_METRICS)
@PROPERTY
@given(problem=well_posed())
def test_group_values_and_gaps_equal_fairlearn(
    metric: str, problem: tuple[np.ndarray, np.ndarray, np.ndarray, float]
) -> None:
    y, s, g, threshold = problem
    report = subgroup_metrics(y, s, g, metric=metric, threshold=threshold, n_resamples=20)
    frame = metric_frame(metric, y, s, g, threshold)
    expected = frame.by_group.to_dict()

    assert [r.group for r in report.groups] == sorted(expected)
    for group in report.groups:
        assert group.estimable
        assert group.result.value == pytest.approx(expected[group.group], abs=1e-12, rel=0)
    assert report.overall.value == pytest.approx(frame.overall, abs=1e-12, rel=0)

    if len(report.groups) < 2:
        assert math.isnan(report.max_minus_min.value)
        return
    assert report.max_minus_min.value == pytest.approx(
        frame.difference(method="between_groups"), abs=1e-12, rel=0
    )
    by_group = frame.by_group
    direction = HIGHER_IS_BETTER[metric]
    if direction is None:  # farthest from overall: fairlearn's "to_overall" difference
        shortfall = frame.difference(method="to_overall")
    elif direction:
        shortfall = frame.overall - by_group.min()
    else:
        shortfall = by_group.max() - frame.overall
    assert report.worst_vs_overall.value == pytest.approx(shortfall, abs=1e-12, rel=0)


@pytest.mark.parametrize("metric", SUBGROUP_METRICS)
def test_result_fields_names_and_directions(metric: str) -> None:
    y, s, g, _ = _fixed_problem()
    report = subgroup_metrics(y, s, g, metric=metric, n_resamples=50)
    assert report.metric == metric
    assert report.overall.name == metric
    assert all(r.result.name == metric for r in report.groups)
    assert report.overall.higher_is_better is bool(HIGHER_IS_BETTER[metric])
    assert report.max_minus_min.name == f"{metric}_gap_max_minus_min"
    assert report.worst_vs_overall.name == f"{metric}_gap_worst_vs_overall"
    assert not report.max_minus_min.higher_is_better
    assert not report.worst_vs_overall.higher_is_better
    assert report.threshold == (None if metric in ("roc_auc", "brier_score") else 0.5)
    for group in report.groups:
        members = g == group.group
        assert group.n == members.sum()
        assert group.n_positive == y[members].sum()
        assert group.prevalence == y[members].mean()
    assert report.max_minus_min.n == len(y)  # every group is compared
    assert report.worst_vs_overall.n == len(y)


def test_per_group_intervals_are_those_of_the_existing_metrics() -> None:
    y, s, g, _ = _fixed_problem()
    report = subgroup_metrics(y, s, g, metric="specificity", alpha=0.1)
    for group in report.groups:
        members = g == group.group
        assert group.result == specificity(y[members], s[members], alpha=0.1)


def test_fpr_is_one_minus_specificity_with_the_interval_flipped() -> None:
    y, s, g, _ = _fixed_problem()
    fpr = subgroup_metrics(y, s, g, metric="fpr", threshold=0.4, n_resamples=50)
    spec = subgroup_metrics(y, s, g, metric="specificity", threshold=0.4, n_resamples=50)
    for f, t in zip(fpr.groups, spec.groups, strict=True):
        assert f.result.value == pytest.approx(1 - t.result.value, abs=1e-12)
        assert f.result.ci_low == pytest.approx(1 - t.result.ci_high, abs=1e-12)
        assert f.result.ci_high == pytest.approx(1 - t.result.ci_low, abs=1e-12)
        assert f.result.n == t.result.n
    # The same spread; worst by each direction is the same group.
    assert fpr.max_minus_min.value == pytest.approx(spec.max_minus_min.value, abs=1e-12)
    assert fpr.worst_group == spec.worst_group


def test_auc_groups_have_delong_intervals_and_brier_groups_none() -> None:
    y, s, g, _ = _fixed_problem()
    auc = subgroup_metrics(y, s, g, metric="roc_auc", n_resamples=50)
    assert all(r.result.ci_low is not None and "DeLong" in r.result.method for r in auc.groups)
    brier = subgroup_metrics(y, s, g, metric="brier_score", n_resamples=50)
    assert all(r.result.ci_low is None for r in brier.groups)
    assert brier.max_minus_min.ci_low is not None  # the gaps always get a bootstrap CI


# --- Not estimable: NaN with a reason, never 0 -------------------------------------------------


def test_group_without_positives_is_nan_where_fairlearn_reports_zero() -> None:
    rng = np.random.default_rng(1)
    g = np.repeat(["a", "b", "c"], 40)
    y = (rng.random(120) < 0.5).astype(int)
    y[80:] = 0  # group c: no positive case
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)

    report = subgroup_metrics(y, s, g, metric="sensitivity", n_resamples=200)
    frame = metric_frame("sensitivity", y, s, g)
    assert frame.by_group["c"] == 0.0  # fairlearn's TPR for a group with no positives

    c = report.groups[2]
    assert c.group == "c" and not c.estimable and c.n_positive == 0 and c.prevalence == 0.0
    assert math.isnan(c.result.value) and c.result.ci_low is None
    assert c.result.reason.startswith("no positive cases")
    # Our gap leaves c out; fairlearn's counts c's 0.0, making the gap the best group's TPR.
    ours = report.max_minus_min.value
    assert ours == pytest.approx(abs(frame.by_group["a"] - frame.by_group["b"]), abs=1e-12)
    assert frame.difference(method="between_groups") == pytest.approx(frame.by_group.max())
    assert ours < frame.difference(method="between_groups")
    assert "left out: c" in report.max_minus_min.method
    assert report.worst_group in ("a", "b")


@pytest.mark.parametrize("metric", ["roc_auc", "specificity", "fpr"])
def test_group_without_negatives_is_not_estimable(metric: str) -> None:
    y, s, g, _ = _fixed_problem()
    y = y.copy()
    y[g == "C"] = 1
    report = subgroup_metrics(y, s, g, metric=metric, n_resamples=50)
    c = report.groups[2]
    assert not c.estimable and math.isnan(c.result.value)
    assert c.result.reason.startswith("no negative cases (40 positive)")
    assert "left out: C" in report.max_minus_min.method


def test_auc_group_without_positives() -> None:
    y, s, g, _ = _fixed_problem()
    y = y.copy()
    y[g == "C"] = 0
    report = subgroup_metrics(y, s, g, metric="roc_auc", n_resamples=50)
    assert report.groups[2].result.reason.startswith("no positive cases (40 negative)")
    assert [r.estimable for r in report.groups] == [True, True, False]


def test_ppv_group_without_positive_predictions_keeps_the_metric_reason() -> None:
    y, s, g, _ = _fixed_problem()
    s = s.copy()
    s[g == "B"] = 0.1  # nothing in B reaches the threshold
    report = subgroup_metrics(y, s, g, metric="ppv", n_resamples=50)
    b = report.groups[1]
    assert not b.estimable and b.result.reason.startswith("no predicted positives")
    assert [r.estimable for r in report.groups] == [True, False, True]


def test_tiny_group_is_not_estimable_below_min_group_size() -> None:
    rng = np.random.default_rng(2)
    g = np.repeat(["big", "small"], [100, 12])
    y = np.tile([0, 1], 56)
    s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
    report = subgroup_metrics(y, s, g, metric="roc_auc", n_resamples=50)
    small = report.groups[1]
    assert (small.group, small.n, small.estimable) == ("small", 12, False)
    assert math.isnan(small.result.value)
    assert small.result.reason == "12 cases < min_group_size 20"
    assert math.isnan(report.max_minus_min.value)  # one estimable group left
    lowered = subgroup_metrics(y, s, g, metric="roc_auc", min_group_size=12, n_resamples=50)
    assert lowered.groups[1].estimable
    assert lowered.groups[1].result.value == pytest.approx(
        roc_auc_score(y[100:], s[100:]), abs=1e-12
    )
    assert lowered.max_minus_min.defined


def test_single_group_has_no_gaps() -> None:
    y, s, _, _ = _fixed_problem()
    report = subgroup_metrics(y, s, ["all"] * len(y), metric="roc_auc")
    assert len(report.groups) == 1
    assert report.groups[0].result.value == report.overall.value
    for gap in report.gaps:
        assert math.isnan(gap.value) and gap.ci_low is None
        assert gap.reason == "fewer than 2 estimable groups (1 of 1): a gap needs at least two"
    assert report.worst_group is None


def test_fewer_than_two_estimable_groups_lists_why() -> None:
    y, s, g, _ = _fixed_problem()
    report = subgroup_metrics(y, s, g, metric="sensitivity", min_group_size=70)
    assert report.max_minus_min.reason == (
        "fewer than 2 estimable groups (1 of 3): a gap needs at least two (left out: "
        "B: 60 cases < min_group_size 70; C: 40 cases < min_group_size 70)"
    )


# --- Missing attribute values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_groups",
    [
        lambda labels: labels,  # a list with None and NaN among strings
        lambda labels: np.array(labels, dtype=object),
        lambda labels: pd.Series(labels, name="sex"),
        lambda labels: pd.Series(labels, dtype="category", name="sex"),
        lambda labels: pd.Series(labels, dtype="string", name="sex"),  # pandas.NA
    ],
    ids=["list", "object-array", "series", "categorical", "string-dtype"],
)
def test_missing_values_form_their_own_group(make_groups: Callable) -> None:
    y, s, g, _ = _fixed_problem()
    labels: list[object] = list(g)
    for i in range(0, 180, 6):  # 30 missing, as None and NaN
        labels[i] = None if i % 12 else float("nan")
    report = subgroup_metrics(y, s, make_groups(labels), metric="roc_auc", n_resamples=100)
    missing = np.array([x is None or x != x for x in labels])

    assert [r.group for r in report.groups] == ["A", "B", "C", None]
    last = report.groups[-1]
    assert (last.label, last.n, last.n_positive) == ("missing", 30, y[missing].sum())
    assert last.estimable  # reported, with its own value ...
    assert last.result.value == pytest.approx(roc_auc_score(y[missing], s[missing]), abs=1e-12)
    # ... but never compared: the gaps are those of A, B, C, and overall counts every case.
    values = [r.result.value for r in report.groups[:3]]
    assert report.max_minus_min.value == pytest.approx(max(values) - min(values), abs=1e-12)
    assert "left out: missing" in report.max_minus_min.method
    assert report.overall.n == len(y)
    assert report.attribute == ("sex" if isinstance(make_groups(labels), pd.Series) else "group")


def test_float_groups_with_nan_and_int_groups() -> None:
    y, s, _, _ = _fixed_problem()
    bands = np.repeat([1.0, 2.0, np.nan], 60)
    report = subgroup_metrics(y, s, bands, metric="brier_score", n_resamples=50)
    assert [r.group for r in report.groups] == [1.0, 2.0, None]
    ints = subgroup_metrics(y, s, np.repeat(np.int64([3, 1]), 90), metric="ppv", n_resamples=50)
    assert [r.group for r in ints.groups] == [1, 3]
    assert all(type(r.group) is int for r in ints.groups)


def test_to_dict_is_strict_json() -> None:
    y, s, _, _ = _fixed_problem()
    groups = np.repeat(np.array([7, 8, 9], dtype=np.int64), [100, 70, 10]).astype(object)
    groups[:5] = None
    report = subgroup_metrics(y, s, groups, metric="roc_auc", n_resamples=50, attribute="site")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["attribute"] == "site" and data["metric"] == "roc_auc"
    assert data["threshold"] is None
    assert [d["group"] for d in data["groups"]] == [7, 8, 9, None]
    assert [d["label"] for d in data["groups"]] == ["7", "8", "9", "missing"]
    assert data["groups"][2]["result"]["value"] is None
    assert data["groups"][2]["result"]["reason"] == "10 cases < min_group_size 20"
    assert data["max_minus_min"]["ci_low"] is not None
    assert data["worst_group"] in (7, 8)


def test_results_are_frozen() -> None:
    y, s, g, _ = _fixed_problem()
    report = subgroup_metrics(y, s, g, metric="npv", n_resamples=20)
    assert isinstance(report.groups[0], GroupResult) and isinstance(report, SubgroupReport)
    with pytest.raises(AttributeError):
        report.metric = "ppv"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        report.groups[0].n = 3  # type: ignore[misc]


# --- Validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "suggestion"),
    [
        ("tpr", "did you mean 'sensitivity' or 'fpr'?"),
        ("roc_acu", "did you mean 'roc_auc'?"),
        ("AUC", "did you mean 'roc_auc'?"),
        ("precision", "did you mean 'ppv'?"),
        ("false_positive_rate", "did you mean 'fpr'?"),
        ("selection-rate", "did you mean 'selection_rate'?"),
    ],
)
def test_unknown_metric_suggests_the_closest_name(metric: str, suggestion: str) -> None:
    y, s, g, _ = _fixed_problem()
    with pytest.raises(ValueError, match="unknown metric") as info:
        subgroup_metrics(y, s, g, metric=metric)
    assert suggestion in str(info.value)
    assert "Valid names: brier_score, fpr, npv, ppv" in str(info.value)


def test_unknown_metric_without_a_close_name() -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'xyz' for subgroup_metrics; Valid"):
        subgroup_metrics([0, 1], [0.1, 0.9], ["a", "b"], metric="xyz")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": ["a"] * 9}, r"len\(y_true\)=10 and len\(groups\)=9"),
        ({"y_score": [0.5] * 11}, r"len\(y_true\)=10 and len\(y_score\)=11"),
        ({"patient_groups": list(range(12))}, r"len\(y_true\)=10 and len\(patient_groups\)=12"),
        ({"groups": [["a"]] * 10}, r"groups must be 1-D .* shape \(10, 1\)"),
        ({"groups": ["a"] * 5 + [1] * 5}, "groups must hold labels of one type"),
        ({"groups": [(1,), (2, 3)] * 5}, "groups must hold one label per case"),
        ({"groups": [1.0] * 9 + [np.inf]}, "groups must hold finite labels"),
        ({"patient_groups": [1] * 9 + [None]}, "patient_groups has 1 missing values"),
        ({"metric": "brier_score", "y_score": [1.5] * 10}, "must be probabilities in"),
        ({"min_group_size": 0}, "min_group_size must be an integer >= 1"),
        ({"threshold": float("nan")}, "threshold must be a finite number"),
        ({"alpha": 1.5}, r"alpha must be a number in \(0, 1\)"),
        ({"n_resamples": 0}, "n_resamples must be an integer >= 1"),
        ({"random_state": -1}, "random_state must be >= 0"),
        ({"attribute": 3}, "attribute must be a str"),
        ({"y_true": [0, 1, 2] + [0] * 7}, "y_true must contain only 0 and 1"),
    ],
)
def test_invalid_input_names_the_argument(kwargs: dict, message: str) -> None:
    arguments = {
        "y_true": [0, 1] * 5,
        "y_score": [0.2, 0.8] * 5,
        "groups": ["a", "b"] * 5,
        "metric": "sensitivity",
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        subgroup_metrics(
            arguments.pop("y_true"), arguments.pop("y_score"), arguments.pop("groups"), **arguments
        )


def test_scores_need_not_be_probabilities_except_for_brier() -> None:
    y, s, g, _ = _fixed_problem()
    logits = 8 * s - 4
    report = subgroup_metrics(y, logits, g, metric="roc_auc", n_resamples=20)
    assert report.overall.value == pytest.approx(roc_auc_score(y, s), abs=1e-12)


# --- The bootstrap -----------------------------------------------------------------------------------


def reference_gaps(
    metric: str,
    y: np.ndarray,
    s: np.ndarray,
    g: np.ndarray,
    *,
    n_resamples: int,
    random_state: int,
    patients: np.ndarray | None = None,
    threshold: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-resample gaps by a plain loop over resamples with scikit-learn's sample_weight."""
    weights = BootstrapSpec(n_resamples=n_resamples, random_state=random_state).weights(
        len(y), strata=class_strata(y, groups=patients), groups=patients
    )
    function, uses_scores = REFERENCE[metric]
    pred = s if uses_scores else (s >= threshold).astype(int)
    higher = HIGHER_IS_BETTER[metric]
    labels = sorted(set(g.tolist()))
    spreads, shortfalls = [], []
    for w in weights:

        def value(mask: np.ndarray, w: np.ndarray = w) -> float:
            yy, pp, ww = y[mask], pred[mask], w[mask]
            needs_both = metric == "roc_auc"
            if (metric == "sensitivity" or needs_both) and ww[yy == 1].sum() == 0:
                return math.nan
            if needs_both and ww[yy == 0].sum() == 0:
                return math.nan
            return quiet(lambda: function(yy, pp, sample_weight=ww))

        values = np.array([value(g == label) for label in labels])
        overall = value(np.ones(len(y), dtype=bool))
        spreads.append(values.max() - values.min())
        deviation = values - overall
        shortfalls.append((-deviation if higher else deviation).max())
    return np.array(spreads), np.array(shortfalls)


@pytest.mark.parametrize("metric", ["roc_auc", "sensitivity", "brier_score"])
def test_gap_intervals_equal_a_loop_over_the_same_resamples(metric: str) -> None:
    y, s, g, _ = _fixed_problem()
    report = subgroup_metrics(y, s, g, metric=metric, n_resamples=100, random_state=3)
    spreads, shortfalls = reference_gaps(metric, y, s, g, n_resamples=100, random_state=3)
    for result, estimates in (
        (report.max_minus_min, spreads),
        (report.worst_vs_overall, shortfalls),
    ):
        low, high = percentile_interval(estimates, 0.05)
        assert result.ci_low == pytest.approx(low, abs=1e-12)
        assert result.ci_high == pytest.approx(high, abs=1e-12)
        assert "0 of 100 resamples undefined" in result.method


def test_cluster_bootstrap_over_patients() -> None:
    y, s, g, _ = _fixed_problem()
    # Two cases per patient, within a group; labels may differ within a patient.
    patients = np.arange(len(y)) // 2
    report = subgroup_metrics(
        y, s, g, metric="roc_auc", n_resamples=100, random_state=4, patient_groups=patients
    )
    spreads, _ = reference_gaps(
        "roc_auc", y, s, g, n_resamples=100, random_state=4, patients=patients
    )
    assert report.max_minus_min.ci_low == pytest.approx(
        percentile_interval(spreads, 0.05)[0], abs=1e-12
    )
    assert "cluster bootstrap shared by all groups (90 patients" in report.max_minus_min.method
    # Singleton patients are case resampling: the same intervals as without patient_groups.
    plain = subgroup_metrics(y, s, g, metric="roc_auc", n_resamples=200, random_state=4)
    singletons = subgroup_metrics(
        y, s, g, metric="roc_auc", n_resamples=200, random_state=4, patient_groups=range(180)
    )
    assert (plain.max_minus_min.ci_low, plain.max_minus_min.ci_high) == (
        singletons.max_minus_min.ci_low,
        singletons.max_minus_min.ci_high,
    )


def test_gap_interval_contains_the_point_and_is_reproducible() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    g = rng.choice(["F", "M"], size=n)
    y = rng.random(n) < 0.4
    separation = np.where(g == "F", 2.0, 0.8)  # AUC about 0.92 vs 0.71
    s = rng.normal(size=n) + separation * y
    report = subgroup_metrics(y, s, g, metric="roc_auc", random_state=9)
    gap = report.max_minus_min
    assert gap.ci_low < gap.value < gap.ci_high
    assert gap.ci_low > 0.1  # a clear disparity
    assert report.worst_group == "M"
    shortfall = report.worst_vs_overall
    assert shortfall.ci_low < shortfall.value < shortfall.ci_high

    again = subgroup_metrics(y, s, g, metric="roc_auc", random_state=9)
    assert again == report
    other = subgroup_metrics(y, s, g, metric="roc_auc", random_state=10)
    assert other.max_minus_min.value == gap.value
    assert other.max_minus_min.ci_low != gap.ci_low


def test_resamples_with_an_undefined_group_are_counted_and_ignored() -> None:
    # Group "rare" has 2 positives among 30 cases: label-stratified resamples sometimes
    # draw none of them, and its sensitivity is then undefined.
    g = np.repeat(["common", "rare"], [100, 30])
    y = np.zeros(130, dtype=int)
    y[:50] = 1
    y[100:102] = 1
    s = np.where(y == 1, 0.8, 0.2)
    s[:10] = 0.3  # some misses in "common"
    report = subgroup_metrics(y, s, g, metric="sensitivity", n_resamples=200, random_state=1)

    weights = BootstrapSpec(n_resamples=200, random_state=1).weights(130, strata=y)
    expected = int(np.count_nonzero(weights[:, 100:102].sum(axis=1) == 0))
    assert expected > 0
    method = report.max_minus_min.method
    assert f"{expected} of 200 resamples undefined and ignored" in method
    assert f"resamples undefined per group: rare: {expected})" in method
    spreads, _ = reference_gaps("sensitivity", y, s, g, n_resamples=200, random_state=1)
    assert np.isnan(spreads).sum() == expected
    assert report.max_minus_min.ci_high == pytest.approx(
        percentile_interval(spreads, 0.05)[1], abs=1e-12
    )


def test_selection_rate_worst_vs_overall_is_the_largest_absolute_deviation() -> None:
    y, s, g, _ = _fixed_problem()
    report = subgroup_metrics(y, s, g, metric="selection_rate", n_resamples=50)
    rates = {r.group: r.result.value for r in report.groups}
    deviations = {k: abs(v - report.overall.value) for k, v in rates.items()}
    assert report.worst_vs_overall.value == pytest.approx(max(deviations.values()), abs=1e-15)
    assert report.worst_group == max(deviations, key=deviations.get)
    assert "no direction" in report.overall.method


def test_calls_are_silent_and_results_valid() -> None:
    y, s, g, _ = _fixed_problem()
    for metric in SUBGROUP_METRICS:
        report = subgroup_metrics(y, s, g, metric=metric, n_resamples=30)
        for result in (report.overall, *report.gaps, *(r.result for r in report.groups)):
            assert isinstance(result, MetricResult)


@pytest.mark.slow
def test_runtime_auc_gap_1000_resamples_n10000_4_groups() -> None:
    rng = np.random.default_rng(0)
    n = 10_000
    g = rng.choice(["a", "b", "c", "d"], size=n, p=[0.4, 0.3, 0.2, 0.1])
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    subgroup_metrics(y, s, g, metric="roc_auc", n_resamples=20)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subgroup_metrics(y, s, g, metric="roc_auc", n_resamples=1000)
        times.append(time.perf_counter() - start)
    print(f"subgroup roc_auc gap, n=10000, 4 groups, 1000 resamples: {min(times):.3f} s")
    assert min(times) < 2.0


# Of seeds 0-299 of these alike groups, 14 give a percentile interval of the max-min AUC
# gap that lies entirely above the estimate; these are five of them.
PERCENTILE_ABOVE_ESTIMATE = (16, 19, 74, 109, 240)


@pytest.mark.parametrize("seed", PERCENTILE_ABOVE_ESTIMATE)
def test_a_gap_interval_that_misses_its_estimate_says_it_is_unreliable(seed: int) -> None:
    """Four equal groups from one distribution (true gap 0): the observed gap is positive by
    noise alone, the resampled gaps sit above it, and the interval excludes the estimate.
    The result says so instead of passing for a 95% range."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(4), 100)
    labels = np.tile(np.arange(100) % 2 == 0, 4)
    scores = rng.normal(size=400) + labels
    gap = subgroup_metrics(labels, scores, groups, metric="roc_auc").max_minus_min
    assert gap.ci_low > gap.value
    assert "the estimate lies outside this interval" in gap.method
    assert "unreliable" in gap.method


def test_a_gap_interval_around_its_estimate_carries_no_warning() -> None:
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(2), 300)
    labels = np.tile(np.arange(300) % 2 == 0, 2)
    scores = rng.normal(size=600) + labels * np.where(groups == 0, 0.5, 2.0)
    gap = subgroup_metrics(labels, scores, groups, metric="roc_auc").max_minus_min
    assert gap.ci_low <= gap.value <= gap.ci_high
    assert "outside this interval" not in gap.method
