"""A whole segmentation evaluation: every metric of every structure and case, aggregated
per structure and over structures, with the report that holds the results.

The aggregate of ``relative_volume_error`` is the mean of ``|RVE|`` (lower is better),
since signed errors of opposite sign would cancel; per-case values stay signed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._catalogue import CATALOGUE
from grader.metrics._result import MetricResult
from grader.metrics._segmentation import _prepare
from grader.metrics._segmentation_aggregate import _aggregate_columns
from grader.metrics._segmentation_cases import SEGMENTATION_METRICS, SegmentationCase, _case
from grader.metrics._segmentation_checks import (
    _check_cases,
    _check_labels,
    _check_spacing,
    _check_spacings,
    _check_tolerance,
)
from grader.metrics._validation import check_alpha, check_positive_int

_DEFINITIONS = {
    "dice": "Dice 2|R&P|/(|R|+|P|) per case (1 if both masks are empty, 0 if one is)",
    "iou": "IoU |R&P|/|R|P| per case (1 if both masks are empty, 0 if one is)",
    "hausdorff95": (
        "HD95 in mm per case: the larger of the two directed 95th percentiles of distances "
        "between face-connected boundary voxels, as MONAI compute_hausdorff_distance("
        "percentile=95) (0 if both masks are empty, the image diagonal if one is)"
    ),
    "surface_dice": (
        "normalised surface Dice per case at tolerance {tolerance:g} mm: share of the "
        "boundary voxels of both masks within the tolerance of the other boundary, as MONAI "
        "compute_surface_dice (1 if both masks are empty, 0 if one is)"
    ),
    "relative_volume_error": (
        "mean |RVE| with RVE = (V_pred - V_ref) / V_ref per case (undefined, and left out, "
        "when the reference is empty)"
    ),
}


@dataclass(frozen=True, slots=True)
class SegmentationSummary:
    """Aggregated metrics of one structure, or the mean over structures.

    Attributes
    ----------
    structure : int or None
        The structure's label; None for the mean over structures, where each case first
        contributes the mean of its structures' values (of ``|RVE|`` for the relative volume
        error, over the structures where it is defined).
    results : Mapping[str, MetricResult]
        One result per name in :data:`SEGMENTATION_METRICS`, in that order.
    n_cases : int
        Number of cases evaluated.
    n_empty_reference : int
        Cases whose reference lacks the structure; for the mean over structures, the number
        of (case, structure) pairs with an empty reference.
    """

    structure: int | None
    results: Mapping[str, MetricResult]
    n_cases: int
    n_empty_reference: int

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict: the structure, the counts and each result's ``to_dict()``."""
        return {
            "structure": self.structure,
            "n_cases": self.n_cases,
            "n_empty_reference": self.n_empty_reference,
            "results": {name: result.to_dict() for name, result in self.results.items()},
        }


@dataclass(frozen=True, slots=True)
class SegmentationReport:
    """Per-case values and aggregated results of a segmentation evaluation.

    Attributes
    ----------
    labels : tuple of int
        The structures evaluated, in order.
    cases : tuple of tuple of SegmentationCase
        ``cases[i][j]`` holds case ``i``, structure ``labels[j]``.
    summaries : tuple of SegmentationSummary
        One per structure in the order of ``labels``, then the mean over structures
        (``structure=None``).
    tolerance_mm : float
        Tolerance of the surface Dice.
    """

    labels: tuple[int, ...]
    cases: tuple[tuple[SegmentationCase, ...], ...]
    summaries: tuple[SegmentationSummary, ...]
    tolerance_mm: float

    def summary(self, structure: int | None = None) -> SegmentationSummary:
        """The summary of one structure label, or (None) the mean over structures."""
        for candidate in self.summaries:
            if candidate.structure == structure:
                return candidate
        raise ValueError(
            f"structure must be one of the evaluated labels {list(self.labels)} or None (the "
            f"mean over structures); got {structure!r}"
        )

    def result(self, metric: str, structure: int | None = None) -> MetricResult:
        """The aggregated ``metric`` of one structure, or (None) the mean over structures."""
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(
                f"metric must be one of {', '.join(SEGMENTATION_METRICS)}; got {metric!r}"
            )
        return self.summary(structure).results[metric]

    def values(self, metric: str) -> NDArray[np.float64]:
        """Per-case values of ``metric``, shape (n_cases, n_structures); RVE signed."""
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(
                f"metric must be one of {', '.join(SEGMENTATION_METRICS)}; got {metric!r}"
            )
        return np.array(
            [[getattr(c, metric) for c in case] for case in self.cases], dtype=np.float64
        ).reshape(len(self.cases), len(self.labels))

    @property
    def n_empty_reference(self) -> dict[int, int]:
        """Number of cases whose reference lacks each structure, by label."""
        return {s.structure: s.n_empty_reference for s in self.summaries if s.structure is not None}

    def to_dict(self) -> dict[str, object]:
        """JSON-safe dict of labels, tolerance, summaries and per-case values."""
        return {
            "labels": list(self.labels),
            "tolerance_mm": self.tolerance_mm,
            "summaries": [s.to_dict() for s in self.summaries],
            "cases": [[c.to_dict() for c in case] for case in self.cases],
        }


def _mean_over_structures(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row means over the defined (non-NaN) entries; NaN for a row with none."""
    defined = ~np.isnan(values)
    counts = defined.sum(axis=1)
    out = np.full(values.shape[0], np.nan)
    np.divide(np.where(defined, values, 0.0).sum(axis=1), counts, out=out, where=counts > 0)
    return out


def segmentation_metrics(
    references: Sequence[ArrayLike],
    predictions: Sequence[ArrayLike],
    *,
    labels: Sequence[int],
    spacings: Sequence[Sequence[float]] | None = None,
    tolerance_mm: float = 1.0,
    groups: ArrayLike | None = None,
    alpha: float = 0.05,
    n_resamples: int = 1000,
    random_state: int | np.random.Generator | None = 0,
) -> SegmentationReport:
    """Evaluate segmentations of several cases: every metric, structure and case, aggregated.

    Each case is evaluated by :func:`segmentation_case`; every (metric, structure) column
    and the per-case mean over structures is then aggregated by the rule of
    :func:`aggregate_cases`, all from one set of bootstrap resamples.

    Parameters
    ----------
    references, predictions : sequence of array-like
        One 2-D or 3-D label map per case (0 = background); the two maps of a case must
        have the same shape, different cases may differ.
    labels : sequence of int
        Structure labels to evaluate, e.g. ``[1, 2, 3]``.
    spacings : sequence of tuple of float, optional
        Voxel size in mm per axis for each case; default 1.0 everywhere. Pass
        ``[spacing] * n_cases`` for a common spacing.
    tolerance_mm : float, default=1.0
        Tolerance of the surface Dice, in mm.
    groups : array-like of shape (n_cases,), optional
        Patient id of each case: cases of one patient are resampled together.
    alpha : float, default=0.05
        The intervals are ``1 - alpha`` intervals.
    n_resamples : int, default=1000
        Number of bootstrap resamples.
    random_state : int, numpy.random.Generator or None, default=0
        Seed of the resampling.

    Returns
    -------
    SegmentationReport
        ``report.result("dice", 2)`` is the mean Dice of structure 2, ``report.result(
        "dice")`` the mean over structures; ``relative_volume_error`` aggregates ``|RVE|``.

    Examples
    --------
    >>> ref = np.zeros((3, 10, 10), dtype=np.uint8); ref[:, 2:6, 2:6] = 1; ref[:, 7:9, 7:9] = 2
    >>> pred = ref.copy(); pred[:, 2:6, 6] = 1   # structure 1 one column too wide
    >>> report = segmentation_metrics([ref, ref], [pred, ref], labels=[1, 2],
    ...                               spacings=[(2.0, 1.0, 1.0)] * 2, n_resamples=200)
    >>> report.values("dice").round(4).tolist()
    [[0.8889, 1.0], [1.0, 1.0]]
    >>> r = report.result("dice", 1)
    >>> round(r.value, 4), r.higher_is_better, r.n
    (0.9444, True, 2)
    >>> round(report.result("relative_volume_error").value, 4)  # mean |RVE| over structures
    0.0625
    """
    refs, preds = _check_cases(references, predictions)
    checked_labels = _check_labels(labels)
    case_spacings = _check_spacings(spacings, len(refs))
    tolerance = _check_tolerance(tolerance_mm)
    alpha = check_alpha(alpha)
    n_resamples = check_positive_int(n_resamples, "n_resamples")

    # One case at a time: cases may differ in shape, and each needs its own boundaries and
    # KD-trees; the per-case work is whole-volume, so the loop itself costs nothing.
    cases = []
    for i, (ref, pred) in enumerate(zip(refs, preds, strict=True)):
        prepared = _prepare(ref, pred, checked_labels, f"references[{i}]", f"predictions[{i}]")
        spacing = _check_spacing(case_spacings[i], prepared.ref.ndim, f"spacings[{i}]")
        cases.append(_case(prepared, spacing, tolerance))

    n_cases, n_labels = len(cases), len(checked_labels)
    per_metric = {
        metric: np.array([[getattr(c, metric) for c in case] for case in cases]).reshape(
            n_cases, n_labels
        )
        for metric in SEGMENTATION_METRICS
    }
    per_metric["relative_volume_error"] = np.abs(per_metric["relative_volume_error"])

    columns, names, directions, definitions = [], [], [], []
    for structure in [*checked_labels, None]:
        for metric in SEGMENTATION_METRICS:
            definition = _DEFINITIONS[metric].format(tolerance=tolerance)
            if structure is None:
                columns.append(_mean_over_structures(per_metric[metric]))
                definition = (
                    f"per-case mean over structures {list(checked_labels)} of: {definition}"
                )
            else:
                columns.append(per_metric[metric][:, checked_labels.index(structure)])
                definition = f"structure {structure}: {definition}"
            names.append(metric)
            directions.append(bool(CATALOGUE[metric].higher_is_better))
            definitions.append(definition)
    results = _aggregate_columns(
        np.column_stack(columns),
        names=names,
        higher_is_better=directions,
        definitions=definitions,
        groups=groups,
        alpha=alpha,
        n_resamples=n_resamples,
        random_state=random_state,
    )

    empty_reference = np.array(
        [[c.reference_empty for c in case] for case in cases], dtype=bool
    ).reshape(n_cases, n_labels)
    summaries = []
    n_metrics = len(SEGMENTATION_METRICS)
    for index, structure in enumerate([*checked_labels, None]):
        block = results[index * n_metrics : (index + 1) * n_metrics]
        if structure is None:
            n_empty = int(empty_reference.sum())
            empty_reason = (
                f"every structure's reference is empty in all {n_cases} cases: relative volume "
                f"error is undefined"
            )
        else:
            n_empty = int(empty_reference[:, index].sum())
            empty_reason = (
                f"the reference of structure {structure} is empty in all {n_cases} cases: "
                f"relative volume error (V_pred - V_ref) / V_ref is undefined"
            )
        block = [
            replace(r, reason=empty_reason)
            if r.name == "relative_volume_error" and not r.defined
            else r
            for r in block
        ]
        summaries.append(
            SegmentationSummary(
                structure=structure,
                results=MappingProxyType({r.name: r for r in block}),
                n_cases=n_cases,
                n_empty_reference=n_empty,
            )
        )
    return SegmentationReport(
        labels=checked_labels,
        cases=tuple(cases),
        summaries=tuple(summaries),
        tolerance_mm=tolerance,
    )
