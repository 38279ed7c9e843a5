"""One sample of every chart, drawn by the chart tests and the real-browser page."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from grader.charts import (
    ReferenceLine,
    decision_curve_chart,
    histogram_chart,
    reliability_chart,
    risk_distribution_chart,
    roc_chart,
    segmentation_overlay,
    strip_chart,
    subgroup_chart,
)

RNG = np.random.default_rng(7)
_FPR = np.array([0, 0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0])
_TPR = np.array([0, 0.3, 0.55, 0.7, 0.82, 0.9, 0.95, 0.98, 1.0])
_SMOOTH = np.linspace(0.02, 0.95, 40)
_THRESHOLDS = np.linspace(0.01, 0.99, 99)
_PREVALENCE = 0.3


def _overlay_arrays(size: int = 96) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:size, :size] / size
    image = np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 6) + 0.15 * RNG.standard_normal(
        (size, size)
    )
    reference = (xx - 0.5) ** 2 + (yy - 0.52) ** 2 < 0.06
    prediction = (xx - 0.54) ** 2 / 1.3 + (yy - 0.5) ** 2 < 0.05
    return image, reference, prediction


SAMPLES: dict[str, Callable[[], str]] = {
    "roc": lambda: roc_chart(
        _FPR,
        _TPR,
        auc_label="AUC 0.871 (0.82\u20130.91)",
        band_fpr=_FPR,
        band_low=np.clip(_TPR - 0.08, 0, 1),
        band_high=np.clip(_TPR + 0.08, 0, 1),
    ),
    "reliability": lambda: reliability_chart(
        [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.8, 0.93],
        [0.02, 0.1, 0.3, 0.28, 0.5, 0.6, 0.72, 0.75, 0.97],
        counts=[180, 95, 60, 41, 33, 30, 28, 35, 70],
        smooth_x=_SMOOTH,
        smooth_y=_SMOOTH + 0.06 * np.sin(6 * _SMOOTH),
    ),
    "risk": lambda: risk_distribution_chart(
        RNG.beta(5, 2, 120),
        RNG.beta(2, 5, 300),
        positive_label="malignant",
        negative_label="benign",
    ),
    "subgroups": lambda: subgroup_chart(
        [
            "age < 50",
            "age 50\u201369",
            "age \u2265 70",
            "scanner A",
            "scanner B (very long site name)",
        ],
        [0.81, 0.86, np.nan, 0.9, 0.74],
        [0.72, 0.8, np.nan, 0.85, 0.61],
        [0.88, 0.91, np.nan, 0.94, 0.84],
        overall=0.84,
        metric_title="Sensitivity",
        not_estimable=["age \u2265 70", "unknown sex"],
    ),
    "decision": lambda: decision_curve_chart(
        _THRESHOLDS,
        np.maximum(_PREVALENCE - (1 - _PREVALENCE) * _THRESHOLDS / (1 - _THRESHOLDS) * 0.25, 0)
        * (1 - _THRESHOLDS * 0.6),
        _PREVALENCE - (1 - _PREVALENCE) * _THRESHOLDS / (1 - _THRESHOLDS),
        np.zeros_like(_THRESHOLDS),
    ),
    "overlay": lambda: segmentation_overlay(*_overlay_arrays(), title="Case 12, axial slice 40"),
    "histogram": lambda: histogram_chart(
        np.concatenate([RNG.beta(8, 2, 60), [np.nan]]),
        title="ROC AUC",
        x_title="ROC AUC (higher is better)",
        references=[
            ReferenceLine(0.5, "floor: null model, 0 points", "floor"),
            ReferenceLine(0.97, "target: reference, full points", "target"),
        ],
    ),
    "strip": lambda: strip_chart(
        [
            "ROC AUC by sex",
            "Sensitivity by site (a long attribute name)",
            "FPR by age",
            "ROC AUC by age",
            "Sensitivity by sex",
        ],
        [RNG.gamma(2, 0.02, 40), [0.1, 0.1, 0.1, np.nan], [], RNG.gamma(2, 0.03, 40), [0.2]],
        title="Subgroup gaps across the class",
        x_title="best minus worst group",
    ),
    "overlay_large": lambda: segmentation_overlay(
        *_overlay_arrays(600), title="Downsampled 600 \u00d7 600 slice"
    ),
}
