"""The groups of an attribute for subgroup metrics: reading and encoding their labels
(missing values included), and the metric in one group with the reason it is not estimable.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import TypeAlias

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._fairness_metrics import _Metric
from grader.metrics._result import MetricResult, _json_float

GroupLabel: TypeAlias = str | int | float | bool | None
"""A group of the attribute as a plain Python value; None is the group of missing values."""

MISSING_LABEL = "missing"
"""How the group of cases with a missing attribute value (label None) is shown."""


# --- Group labels ----------------------------------------------------------------------------


def _plain(value: object, name: str) -> GroupLabel:
    """A group label as a plain, JSON-safe Python scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must hold finite labels; got {value!r}")
    if isinstance(value, str | bool | int | float):
        return value
    raise ValueError(
        f"{name} must hold one label per case (str, int, float or bool); got a "
        f"{type(value).__name__} value {value!r}"
    )


def _missing_mask(array: np.ndarray) -> NDArray[np.bool_]:
    if array.dtype.kind == "f":
        return np.isnan(array)
    if array.dtype.kind != "O":
        return np.zeros(array.shape[0], dtype=bool)
    try:
        # Element-wise Python comparisons, done by numpy: x == None only for None, and
        # x != x only for NaN.
        return np.equal(array, None) | np.not_equal(array, array)
    except TypeError:
        # pandas.NA (nullable dtypes) refuses to be a bool; only then test case by case.
        return np.frompyfunc(_is_missing_scalar, 1, 1)(array).astype(bool)


def _is_missing_scalar(value: object) -> bool:
    if value is None:
        return True
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return True
    return isinstance(value, numbers.Real) and math.isnan(value)


def _read_labels(values: ArrayLike, name: str, n: int) -> np.ndarray:
    # A list mixing strings and NaN would become the string "nan" in np.asarray; an
    # object array keeps the NaN recognisable as missing.
    try:
        array = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as a 1-D array: {exc}") from exc
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D with one label per case; got an array of shape {array.shape}"
        )
    if array.shape[0] != n:
        raise ValueError(
            f"y_true and {name} must have the same length; got len(y_true)={n} and "
            f"len({name})={array.shape[0]}"
        )
    if array.dtype.kind not in "biufUSO":
        raise ValueError(
            f"{name} must hold str, int, float or bool labels; got dtype {array.dtype}"
        )
    return array


def _encode(
    array: np.ndarray, name: str, missing: NDArray[np.bool_]
) -> tuple[NDArray[np.intp], list[GroupLabel]]:
    """Codes 0..k-1 of the present labels (sorted), -1 for missing cases, and the labels."""
    codes = np.full(array.shape[0], -1, dtype=np.intp)
    present = array[~missing]
    try:
        uniques, inverse = np.unique(present, return_inverse=True)
    except TypeError as exc:  # e.g. str mixed with int: not sortable
        raise ValueError(
            f"{name} must hold labels of one type (all str or all numbers); {exc}"
        ) from exc
    codes[~missing] = inverse
    return codes, [_plain(u, name) for u in uniques.tolist()]


def _patient_codes(patient_groups: ArrayLike, n: int) -> NDArray[np.intp]:
    array = _read_labels(patient_groups, "patient_groups", n)
    missing = _missing_mask(array)
    if missing.any():
        raise ValueError(
            f"patient_groups has {int(np.count_nonzero(missing))} missing values (None/NaN); "
            f"every case needs the id of the patient it comes from"
        )
    codes, _ = _encode(array, "patient_groups", missing)
    return codes


# --- The metric in one group -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupResult:
    """The metric in one group of the attribute.

    Attributes
    ----------
    group : str, int, float, bool or None
        The group's label as given; None for the cases whose attribute is missing.
    n : int
        Number of cases in the group.
    n_positive : int
        Number of positive cases in the group.
    prevalence : float
        ``n_positive / n``.
    result : MetricResult
        The metric on the group with its own interval; NaN with a reason when the group is
        not estimable.
    estimable : bool
        Whether the group has at least ``min_group_size`` cases, the classes the metric
        needs and a defined value. Only estimable groups with a label enter the gaps.
    """

    group: GroupLabel
    n: int
    n_positive: int
    prevalence: float
    result: MetricResult
    estimable: bool

    @property
    def label(self) -> str:
        """The group as shown in reports: ``str(group)``, or ``"missing"``."""
        return MISSING_LABEL if self.group is None else str(self.group)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict; the result's NaN becomes None."""
        return {
            "group": self.group,
            "label": self.label,
            "n": self.n,
            "n_positive": self.n_positive,
            "prevalence": _json_float(self.prevalence),
            "estimable": self.estimable,
            "result": self.result.to_dict(),
        }


def _not_estimable_reason(
    spec: _Metric, n: int, n_positive: int, min_group_size: int
) -> str | None:
    if n < min_group_size:
        return f"{n} cases < min_group_size {min_group_size}"
    if spec.needs_positive and n_positive == 0:
        return f"no positive cases ({n} negative): the {spec.phrase} needs positive cases"
    if spec.needs_negative and n_positive == n:
        return f"no negative cases ({n} positive): the {spec.phrase} needs negative cases"
    return None


def _group_result(
    spec: _Metric,
    label: GroupLabel,
    labels: NDArray[np.bool_],
    scores: NDArray[np.float64],
    threshold: float,
    alpha: float,
    min_group_size: int,
) -> GroupResult:
    n = labels.shape[0]
    n_positive = int(np.count_nonzero(labels))
    result = spec.point(labels, scores, threshold, alpha)
    reason = _not_estimable_reason(spec, n, n_positive, min_group_size)
    if reason is not None:
        result = replace(result, value=math.nan, ci_low=None, ci_high=None, reason=reason)
    return GroupResult(label, n, n_positive, n_positive / n, result, result.defined)
