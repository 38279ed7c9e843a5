"""Metrics for binary clinical prediction tasks: pure functions on arrays.

Every metric takes ``(y_true, y_score)`` first, options keyword-only after, and returns a
:class:`MetricResult` that carries the value, its confidence interval, whether higher is
better, how it was computed and -- when undefined -- why. :data:`METRICS` and
:func:`compute_metric` look metrics up by the names task specs and rubrics use.

Edge-case policy
----------------
The same rules hold for every function in this package.

Invalid input raises ``ValueError`` whose message names the argument, the value received
and what is expected:

- ``y_true`` must be 1-D, non-empty and binary: only 0 and 1, as bool, integer or float
  0.0/1.0 (``"y_true must contain only 0 and 1; got values [0, 1, 2] ..."``).
- ``y_score`` (``y_prob`` for probability metrics) must be 1-D real numbers of the same
  length as ``y_true`` (the message gives both lengths) and finite: NaN and inf are
  rejected with their count, never dropped or imputed.
- Probability metrics (Brier score, scaled Brier score, ECE, reliability curve) require
  ``y_prob`` in [0, 1]. Values outside are rejected with their count, minimum and maximum;
  they are never clipped and never passed through a sigmoid.

Valid input on which a metric is undefined -- AUC or the scaled Brier score with a single
class in ``y_true``, sensitivity with no positive cases, PPV with no positive predictions
-- gives ``value = NaN``, no interval and a ``reason``. Never 0, and never a warning: the
rubric decides what an undefined metric earns. ``MetricResult.to_dict`` writes NaN as
``None`` so results stay valid JSON.

Ties get midrank credit: a positive and a negative case with equal scores count 1/2 in
the AUC, and the ROC curve never splits tied scores. A case is predicted positive when
``y_score >= threshold``.

Examples
--------
>>> from grader.metrics import compute_metric
>>> result = compute_metric("roc_auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> result.value, result.higher_is_better
(0.75, True)
>>> undefined = compute_metric("roc_auc", [1, 1, 1], [0.2, 0.5, 0.9])
>>> undefined.value, undefined.ci_low, undefined.reason[:33]
(nan, None, 'y_true has only positive cases (3')
"""

from grader.metrics._bootstrap import BootstrapSpec, percentile_interval, resample_weights
from grader.metrics._calibration import (
    ReliabilityCurve,
    brier_score,
    expected_calibration_error,
    reliability_curve,
    scaled_brier_score,
)
from grader.metrics._calibration_logistic import calibration_intercept_slope
from grader.metrics._calibration_smooth import (
    SmoothReliabilityCurve,
    smooth_ece,
    smooth_reliability_curve,
)
from grader.metrics._catalogue import CATALOGUE, CatalogueEntry, metric_title
from grader.metrics._classification import (
    ConfusionMatrix,
    confusion_counts,
    confusion_matrix,
    npv,
    ppv,
    sensitivity,
    specificity,
)
from grader.metrics._classification_curves import roc_confidence_band, roc_curve_points
from grader.metrics._classification_ranking import average_precision, roc_auc
from grader.metrics._decision import DecisionCurve, decision_curve, net_benefit
from grader.metrics._fairness import SubgroupReport, subgroup_metrics
from grader.metrics._fairness_groups import GroupResult
from grader.metrics._multiclass import (
    accuracy,
    balanced_accuracy,
    macro_f1,
    multiclass_roc_auc,
    quadratic_weighted_kappa,
)
from grader.metrics._multiclass_counts import multiclass_confusion_matrix
from grader.metrics._multiclass_inputs import (
    ROW_SUM_TOLERANCE,
    RowProblem,
    probability_row_problem,
)
from grader.metrics._multiclass_per_class import per_class_roc_auc
from grader.metrics._multilabel import (
    check_multilabel_inputs,
    macro_average_precision,
    mean_roc_auc,
    per_label_roc_auc,
)
from grader.metrics._registry import (
    METRICS,
    MetricInfo,
    UnknownMetricError,
    compute_metric,
    get_metric_info,
    metric_names,
)
from grader.metrics._result import MetricResult
from grader.metrics._segmentation import dice_scores, iou_scores, relative_volume_errors
from grader.metrics._segmentation_aggregate import aggregate_cases
from grader.metrics._segmentation_cases import SegmentationCase, segmentation_case
from grader.metrics._segmentation_evaluation import (
    SegmentationReport,
    SegmentationSummary,
    segmentation_metrics,
)
from grader.metrics._segmentation_surface import hausdorff95_distances, surface_dice_scores

__all__ = [
    "CATALOGUE",
    "METRICS",
    "ROW_SUM_TOLERANCE",
    "BootstrapSpec",
    "CatalogueEntry",
    "ConfusionMatrix",
    "DecisionCurve",
    "GroupResult",
    "MetricInfo",
    "MetricResult",
    "ReliabilityCurve",
    "RowProblem",
    "SegmentationCase",
    "SegmentationReport",
    "SegmentationSummary",
    "SmoothReliabilityCurve",
    "SubgroupReport",
    "UnknownMetricError",
    "accuracy",
    "aggregate_cases",
    "average_precision",
    "balanced_accuracy",
    "brier_score",
    "calibration_intercept_slope",
    "check_multilabel_inputs",
    "compute_metric",
    "confusion_counts",
    "confusion_matrix",
    "decision_curve",
    "dice_scores",
    "expected_calibration_error",
    "get_metric_info",
    "hausdorff95_distances",
    "iou_scores",
    "macro_average_precision",
    "macro_f1",
    "mean_roc_auc",
    "metric_names",
    "metric_title",
    "multiclass_confusion_matrix",
    "multiclass_roc_auc",
    "net_benefit",
    "npv",
    "per_class_roc_auc",
    "per_label_roc_auc",
    "percentile_interval",
    "ppv",
    "probability_row_problem",
    "quadratic_weighted_kappa",
    "relative_volume_errors",
    "reliability_curve",
    "resample_weights",
    "roc_auc",
    "roc_confidence_band",
    "roc_curve_points",
    "scaled_brier_score",
    "segmentation_case",
    "segmentation_metrics",
    "sensitivity",
    "smooth_ece",
    "smooth_reliability_curve",
    "specificity",
    "subgroup_metrics",
    "surface_dice_scores",
]
