"""Vectorised bootstrap: resample weights, percentile intervals and the shared options.

A bootstrap resample is represented by *how many times* each case is drawn, not by the
drawn indices. ``resample_weights(n, n_resamples=B)`` returns a ``(B, n)`` integer matrix
``W`` with ``W[b, i]`` = the number of copies of case ``i`` in resample ``b`` (each row
sums to ``n`` for a plain or stratified bootstrap). Any metric that is a ratio of
weighted sums then has a *weighted batch kernel* computing all ``B`` resampled values in
a few array passes, with no Python loop over resamples; the kernels are in
:mod:`grader.metrics._bootstrap_kernels`, and this module draws the weights they apply.

The pattern callers share (``roc_auc``, the fairness gaps and the segmentation
metrics)::

    spec = BootstrapSpec(n_resamples=n_resamples, random_state=random_state)  # validates
    estimates = np.concatenate([
        weighted_roc_auc(labels, scores, w)
        for w in spec.weight_batches(n, strata=class_strata(labels))
    ])
    low, high = percentile_interval(estimates, alpha)
    method = spec.describe(alpha=alpha, design="...", n_undefined=np.isnan(estimates).sum())

:meth:`BootstrapSpec.weight_batches` yields the rows of :func:`resample_weights` in
batches of about ``2**23`` cells, so that memory stays bounded for large ``n``; the rows
are identical to those of one :func:`resample_weights` call with the same arguments.

Reproducibility: an integer ``random_state`` (default 0) gives the same resamples on every
call; a :class:`numpy.random.Generator` is used as is and advanced; None draws fresh OS
entropy (not reproducible). The resamples for a given seed may change between medgrade
versions, never within one.

References
----------
.. [1] Efron B, Tibshirani RJ. *An Introduction to the Bootstrap.* Chapman & Hall, 1993
   (percentile interval: ch. 13; stratified bootstrap: sec. 8.2).
.. [2] Davison AC, Hinkley DV. *Bootstrap Methods and their Application.* Cambridge
   University Press, 1997 (stratified resampling: sec. 3.2; clustered data: sec. 3.8).
.. [3] Field CA, Welsh AH. "Bootstrapping clustered data." J R Stat Soc B 69(3):369-390,
   2007.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._validation import (
    check_alpha,
    check_binary_labels,
    check_positive_int,
    percent,
)

RandomState: TypeAlias = int | np.random.Generator | None

# Rows per batch are chosen so that one batch holds about this many (resample, case)
# cells: 8 Mi cells is 32 MiB of int32 weights and ~200 MiB of temporaries at peak.
_MAX_CELLS_PER_BATCH = 2**23


# --- Validation --------------------------------------------------------------------------


def _show(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def check_random_state(random_state: RandomState) -> RandomState:
    """Validate a seed: a non-negative integer, a ``numpy.random.Generator`` or None."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0; got {_show(random_state)}")
        return int(random_state)
    raise ValueError(
        f"random_state must be a non-negative integer seed, a numpy.random.Generator or None; "
        f"got {_show(random_state)} (for a legacy RandomState pass np.random.default_rng(seed))"
    )


def _codes(values: ArrayLike, name: str, n: int) -> tuple[NDArray[np.intp], np.ndarray]:
    """Integer codes 0..k-1 of a 1-D label array (strata or group ids) and the k labels."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as a 1-D array: {exc}") from exc
    if array.ndim != 1 or array.shape[0] != n:
        raise ValueError(
            f"{name} must be 1-D with one entry per case ({n}); got shape {array.shape}"
        )
    if array.dtype.kind == "f" and np.isnan(array).any():
        raise ValueError(
            f"{name} contains {int(np.isnan(array).sum())} NaN values; every case needs a "
            f"{name} label"
        )
    try:
        uniques, codes = np.unique(array, return_inverse=True)
    except TypeError as exc:  # object arrays mixing e.g. str and int cannot be sorted
        raise ValueError(
            f"{name} must hold comparable labels of one type (all int or all str); {exc}"
        ) from exc
    return codes.astype(np.intp, copy=False), uniques


def check_weights(weights: ArrayLike, n: int) -> NDArray[np.generic]:
    """Validate a ``(B, n)`` matrix of non-negative finite case weights and return it.

    Integer weights are returned unchanged (no copy); other real weights as float64.
    """
    array = np.asarray(weights)
    if array.ndim != 2 or array.shape[1] != n:
        hint = " (for one set of weights pass weights[None, :])" if array.ndim == 1 else ""
        raise ValueError(
            f"weights must have shape (n_resamples, n_cases) = (B, {n}); got shape "
            f"{array.shape}{hint}"
        )
    if array.dtype.kind == "b":
        return array.astype(np.int32)
    if array.dtype.kind not in "iuf":
        raise ValueError(f"weights must be real numbers; got dtype {array.dtype}")
    if array.dtype.kind == "f":
        array = array.astype(np.float64, copy=False)
        if not np.isfinite(array).all():
            raise ValueError("weights contain NaN or inf; weights must be finite")
    if array.size and array.min() < 0:
        raise ValueError(f"weights must be >= 0; got minimum {_show(array.min())}")
    return array


# --- Drawing resamples -------------------------------------------------------------------


def _rows_per_batch(n: int) -> int:
    return max(1, _MAX_CELLS_PER_BATCH // n)


def _draw_counts(
    rng: np.random.Generator, rows: int, n_units: int, members: list[NDArray[np.intp]] | None
) -> NDArray[np.int32]:
    """``(rows, n_units)`` bootstrap counts; each stratum's units are redrawn ``len`` times.

    ``members`` lists the unit indices of each stratum (None: a single stratum of all units).
    Draws are turned into counts by one ``bincount`` over ``row * n_units + unit``.
    """
    offsets = np.arange(rows, dtype=np.intp)[:, None] * n_units
    if members is None:
        flat = rng.integers(0, n_units, size=(rows, n_units), dtype=np.intp)
        flat += offsets
    else:
        # Each stratum fills its own block of columns, so one bincount serves all strata.
        flat = np.empty((rows, n_units), dtype=np.intp)
        start = 0
        for units in members:
            size = units.shape[0]
            draws = rng.integers(0, size, size=(rows, size), dtype=np.intp)
            np.add(units[draws], offsets, out=flat[:, start : start + size])
            start += size
    counts = np.bincount(flat.ravel(), minlength=rows * n_units)
    return counts.reshape(rows, n_units).astype(np.int32)


@dataclass(frozen=True, slots=True)
class _Design:
    """Validated resampling design shared by all batches of one bootstrap."""

    n: int
    n_units: int
    members: list[NDArray[np.intp]] | None  # units of each stratum, None for one stratum
    unit_of_case: NDArray[np.intp] | None  # group index of each case, None without groups


def _design(n: int, strata: ArrayLike | None, groups: ArrayLike | None) -> _Design:
    n = check_positive_int(n, "n")
    stratum_codes = None if strata is None else _codes(strata, "strata", n)[0]
    if groups is None:
        if stratum_codes is None:
            return _Design(n, n, None, None)
        order = np.argsort(stratum_codes, kind="stable")
        splits = np.flatnonzero(np.diff(stratum_codes[order])) + 1
        return _Design(n, n, np.split(order, splits), None)

    group_codes, group_ids = _codes(groups, "groups", n)
    n_groups = group_ids.shape[0]
    if stratum_codes is None:
        return _Design(n, n_groups, None, group_codes)
    # A group must sit in one stratum: its cases are drawn together, so it cannot also keep
    # the sizes of two strata. Callers whose groups mix strata (a patient with positive and
    # negative lesions) stratify on a group-level property instead, see class_strata.
    stratum_of_group = np.empty(n_groups, dtype=np.intp)
    stratum_of_group[group_codes] = stratum_codes
    mixed = np.flatnonzero(stratum_of_group[group_codes] != stratum_codes)
    if mixed.size:
        bad = np.unique(group_codes[mixed])
        shown = ", ".join(_show(g) for g in group_ids[bad[:5]])
        raise ValueError(
            f"{bad.size} groups span more than one stratum (e.g. {shown}); a cluster "
            f"bootstrap draws whole groups, so each group must lie in one stratum. "
            f"Stratify on a group-level property (for labels: class_strata(y_true, "
            f"groups=groups)) or drop strata"
        )
    order = np.argsort(stratum_of_group, kind="stable")
    splits = np.flatnonzero(np.diff(stratum_of_group[order])) + 1
    return _Design(n, n_groups, np.split(order, splits), group_codes)


def _weight_batches(
    design: _Design, n_resamples: int, random_state: RandomState
) -> Iterator[NDArray[np.int32]]:
    rng = np.random.default_rng(random_state)
    step = _rows_per_batch(design.n)
    for start in range(0, n_resamples, step):
        rows = min(step, n_resamples - start)
        counts = _draw_counts(rng, rows, design.n_units, design.members)
        # Every case of a drawn group gets its group's count.
        yield counts if design.unit_of_case is None else counts[:, design.unit_of_case]


def resample_weights(
    n: int,
    *,
    n_resamples: int = 1000,
    random_state: RandomState = 0,
    strata: ArrayLike | None = None,
    groups: ArrayLike | None = None,
) -> NDArray[np.int32]:
    """Bootstrap resamples of ``n`` cases as a ``(n_resamples, n)`` matrix of draw counts.

    ``W[b, i]`` is how many times case ``i`` is drawn in resample ``b``.

    - Plain (no ``strata``, no ``groups``): ``n`` cases drawn with replacement; each row
      is ``Multinomial(n, 1/n, ..., 1/n)`` and sums to ``n``.
    - ``strata`` (e.g. the labels): within each stratum of size ``n_s``, ``n_s`` cases are
      drawn with replacement from that stratum, so every resample keeps the stratum sizes
      (a stratified bootstrap). Resampling within classes keeps the prevalence fixed and
      guarantees both classes in every resample.
    - ``groups`` (e.g. patient ids): a cluster bootstrap. With ``G`` distinct groups,
      ``G`` groups are drawn with replacement and every case of a group drawn ``k`` times
      gets weight ``k``, so the dependence between cases of one group is kept. Rows sum to
      ``n`` only on average.
    - ``strata`` and ``groups``: groups are drawn within strata, keeping the number of
      *groups* per stratum. Every group must lie in a single stratum; a group whose cases
      fall in different strata raises ValueError (see :func:`class_strata` for a
      group-level stratification by label).

    Parameters
    ----------
    n : int
        Number of cases, >= 1.
    n_resamples : int, default=1000
        Number of bootstrap resamples ``B``.
    random_state : int, numpy.random.Generator or None, default=0
        Seed or generator; an integer gives the same resamples on every call.
    strata, groups : array-like of shape (n,), optional
        Stratum and group label of each case (any sortable values: int, str, bool).

    Returns
    -------
    ndarray of int32, shape (n_resamples, n)

    Raises
    ------
    ValueError
        If ``n`` or ``n_resamples`` is not a positive integer, ``random_state`` is of the
        wrong type, ``strata``/``groups`` do not have one entry per case or contain NaN,
        or a group spans several strata.

    Notes
    -----
    Draws are vectorised (one ``rng.integers`` call per stratum and one ``np.bincount`` over
    ``row * n + case``); time and memory are O(n_resamples * n).

    Examples
    --------
    >>> w = resample_weights(5, n_resamples=3, random_state=1)
    >>> w.shape, w.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    >>> labels = [0, 0, 0, 1, 1]
    >>> w = resample_weights(5, n_resamples=100, strata=labels)
    >>> set(w[:, 3:].sum(axis=1).tolist())  # two positives in every resample
    {2}
    >>> w = resample_weights(4, n_resamples=2, groups=["a", "a", "b", "c"], random_state=3)
    >>> bool(np.all(w[:, 0] == w[:, 1]))  # the two cases of patient "a" move together
    True
    """
    design = _design(n, strata, groups)
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    random_state = check_random_state(random_state)
    return np.concatenate(list(_weight_batches(design, n_resamples, random_state)))


def class_strata(y_true: ArrayLike, *, groups: ArrayLike | None = None) -> NDArray[np.int8]:
    """Per-case strata that make a (cluster) bootstrap keep both classes.

    Without ``groups`` the stratum is the label itself (0 or 1): resampling within it keeps
    the number of positives and negatives. With ``groups`` a case's stratum is the label
    composition of its group -- 0 for groups with only negative cases, 1 only positive,
    2 both -- the finest label stratification a cluster bootstrap can respect when a group
    may hold both classes. Drawing groups within these strata keeps the number of groups
    of each composition; the number of positive *cases* still varies, but every resample
    contains a positive and a negative case whenever the data do.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 1 for positive cases.
    groups : array-like of shape (n,), optional
        Group (e.g. patient) id of each case.

    Returns
    -------
    ndarray of int8, shape (n,)

    Examples
    --------
    >>> class_strata([0, 1, 1, 0]).tolist()
    [0, 1, 1, 0]
    >>> class_strata([0, 1, 1, 0], groups=["p1", "p1", "p2", "p3"]).tolist()
    [2, 2, 1, 0]
    """
    labels = check_binary_labels(y_true)
    if groups is None:
        return labels.astype(np.int8)
    group_codes, group_ids = _codes(groups, "groups", labels.shape[0])
    n_groups = group_ids.shape[0]
    has_pos = np.bincount(group_codes, weights=labels, minlength=n_groups) > 0
    has_neg = np.bincount(group_codes, weights=~labels, minlength=n_groups) > 0
    composition = np.where(has_pos & has_neg, 2, has_pos.astype(np.int8)).astype(np.int8)
    return composition[group_codes]


# --- Intervals and the shared options ----------------------------------------------------


def percentile_interval(estimates: NDArray[np.floating], alpha: float) -> tuple[float, float]:
    """Bootstrap percentile interval: the ``alpha/2`` and ``1 - alpha/2`` quantiles.

    NaN estimates (resamples on which the metric is undefined) are ignored; callers report
    how many there were. Quantiles interpolate linearly between order statistics (numpy's
    default, type 7 of Hyndman & Fan 1996).

    Parameters
    ----------
    estimates : ndarray of shape (B,)
        The metric on each resample.
    alpha : float
        The interval is a ``1 - alpha`` interval.

    Returns
    -------
    (low, high) : tuple of float
        ``(nan, nan)`` when every estimate is NaN.

    Examples
    --------
    >>> percentile_interval(np.r_[np.arange(101.0), np.nan], 0.1)
    (5.0, 95.0)
    """
    alpha = check_alpha(alpha)
    values = np.asarray(estimates, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(values, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


@dataclass(frozen=True, slots=True)
class BootstrapSpec:
    """The bootstrap options every metric with a bootstrap interval accepts, validated.

    Metrics take ``n_resamples`` and ``random_state`` as keyword-only options with these
    defaults and build a ``BootstrapSpec`` from them, so that validation, batching and the
    wording of ``MetricResult.method`` are the same everywhere.

    Attributes
    ----------
    n_resamples : int, default=1000
        Number of bootstrap resamples.
    random_state : int, numpy.random.Generator or None, default=0
        Seed (reproducible), generator (used and advanced) or None (fresh entropy).

    Raises
    ------
    ValueError
        If ``n_resamples`` is not an integer >= 1 or ``random_state`` has the wrong type.

    Examples
    --------
    >>> spec = BootstrapSpec(n_resamples=200)
    >>> spec.weights(4).shape
    (200, 4)
    >>> spec.describe(alpha=0.05, design="plain bootstrap", n_undefined=0)
    'plain bootstrap, 200 resamples (random_state=0), 95% percentile interval; 0 of 200 resamples undefined'
    """

    n_resamples: int = 1000
    random_state: RandomState = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_resamples", check_positive_int(self.n_resamples, "n_resamples"))
        object.__setattr__(self, "random_state", check_random_state(self.random_state))

    def weights(
        self, n: int, *, strata: ArrayLike | None = None, groups: ArrayLike | None = None
    ) -> NDArray[np.int32]:
        """All resample weights at once: :func:`resample_weights` with this spec."""
        return resample_weights(
            n,
            n_resamples=self.n_resamples,
            random_state=self.random_state,
            strata=strata,
            groups=groups,
        )

    def weight_batches(
        self, n: int, *, strata: ArrayLike | None = None, groups: ArrayLike | None = None
    ) -> Iterator[NDArray[np.int32]]:
        """The rows of :meth:`weights` in consecutive batches of at most ~2**23 cells.

        Stacked, the batches equal ``self.weights(n, ...)`` exactly; iterating keeps memory
        bounded when ``n_resamples * n`` is large.
        """
        design = _design(n, strata, groups)
        return _weight_batches(design, self.n_resamples, self.random_state)

    def describe(self, *, alpha: float, design: str, n_undefined: int) -> str:
        """Method text: design, number of resamples, seed, level and undefined resamples."""
        if self.random_state is None:
            seed = "unseeded, not reproducible"
        elif isinstance(self.random_state, np.random.Generator):
            seed = "random_state=caller's Generator"
        else:
            seed = f"random_state={self.random_state}"
        return (
            f"{design}, {self.n_resamples} resamples ({seed}), {percent(alpha)} percentile "
            f"interval; {int(n_undefined)} of {self.n_resamples} resamples undefined"
            + (" and ignored" if n_undefined else "")
        )
