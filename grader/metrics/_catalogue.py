"""Every metric medgrade knows by name: its title in reports, its direction, and the names
other libraries give it.  The registry, the subgroup metrics, the segmentation summary and
the reports read this one table, so a metric is titled and ranked the same everywhere.  Each
metric function still states its direction on the results it returns (as MONAI's do, so a
result describes itself); tests/metrics/test_registry.py checks they agree with this table.

A leaf of the metrics package: it imports none of its siblings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """``higher_is_better`` None: the metric has no direction (a selection rate)."""

    title: str
    higher_is_better: bool | None


CATALOGUE: Mapping[str, CatalogueEntry] = MappingProxyType(
    {
        name: CatalogueEntry(title, direction)
        for name, title, direction in (
            # Binary probabilities.
            ("roc_auc", "ROC AUC", True),
            ("brier_score", "Brier score", False),
            ("scaled_brier_score", "Scaled Brier score", True),
            ("expected_calibration_error", "Expected calibration error (ECE)", False),
            ("smooth_ece", "Smooth ECE (smECE)", False),
            ("average_precision", "Average precision", True),
            ("net_benefit", "Net benefit", True),
            ("sensitivity", "Sensitivity", True),
            ("specificity", "Specificity", True),
            ("ppv", "Positive predictive value", True),
            ("npv", "Negative predictive value", True),
            # Only per subgroup, never a task's metric.
            ("fpr", "False-positive rate", False),
            ("selection_rate", "Selection rate", None),
            # Label maps.
            ("dice", "Dice", True),
            ("iou", "IoU", True),
            ("hausdorff95", "HD95 (mm)", False),
            ("surface_dice", "Surface Dice (NSD)", True),
            # The aggregate is mean |RVE|: 0 is perfect.
            ("relative_volume_error", "|Relative volume error|", False),
            # Class probabilities.
            ("macro_roc_auc", "Macro ROC AUC (one-vs-rest)", True),
            ("micro_roc_auc", "Micro ROC AUC (one-vs-rest)", True),
            ("accuracy", "Accuracy", True),
            ("balanced_accuracy", "Balanced accuracy", True),
            ("macro_f1", "Macro F1", True),
            ("quadratic_weighted_kappa", "Quadratic weighted kappa (QWK)", True),
            # Multi-label probabilities.
            ("mean_roc_auc", "Mean ROC AUC over labels", True),
            ("macro_average_precision", "Macro average precision over labels", True),
        )
    }
)

#: Names from other libraries and papers; only used to suggest, never accepted silently, so
#: that a rubric always states the exact metric it grades on.
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "auc": "roc_auc",
        "auroc": "roc_auc",
        "auc_roc": "roc_auc",
        "roc": "roc_auc",
        "roc_auc_score": "roc_auc",
        "brier": "brier_score",
        "brier_score_loss": "brier_score",
        "ece": "expected_calibration_error",
        "calibration_error": "expected_calibration_error",
        "recall": "sensitivity",
        "tpr": "sensitivity",
        "true_positive_rate": "sensitivity",
        "tnr": "specificity",
        "true_negative_rate": "specificity",
        "false_positive_rate": "fpr",
        "precision": "ppv",
        "demographic_parity": "selection_rate",
        "positive_rate": "selection_rate",
        "multiclass_roc_auc": "macro_roc_auc",
        "ovr_roc_auc": "macro_roc_auc",
        "f1_macro": "macro_f1",
        "balanced_accuracy_score": "balanced_accuracy",
        "accuracy_score": "accuracy",
        "qwk": "quadratic_weighted_kappa",
        "kappa": "quadratic_weighted_kappa",
        "cohen_kappa": "quadratic_weighted_kappa",
        "cohen_kappa_score": "quadratic_weighted_kappa",
        "multilabel_roc_auc": "mean_roc_auc",
        "macro_auc": "mean_roc_auc",
        "mean_average_precision": "macro_average_precision",
        "macro_ap": "macro_average_precision",
    }
)


def metric_key(name: object) -> str:
    """``name`` as metric names are written (lower case, underscores), to look up aliases."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def metric_title(name: str) -> str:
    """The report title of the metric ``name``; the name itself for one not catalogued."""
    entry = CATALOGUE.get(name)
    return entry.title if entry is not None else name
