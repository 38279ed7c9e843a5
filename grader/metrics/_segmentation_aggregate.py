"""Aggregation of per-case segmentation values over cases: the mean over the defined
cases with a percentile bootstrap interval in which the cases of one patient (``groups``)
are resampled together.

NaN values (relative volume error with an empty reference) are left out of the mean and
counted. One set of resamples serves every column of a whole evaluation, so intervals of
different metrics come from the same resampled cohorts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._bootstrap import percentile_interval, resample_weights
from grader.metrics._result import MetricResult
from grader.metrics._segmentation_checks import _check_case_values
from grader.metrics._validation import check_alpha, check_positive_int, percent


def _aggregate_columns(
    values: NDArray[np.float64],
    *,
    names: Sequence[str],
    higher_is_better: Sequence[bool],
    definitions: Sequence[str],
    groups: ArrayLike | None,
    alpha: float,
    n_resamples: int,
    random_state: int | np.random.Generator | None,
) -> list[MetricResult]:
    """Mean over cases of each column of ``values`` (n_cases, m) with a bootstrap CI.

    One set of resamples serves every column, so intervals of different metrics come from
    the same resampled cohorts; all columns are resampled in one matrix product.
    """
    n_cases = values.shape[0]
    defined = ~np.isnan(values)
    weights = resample_weights(
        n_cases, n_resamples=n_resamples, random_state=random_state, groups=groups
    ).astype(np.float64)
    # Weighted mean over the defined cases of each resample: sum(w x) / sum(w), NaN cases
    # weighing nothing.
    sums = weights @ np.where(defined, values, 0.0)
    counts = weights @ defined.astype(np.float64)
    estimates = np.full(sums.shape, np.nan)
    np.divide(sums, counts, out=estimates, where=counts > 0)

    if groups is None:
        design = "case-level percentile bootstrap"
        group_codes = np.arange(n_cases)
    else:
        group_codes = np.unique(np.asarray(groups), return_inverse=True)[1].ravel()
        design = (
            f"patient-level percentile bootstrap ({np.unique(group_codes).size} groups "
            f"resampled whole)"
        )
    seed = (
        "unseeded"
        if random_state is None
        else "caller's Generator"
        if isinstance(random_state, np.random.Generator)
        else f"random_state={random_state}"
    )

    results = []
    for column, name in enumerate(names):
        mask = defined[:, column]
        n_defined = int(np.count_nonzero(mask))
        n_undefined = n_cases - n_defined
        method = f"{definitions[column]}; mean over {n_defined} of {n_cases} cases"
        if n_undefined:
            method += f" ({n_undefined} undefined, left out)"
        if n_defined == 0:
            results.append(
                MetricResult(
                    name=name,
                    value=math.nan,
                    ci_low=None,
                    ci_high=None,
                    higher_is_better=higher_is_better[column],
                    method=method,
                    n=0,
                    alpha=alpha,
                    reason=f"all {n_cases} per-case values are undefined (NaN)",
                )
            )
            continue
        mean = float(np.mean(values[mask, column]))
        ci_low: float | None = None
        ci_high: float | None = None
        if np.unique(group_codes[mask]).size < 2:
            unit = "cases" if groups is None else "groups"
            method += f"; no CI: the bootstrap needs defined values in at least 2 {unit}"
        else:
            column_estimates = estimates[:, column]
            ci_low, ci_high = percentile_interval(column_estimates, alpha)
            n_nan = int(np.count_nonzero(np.isnan(column_estimates)))
            method += f"; {percent(alpha)} {design}, {n_resamples} resamples ({seed})" + (
                f", {n_nan} resamples without a defined case ignored" if n_nan else ""
            )
        results.append(
            MetricResult(
                name=name,
                value=mean,
                ci_low=ci_low,
                ci_high=ci_high,
                higher_is_better=higher_is_better[column],
                method=method,
                n=n_defined,
                alpha=alpha,
            )
        )
    return results


def aggregate_cases(
    per_case_values: ArrayLike,
    *,
    name: str,
    higher_is_better: bool,
    groups: ArrayLike | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: int | np.random.Generator | None = 0,
) -> MetricResult:
    r"""Mean of per-case values with a patient-level percentile bootstrap interval.

    The value is the mean over cases whose value is defined (not NaN). The interval is
    the ``alpha/2`` and ``1 - alpha/2`` quantiles of that mean over ``n_resamples``
    bootstrap resamples (Efron & Tibshirani 1993, ch. 13). With ``groups`` (patient ids)
    a resample draws patients with replacement and keeps all cases of a drawn patient, so
    the interval reflects that cases of one patient are not independent.

    Parameters
    ----------
    per_case_values : array-like of float, shape (n,)
        One value per case; NaN marks an undefined case, which is left out of the mean and
        of every resample (it is counted in ``method``).
    name : str
        ``MetricResult.name``, e.g. ``"dice"``.
    higher_is_better : bool
        Direction of the metric.
    groups : array-like of shape (n,), optional
        Patient (or other cluster) id of each case.
    alpha : float, default=0.05
        The interval is a ``1 - alpha`` interval.
    n_resamples : int, default=1000
        Number of bootstrap resamples.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the resampling; an integer gives the same interval on every call.

    Returns
    -------
    MetricResult
        ``n`` is the number of defined cases. NaN with a reason when every value is NaN;
        no interval when the defined values come from fewer than 2 cases (groups).

    Raises
    ------
    ValueError
        If the values are not a non-empty 1-D array of real numbers, contain infinities,
        or ``groups``, ``alpha``, ``n_resamples`` or ``random_state`` are invalid.

    Examples
    --------
    >>> r = aggregate_cases([0.9, 0.8, 0.7, 0.95], name="dice", higher_is_better=True,
    ...                     groups=["p1", "p1", "p2", "p3"], n_resamples=200)
    >>> round(r.value, 4), r.n, r.ci_low <= r.value <= r.ci_high
    (0.8375, 4, True)
    """
    try:
        values = np.asarray(per_case_values, dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"per_case_values must be real numbers: {exc}") from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"per_case_values must be a non-empty 1-D array, one value per case; got shape "
            f"{values.shape}"
        )
    _check_case_values(values, "per_case_values")
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string; got {name!r}")
    if not isinstance(higher_is_better, (bool, np.bool_)):
        raise ValueError(f"higher_is_better must be True or False; got {higher_is_better!r}")
    alpha = check_alpha(alpha)
    n_resamples = check_positive_int(n_resamples, "n_resamples")
    return _aggregate_columns(
        values[:, None],
        names=[name],
        higher_is_better=[bool(higher_is_better)],
        definitions=[f"{name} per case"],
        groups=groups,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
    )[0]
