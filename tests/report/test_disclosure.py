"""Hidden-split reports cannot be differenced: every view is one grouping's counts.

The attack review built a ranking whose ROC steps, calibration bins and sensitivity were
different aggregations of the same scores, and differenced them down to 79 of 114 test
labels.  Here every drawn view of a hidden split must depend on the labels only through
how many positives each group holds: permuting labels within the groups changes nothing.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.disclosure import MIN_CASES, score_groups
from grader.evaluation import Evaluation, PreparedSplit, assess, mark
from grader.report import render_report


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.sampled_from([i / 40 for i in range(41)]), min_size=1, max_size=300),
    threshold=st.sampled_from([0.5, 0.3, 0.9]),
)
def test_groups_hold_enough_cases_and_never_split_ties(scores, threshold):
    values = np.array(scores)
    labels = (np.arange(len(values)) % 2).astype(int)
    groups = score_groups(labels, values, threshold=threshold)
    assert sum(groups.n_cases) == len(values)
    if len(values) >= MIN_CASES:
        assert min(groups.n_cases) >= MIN_CASES
    order = np.sort(values)[::-1]
    ends = np.cumsum(groups.n_cases)[:-1]
    assert all(order[end - 1] != order[end] for end in ends)  # ties stay together
    above = int((values >= threshold).sum())
    if groups.threshold_is_boundary and 0 < above < len(values):
        assert above in set(ends.tolist())


def _graded(prepared: PreparedSplit, scores: np.ndarray) -> Evaluation:
    """A run that predicted ``scores`` on ``prepared``, scored and marked as the grader would."""
    evaluation = assess(
        prepared,
        student_id="s",
        submission_path=prepared.input_dir,
        sha256=None,
        failure=None,
        predictions=scores,
        run=None,
    )
    return mark(evaluation, prepared.task.rubric)


def _charts(html: str) -> list[str]:
    return re.findall(r'<div class="charts" id="[a-z-]+">.*?</div>', html, flags=re.S)


def _within_groups_permuted(labels: np.ndarray, scores: np.ndarray, seed: int) -> np.ndarray:
    groups = score_groups(labels, scores, threshold=0.5)
    order = np.argsort(-scores, kind="stable")
    permuted = labels.copy()
    rng = np.random.default_rng(seed)
    start = 0
    for size in groups.n_cases:
        members = order[start : start + size]
        permuted[members] = rng.permutation(labels[members])
        start += size
    return permuted


def test_a_hidden_reports_views_depend_only_on_the_groups_counts(test_split: PreparedSplit):
    rng = np.random.default_rng(7)
    # An adversarial ranking: every score distinct, as the differencing attack used.
    scores = rng.permutation(np.linspace(0.01, 0.99, test_split.n_cases))
    permuted = _within_groups_permuted(test_split.labels, scores, seed=3)
    assert not np.array_equal(permuted, test_split.labels)
    pages = []
    for labels in (test_split.labels, permuted):
        prepared = dataclasses.replace(test_split, labels=labels)
        evaluation = _graded(prepared, scores)
        assert evaluation.kind_results is not None
        assert evaluation.kind_results.groups is not None
        pages.append(render_report(evaluation, prepared.task, n_cases=prepared.n_cases))
    first, second = (_charts(page) for page in pages)
    assert first and first == second
    # Sensitivity and specificity sit on a group boundary: also unchanged.
    for name in ("sensitivity", "specificity"):
        values = [
            re.search(rf'{name}.*?class="num">([0-9.]+)<', page, flags=re.S) for page in pages
        ]
        assert values[0] is not None and values[0].group(1) == values[1].group(1)


def test_a_self_check_still_draws_every_case(validation_split: PreparedSplit):
    scores = np.linspace(0.01, 0.99, validation_split.n_cases)
    evaluation = _graded(validation_split, scores)
    assert evaluation.disclosure is None
    curves = evaluation.kind_results
    assert curves.groups is None and curves.roc_band is not None


def test_the_report_states_how_many_labels_it_can_settle_at_most(test_split: PreparedSplit):
    scores = np.linspace(0.01, 0.99, test_split.n_cases)
    evaluation = _graded(test_split, scores)
    told = evaluation.disclosure
    assert told is not None and told.n_cases == test_split.n_cases
    assert 0 < told.labels_at_most < test_split.n_cases
    groups = dict(told.channels)
    assert any("groups' positive counts" in what for what in groups)
    html = render_report(evaluation, test_split.task, n_cases=test_split.n_cases)
    assert f"settle at most {told.labels_at_most} of them" in html
    # Numbers on a hidden split have two decimals, in the tables and the explanations.
    table = re.search(r'<table id="metrics">.*?</table>', html, flags=re.S).group(0)
    assert not re.search(r"\d\.\d{3}", table)
    assert all(not re.search(r"= \d\.\d{3}", mark.explanation) for mark in evaluation.marks.marks)


@pytest.mark.parametrize("n", [5, 10, 19, 114])
def test_a_small_split_is_one_or_two_groups(n):
    scores = np.linspace(0, 1, n)
    groups = score_groups((scores > 0.5).astype(int), scores, threshold=0.5)
    assert len(groups.n_cases) <= max(1, n // MIN_CASES)
