"""What a report on a hidden-label split may show, and how much it can tell of the labels.

The student controls the predictions, so any view that aggregates cases by their scores
is an aggregation the student chose; two different aggregations of one ranking (ROC steps
here, calibration bins there) can be differenced down to single cases.  So on a hidden
split every view is drawn from **one common grouping** (:func:`score_groups`): the cases
ranked by score, cut into at most :data:`MAX_GROUPS` groups of at least
:data:`MIN_CASES` cases (ties never split, the task's threshold a boundary where both
sides can be groups), and each view shows only how many of a group's cases are positive.
The summary numbers are rounded to :data:`DECIMALS` decimals.

What the report can still tell is counted in bits (:class:`Disclosure`): a group of ``n``
cases reveals one of ``n + 1`` counts, at most ``log2(n + 1)`` bits; a number shown to
``d`` decimals in ``[0, 1]`` one of ``10**d + 1`` values; an automatic mark one of
``100 * points + 1`` values (marks are rounded to 0.01), at most ``log2`` of that.  A
report of ``B`` bits can be built to determine at most ``B`` chosen labels, whatever the
labels are: ``k`` labels with certainty need ``2**k`` distinguishable reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

#: Every group of the hidden split's views holds at least this many cases.
MIN_CASES = 10
#: And there are at most this many groups.
MAX_GROUPS = 10
#: Decimals of every number shown for a hidden split.
DECIMALS = 2


@dataclass(frozen=True)
class ScoreGroups:
    """Cases grouped by their score, highest scores first.

    ``lower[i]`` is the lowest score in group ``i``; ``threshold_is_boundary`` says whether
    no group mixes cases on both sides of the task's threshold.
    """

    n_cases: tuple[int, ...]
    n_positive: tuple[int, ...]
    mean_score: tuple[float, ...]
    lower: tuple[float, ...]
    threshold_is_boundary: bool

    def roc_points(self) -> tuple[list[float], list[float]]:
        """The ROC curve through the group boundaries, from (0, 0) to (1, 1)."""
        positives = sum(self.n_positive)
        negatives = sum(self.n_cases) - positives
        fpr, tpr = [0.0], [0.0]
        true_positives = false_positives = 0
        for n, k in zip(self.n_cases, self.n_positive, strict=True):
            true_positives += k
            false_positives += n - k
            tpr.append(true_positives / positives if positives else 0.0)
            fpr.append(false_positives / negatives if negatives else 0.0)
        return fpr, tpr

    def bits(self) -> float:
        return sum(math.log2(n + 1) for n in self.n_cases)


def score_groups(
    labels: np.ndarray,
    scores: np.ndarray,
    *,
    threshold: float | None,
    min_cases: int = MIN_CASES,
    max_groups: int = MAX_GROUPS,
) -> ScoreGroups:
    """The common grouping of a hidden split's views (see the module docstring)."""
    order = np.argsort(-scores, kind="stable")
    ranked, ranked_labels = scores[order], labels[order]
    n = len(scores)
    target = max(min_cases, math.ceil(n / max_groups))
    # Where a group may end: after a case whose successor has another score (ties stay
    # together), and at the end.
    ends = [i for i in range(1, n) if ranked[i] != ranked[i - 1]] + [n]
    # The threshold's cut (cases at or above it, then those below), if both sides can hold
    # a group: then sensitivity and specificity are functions of the groups' counts.
    forced = None
    if threshold is not None:
        above = int(np.count_nonzero(ranked >= threshold))
        if min_cases <= above <= n - min_cases:
            forced = above
    cuts: list[int] = []
    start = 0
    for end in ends:
        size = end - start
        if end == n:
            cuts.append(end)
        elif end == forced:
            if size < min_cases:
                cuts[-1] = end  # the sliver joins the group before it
            else:
                cuts.append(end)
            start = end
        elif size >= target and n - end >= min_cases:
            cuts.append(end)
            start = end
    bounds = list(zip([0, *cuts[:-1]], cuts, strict=True))
    return ScoreGroups(
        n_cases=tuple(b - a for a, b in bounds),
        n_positive=tuple(int(ranked_labels[a:b].sum()) for a, b in bounds),
        mean_score=tuple(float(ranked[a:b].mean()) for a, b in bounds),
        lower=tuple(float(ranked[b - 1]) for _, b in bounds),
        threshold_is_boundary=threshold is None or forced in cuts or _one_side(ranked, threshold),
    )


def _one_side(ranked: np.ndarray, threshold: float) -> bool:
    return bool((ranked >= threshold).all() or (ranked < threshold).all())


@dataclass(frozen=True)
class Disclosure:
    """The most a hidden-split report can tell of its ``n_cases`` labels, channel by
    channel, in bits."""

    n_cases: int
    channels: tuple[tuple[str, float], ...]

    @property
    def bits(self) -> float:
        return sum(bits for _, bits in self.channels)

    @property
    def labels_at_most(self) -> int:
        return min(self.n_cases, math.floor(self.bits))

    def to_dict(self) -> dict[str, object]:
        return {
            "n_cases": self.n_cases,
            "bits": round(self.bits, 1),
            "labels_at_most": self.labels_at_most,
            "channels": [[what, round(bits, 2)] for what, bits in self.channels],
        }


def number_bits(count: int = 1) -> float:
    """Bits of ``count`` numbers in [0, 1] shown to :data:`DECIMALS` decimals."""
    return count * math.log2(10**DECIMALS + 1)


def mark_bits(points: Iterable[float]) -> float:
    """Bits of automatic marks worth ``points`` each, shown to 0.01."""
    return sum(math.log2(100 * p + 1) for p in points)


def hidden_round(value: float | None) -> float | None:
    """``value`` as a hidden-split report shows it."""
    if value is None or not math.isfinite(value):
        return value
    return round(value, DECIMALS)
