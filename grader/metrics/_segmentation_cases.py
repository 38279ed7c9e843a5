"""Every segmentation metric of every structure in one case, as :class:`SegmentationCase`
values: counts taken once for Dice, IoU and the volumes, surface distances once for HD95
and surface Dice."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from grader.metrics._segmentation import _dice_iou, _prepare, _Prepared, _rve
from grader.metrics._segmentation_checks import _check_spacing, _check_tolerance
from grader.metrics._segmentation_surface import _surface_metrics

SEGMENTATION_METRICS: tuple[str, ...] = (
    "dice",
    "iou",
    "hausdorff95",
    "surface_dice",
    "relative_volume_error",
)
"""Names of the segmentation metrics, in report order."""


@dataclass(frozen=True, slots=True)
class SegmentationCase:
    """All metrics of one structure in one case.

    Attributes
    ----------
    label : int
        The structure's label value.
    dice, iou, hausdorff95, surface_dice : float
        As defined in :mod:`grader.metrics._segmentation`; always defined (edge-case policy).
    relative_volume_error : float
        Signed ``(V_pred - V_ref) / V_ref``; NaN when the reference is empty.
    reference_volume_mm3, prediction_volume_mm3 : float
        Structure volumes: voxel count times voxel volume.
    relative_volume_error_reason : str or None
        Why ``relative_volume_error`` is NaN; None exactly when it is defined.
    """

    label: int
    dice: float
    iou: float
    hausdorff95: float
    surface_dice: float
    relative_volume_error: float
    reference_volume_mm3: float
    prediction_volume_mm3: float
    relative_volume_error_reason: str | None = None

    def __post_init__(self) -> None:
        if math.isnan(self.relative_volume_error) != (
            self.relative_volume_error_reason is not None
        ):
            raise ValueError(
                f"SegmentationCase label {self.label}: relative_volume_error_reason must be set "
                f"exactly when relative_volume_error is NaN"
            )

    @property
    def reference_empty(self) -> bool:
        """True when the reference has no voxel of this structure."""
        return self.reference_volume_mm3 == 0.0

    @property
    def prediction_empty(self) -> bool:
        """True when the prediction has no voxel of this structure."""
        return self.prediction_volume_mm3 == 0.0

    def value(self, metric: str) -> float:
        """The per-case value of ``metric``, one of :data:`SEGMENTATION_METRICS`."""
        if metric not in SEGMENTATION_METRICS:
            raise ValueError(
                f"metric must be one of {', '.join(SEGMENTATION_METRICS)}; got {metric!r}"
            )
        return float(getattr(self, metric))

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-safe dict (NaN becomes None next to its reason)."""
        return {
            "label": self.label,
            **{m: _json_float(getattr(self, m)) for m in SEGMENTATION_METRICS},
            "reference_volume_mm3": self.reference_volume_mm3,
            "prediction_volume_mm3": self.prediction_volume_mm3,
            "relative_volume_error_reason": self.relative_volume_error_reason,
        }


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _case(
    prepared: _Prepared, spacing: NDArray[np.float64], tolerance: float
) -> tuple[SegmentationCase, ...]:
    dice, iou = _dice_iou(prepared.n_ref, prepared.n_pred, prepared.n_both)
    hd95, nsd = _surface_metrics(prepared, spacing, tolerance)
    rve, reasons = _rve(prepared.n_ref, prepared.n_pred)
    voxel_mm3 = float(np.prod(spacing))
    return tuple(
        SegmentationCase(
            label=label,
            dice=float(dice[j]),
            iou=float(iou[j]),
            hausdorff95=float(hd95[j]),
            surface_dice=float(nsd[j]),
            relative_volume_error=float(rve[j]),
            reference_volume_mm3=float(prepared.n_ref[j]) * voxel_mm3,
            prediction_volume_mm3=float(prepared.n_pred[j]) * voxel_mm3,
            relative_volume_error_reason=reasons[j],
        )
        for j, label in enumerate(prepared.labels)
    )


def segmentation_case(
    reference: ArrayLike,
    prediction: ArrayLike,
    *,
    labels: Sequence[int],
    spacing: Sequence[float] | None = None,
    tolerance_mm: float = 1.0,
) -> tuple[SegmentationCase, ...]:
    """Every segmentation metric of every structure in one case.

    Counts are taken once for Dice, IoU and the volumes, and surface distances once for
    HD95 and surface Dice.

    Parameters
    ----------
    reference, prediction : array-like of int, 2-D or 3-D, same shape
        Label maps, 0 = background.
    labels : sequence of int
        Structure labels to evaluate.
    spacing : tuple of float, optional
        Voxel size in mm along each axis; default 1.0 for every axis.
    tolerance_mm : float, default=1.0
        Tolerance of the surface Dice, in mm.

    Returns
    -------
    tuple of SegmentationCase
        One per label, in the order of ``labels``.

    Examples
    --------
    >>> ref = np.zeros((6, 6), dtype=np.uint8); ref[1:4, 1:4] = 1
    >>> pred = np.zeros((6, 6), dtype=np.uint8); pred[1:4, 1:5] = 1; pred[5, 5] = 2
    >>> one, two = segmentation_case(ref, pred, labels=[1, 2], spacing=(0.5, 0.5))
    >>> round(one.dice, 4), one.hausdorff95, one.relative_volume_error
    (0.8571, 0.5, 0.3333333333333333)
    >>> two.dice, two.hausdorff95 == (2 * 3.0**2) ** 0.5, two.relative_volume_error_reason[:22]
    (0.0, True, 'the reference is empty')
    """
    prepared = _prepare(reference, prediction, labels)
    spacing_mm = _check_spacing(spacing, prepared.ref.ndim, "spacing")
    return _case(prepared, spacing_mm, _check_tolerance(tolerance_mm))
