"""The one result type every metric returns."""

from __future__ import annotations

import math
from dataclasses import dataclass


def _json_float(x: float | None) -> float | None:
    # Strict JSON has no NaN or inf; "undefined" travels as null next to its reason.
    if x is None or not math.isfinite(x):
        return None
    return float(x)


@dataclass(frozen=True, slots=True)
class MetricResult:
    """The value of one metric on one set of predictions, with how it was obtained.

    Parameters
    ----------
    name : str
        Registry name of the metric, e.g. ``"roc_auc"``.
    value : float
        The metric value; NaN when the metric is undefined on the data (see ``reason``).
    ci_low, ci_high : float or None
        Bounds of the ``1 - alpha`` confidence interval, or None when the metric has no
        interval or it cannot be computed on the data.
    higher_is_better : bool
        True for scores, False for losses and errors, so that a rubric can never read a loss
        as a score.
    method : str
        Human-readable account of how value and interval were computed.
    n : int
        Number of cases the value is computed over (for a proportion such as sensitivity,
        its denominator).
    alpha : float, default=0.05
        Significance level of the interval: the interval is a ``1 - alpha`` interval.
    reason : str or None, default=None
        Why ``value`` is NaN; None exactly when the value is defined.
    implementation : str, default="medgrade.metrics"
        Which code computed the value, for reports that mix sources.

    Raises
    ------
    ValueError
        If the fields contradict each other: a NaN value without a reason (or a defined
        value with one), an interval with a NaN value, only one interval bound, an alpha
        outside (0, 1) or a negative ``n``.
    """

    name: str
    value: float
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool
    method: str
    n: int
    alpha: float = 0.05
    reason: str | None = None
    implementation: str = "medgrade.metrics"

    def __post_init__(self) -> None:
        # Enforced here so that no metric, present or future, can report an undefined value
        # silently or invent an interval around one.
        undefined = math.isnan(self.value)
        if undefined and self.reason is None:
            raise ValueError(f"MetricResult {self.name!r}: a NaN value needs a reason")
        if not undefined and self.reason is not None:
            raise ValueError(
                f"MetricResult {self.name!r}: reason is only for NaN values; "
                f"got value {self.value!r} with reason {self.reason!r}"
            )
        if (self.ci_low is None) != (self.ci_high is None):
            raise ValueError(
                f"MetricResult {self.name!r}: ci_low and ci_high must both be set or both be "
                f"None; got ci_low={self.ci_low!r}, ci_high={self.ci_high!r}"
            )
        if undefined and self.ci_low is not None:
            raise ValueError(f"MetricResult {self.name!r}: a NaN value cannot have an interval")
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(
                f"MetricResult {self.name!r}: alpha must be in (0, 1); got {self.alpha!r}"
            )
        if self.n < 0:
            raise ValueError(f"MetricResult {self.name!r}: n must be >= 0; got {self.n!r}")

    @property
    def defined(self) -> bool:
        """True when ``value`` is a number, False when it is NaN."""
        return not math.isnan(self.value)

    def to_dict(self) -> dict[str, object]:
        """Return the fields as a JSON-safe dict: NaN (and any non-finite float) becomes None.

        Examples
        --------
        >>> r = MetricResult("roc_auc", float("nan"), None, None, True, "DeLong", 4,
        ...                  reason="no positive cases")
        >>> r.to_dict()["value"] is None
        True
        """
        return {
            "name": self.name,
            "value": _json_float(self.value),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
            "higher_is_better": self.higher_is_better,
            "method": self.method,
            "n": int(self.n),
            "alpha": float(self.alpha),
            "reason": self.reason,
            "implementation": self.implementation,
        }


def undefined_result(
    name: str,
    *,
    method: str,
    n: int,
    reason: str,
    higher_is_better: bool = True,
    alpha: float = 0.05,
) -> MetricResult:
    """A metric undefined on valid input: NaN, no interval, and the reason (the package's
    edge-case policy)."""
    return MetricResult(
        name=name,
        value=math.nan,
        ci_low=None,
        ci_high=None,
        higher_is_better=higher_is_better,
        method=method,
        n=n,
        alpha=alpha,
        reason=reason,
    )
