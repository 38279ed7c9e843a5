"""Look-up of metric functions by the names task specs and rubrics use."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from numpy.typing import ArrayLike

from grader.metrics._bootstrap import RandomState
from grader.metrics._calibration import (
    brier_score,
    expected_calibration_error,
    scaled_brier_score,
)
from grader.metrics._calibration_smooth import smooth_ece
from grader.metrics._catalogue import ALIASES, CATALOGUE, metric_key
from grader.metrics._classification import npv, ppv, sensitivity, specificity
from grader.metrics._classification_ranking import average_precision, roc_auc
from grader.metrics._decision import net_benefit
from grader.metrics._multiclass import (
    accuracy,
    balanced_accuracy,
    macro_f1,
    multiclass_roc_auc,
    quadratic_weighted_kappa,
)
from grader.metrics._multilabel import macro_average_precision, mean_roc_auc
from grader.metrics._result import MetricResult
from grader.metrics._segmentation_evaluation import segmentation_metrics
from grader.suggest import close_names, either

#: The output contracts a metric can score.
OutputKind = Literal[
    "binary_probability", "label_map", "class_probabilities", "multilabel_probabilities"
]


class UnknownMetricError(KeyError, ValueError):
    """No metric is registered under the name; the message suggests the closest names.

    A :class:`KeyError` because it is a failed look-up, a :class:`ValueError` because the
    name usually comes from a task spec or rubric value.
    """

    def __init__(self, name: str, valid: Iterable[str]) -> None:
        self.name = name
        self.valid = sorted(valid)
        self.suggestions = close_names(metric_key(name), self.valid, n=3, aliases=ALIASES)
        super().__init__(name)

    def __str__(self) -> str:
        # KeyError.__str__ would print the repr of the name alone.
        hint = f" did you mean {either(self.suggestions)}?" if self.suggestions else ""
        return f"unknown metric {self.name!r};{hint} Valid names: {', '.join(self.valid)}"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """What the grader and the reports need to know about one registered metric.

    Attributes
    ----------
    name : str
        Registry name; also the ``name`` of every :class:`MetricResult` the function returns.
    function : callable
        ``function(y_true, y_score, **options) -> MetricResult``.
    higher_is_better : bool
        Direction of the metric, identical to the results' ``higher_is_better``.
    needs_probabilities : bool
        True when ``y_score`` must be probabilities in [0, 1].
    title : str
        Short human-readable name for reports, e.g. ``"ROC AUC"``.
    description : str
        One or two sentences for reports and ``--help`` output.
    output : {"binary_probability", "label_map", "class_probabilities"}
        The output contract it scores: ``(y_true, y_score)`` of a binary task,
        ``(references, predictions)``, sequences of label maps, of a segmentation task, or
        ``(y_true, y_prob)``, class labels and an ``(n, K)`` probability matrix, of a
        multiclass task.
    """

    name: str
    function: Callable[..., MetricResult]
    higher_is_better: bool
    needs_probabilities: bool
    title: str
    description: str
    output: OutputKind = "binary_probability"

    def __post_init__(self) -> None:
        # Checked at import so that a mis-registered metric fails before any grading run.
        if not callable(self.function):
            raise TypeError(f"metric {self.name!r}: function must be callable")
        positional = [
            p
            for p in inspect.signature(self.function).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) != 2:
            raise TypeError(
                f"metric {self.name!r}: function must take exactly two positional arguments "
                f"(y_true, y_score) and keyword-only options; got {len(positional)} positional"
            )

    @property
    def options(self) -> tuple[str, ...]:
        """Names of the keyword-only options the function accepts."""
        return tuple(
            p.name
            for p in inspect.signature(self.function).parameters.values()
            if p.kind is p.KEYWORD_ONLY
        )


def _build(infos: Iterable[MetricInfo]) -> Mapping[str, MetricInfo]:
    table: dict[str, MetricInfo] = {}
    for info in infos:
        if info.name in table:
            raise ValueError(f"metric {info.name!r} is registered twice")
        table[info.name] = info
    return MappingProxyType(table)


def _catalogued(
    *,
    name: str,
    function: Callable[..., MetricResult],
    needs_probabilities: bool,
    description: str,
    output: OutputKind = "binary_probability",
) -> MetricInfo:
    """The registry's entry for ``name``, titled and directed as the catalogue says."""
    entry = CATALOGUE[name]
    assert entry.higher_is_better is not None, f"{name}: a task's metric has a direction"
    return MetricInfo(
        name=name,
        function=function,
        higher_is_better=entry.higher_is_better,
        needs_probabilities=needs_probabilities,
        title=entry.title,
        description=description,
        output=output,
    )


def _segmentation_summary(metric: str) -> Callable[..., MetricResult]:
    def compute(
        references: Sequence[ArrayLike],
        predictions: Sequence[ArrayLike],
        *,
        labels: Sequence[int],
        spacings: Sequence[Sequence[float]] | None = None,
        groups: ArrayLike | None = None,
        tolerance_mm: float = 1.0,
    ) -> MetricResult:
        return segmentation_metrics(
            references,
            predictions,
            labels=labels,
            spacings=spacings,
            groups=groups,
            tolerance_mm=tolerance_mm,
        ).result(metric)

    compute.__name__ = f"mean_{metric}"
    compute.__doc__ = (
        f"The per-case mean over structures of {metric}, averaged over cases, with a "
        "(patient-level with ``groups``) bootstrap CI; see :func:`segmentation_metrics`."
    )
    return compute


_SEGMENTATION_INFOS = [
    _catalogued(
        name=name,
        function=_segmentation_summary(name),
        needs_probabilities=False,
        description=description,
        output="label_map",
    )
    for name, description in (
        ("dice", "Overlap 2|R&P|/(|R|+|P|), mean over structures and cases."),
        ("iou", "Jaccard overlap |R&P|/|R|P|, mean over structures and cases."),
        (
            "hausdorff95",
            "95th-percentile symmetric surface distance in mm, mean over structures and cases; "
            "a missed or hallucinated structure counts as the image diagonal.",
        ),
        (
            "surface_dice",
            "Normalised surface distance: share of both surfaces within tolerance_mm of the "
            "other, mean over structures and cases.",
        ),
        (
            "relative_volume_error",
            "|V_pred - V_ref| / V_ref, mean over structures and cases.",
        ),
    )
]


def _with_bootstrap(
    name: str, function: Callable[..., MetricResult], **fixed: str
) -> Callable[..., MetricResult]:
    """``function`` with its bootstrap interval on, its result named ``name``."""

    def compute(
        y_true: ArrayLike,
        y_prob: ArrayLike,
        *,
        n_classes: int | None = None,
        alpha: float = 0.05,
        n_resamples: int = 1000,
        random_state: RandomState = 0,
        groups: ArrayLike | None = None,
    ) -> MetricResult:
        result = function(
            y_true,
            y_prob,
            n_classes=n_classes,
            ci="bootstrap",
            alpha=alpha,
            n_resamples=n_resamples,
            random_state=random_state,
            groups=groups,
            **fixed,
        )
        return replace(result, name=name)

    compute.__name__ = name
    compute.__doc__ = (
        f"{function.__name__}({', '.join(f'{k}={v!r}' for k, v in fixed.items())}) with a "
        "stratified (patient-level with ``groups``) bootstrap CI; see its docstring."
    )
    return compute


_MULTICLASS_INFOS = [
    _catalogued(
        name="macro_roc_auc",
        function=_with_bootstrap("macro_roc_auc", multiclass_roc_auc, average="macro"),
        needs_probabilities=True,
        description=(
            "Mean over classes of each class's ROC AUC against all others (undefined when a "
            "class has no case); bootstrap CI."
        ),
        output="class_probabilities",
    ),
    _catalogued(
        name="micro_roc_auc",
        function=_with_bootstrap("micro_roc_auc", multiclass_roc_auc, average="micro"),
        needs_probabilities=True,
        description=(
            "ROC AUC of every (case, class) pair pooled: dominated by the frequent classes, "
            "and well above 0.5 for the class frequencies predicted for every case; "
            "bootstrap CI."
        ),
        output="class_probabilities",
    ),
    _catalogued(
        name="accuracy",
        function=_with_bootstrap("accuracy", accuracy),
        needs_probabilities=True,
        description=(
            "Share of cases whose argmax class is the true class; the majority class's share "
            "for a constant prediction; bootstrap CI."
        ),
        output="class_probabilities",
    ),
    _catalogued(
        name="balanced_accuracy",
        function=_with_bootstrap("balanced_accuracy", balanced_accuracy),
        needs_probabilities=True,
        description=(
            "Mean over classes of the share of each class's cases predicted as that class "
            "(argmax); 1/K by chance; bootstrap CI."
        ),
        output="class_probabilities",
    ),
    _catalogued(
        name="macro_f1",
        function=_with_bootstrap("macro_f1", macro_f1),
        needs_probabilities=True,
        description="Mean over classes of F1 = 2TP / (2TP + FP + FN) at the argmax; bootstrap CI.",
        output="class_probabilities",
    ),
    _catalogued(
        name="quadratic_weighted_kappa",
        function=_with_bootstrap("quadratic_weighted_kappa", quadratic_weighted_kappa),
        needs_probabilities=True,
        description=(
            "Agreement of the argmax grade with the true grade beyond chance, a miss by d "
            "grades weighing d^2 (1 perfect, 0 chance); for ordinal classes; bootstrap CI."
        ),
        output="class_probabilities",
    ),
]

_MULTILABEL_INFOS = [
    _catalogued(
        name="mean_roc_auc",
        function=mean_roc_auc,
        needs_probabilities=True,
        description=(
            "The mean over labels of each label's ROC AUC on the cases whose label is known "
            "(a missing label is masked, never a negative), with a bootstrap CI over cases "
            "(patient-level with groups)."
        ),
        output="multilabel_probabilities",
    ),
    _catalogued(
        name="macro_average_precision",
        function=macro_average_precision,
        needs_probabilities=True,
        description=(
            "The mean over labels of each label's average precision on its known cases; "
            "compare it with the labels' prevalences, not with 0.5."
        ),
        output="multilabel_probabilities",
    ),
]


METRICS: Mapping[str, MetricInfo] = _build(
    [
        _catalogued(
            name="roc_auc",
            function=roc_auc,
            needs_probabilities=False,
            description=(
                "Area under the ROC curve: the probability that a random positive case scores "
                "higher than a random negative case (ties count 1/2), with a DeLong CI by "
                "default or a stratified (patient-level with groups) bootstrap CI."
            ),
        ),
        _catalogued(
            name="brier_score",
            function=brier_score,
            needs_probabilities=True,
            description=(
                "Mean squared difference between the predicted probability and the outcome "
                "(0 is perfect); rewards both discrimination and calibration."
            ),
        ),
        _catalogued(
            name="scaled_brier_score",
            function=scaled_brier_score,
            needs_probabilities=True,
            description=(
                "1 - Brier / (prevalence * (1 - prevalence)): improvement over always "
                "predicting the prevalence (1 is perfect, 0 is no better)."
            ),
        ),
        _catalogued(
            name="expected_calibration_error",
            function=expected_calibration_error,
            needs_probabilities=True,
            description=(
                "Case-weighted mean gap between predicted probability and observed fraction "
                "of positives over equal-width probability bins (0 is perfectly calibrated)."
            ),
        ),
        _catalogued(
            name="smooth_ece",
            function=smooth_ece,
            needs_probabilities=True,
            description=(
                "Calibration error of the kernel-smoothed reliability diagram (Blasiok & "
                "Nakkiran 2023): no bins to choose, consistent as n grows."
            ),
        ),
        _catalogued(
            name="average_precision",
            function=average_precision,
            needs_probabilities=False,
            description="Area under the precision-recall curve as a step function (not interpolated).",
        ),
        _catalogued(
            name="net_benefit",
            function=net_benefit,
            needs_probabilities=True,
            description=(
                "Decision-curve net benefit at the task's threshold: TP/n - FP/n * t/(1-t) "
                "(Vickers & Elkin 2006)."
            ),
        ),
        _catalogued(
            name="sensitivity",
            function=sensitivity,
            needs_probabilities=False,
            description="Share of positive cases predicted positive (recall, TPR); Wilson CI.",
        ),
        _catalogued(
            name="specificity",
            function=specificity,
            needs_probabilities=False,
            description="Share of negative cases predicted negative (TNR); Wilson CI.",
        ),
        _catalogued(
            name="ppv",
            function=ppv,
            needs_probabilities=False,
            description=(
                "Share of positive predictions that are positive cases (precision); depends "
                "on prevalence; Wilson CI."
            ),
        ),
        _catalogued(
            name="npv",
            function=npv,
            needs_probabilities=False,
            description=(
                "Share of negative predictions that are negative cases; depends on "
                "prevalence; Wilson CI."
            ),
        ),
        *_SEGMENTATION_INFOS,
        *_MULTICLASS_INFOS,
        *_MULTILABEL_INFOS,
    ]
)


def metric_names() -> list[str]:
    """Return the registered metric names, sorted."""
    return sorted(METRICS)


def get_metric_info(name: str) -> MetricInfo:
    """Return the :class:`MetricInfo` registered under ``name``.

    Raises
    ------
    UnknownMetricError
        If no metric has that name; the message suggests the closest valid names.
    """
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise UnknownMetricError(name, METRICS) from None


def compute_metric(
    name: str, y_true: ArrayLike, y_score: ArrayLike, **options: object
) -> MetricResult:
    """Compute the metric registered under ``name``.

    Parameters
    ----------
    name : str
        A registered name (see :func:`metric_names`).
    y_true, y_score : array-like of shape (n,)
        Labels and scores (probabilities for metrics with ``needs_probabilities``).
    **options
        Keyword-only options of that metric, e.g. ``threshold=0.3`` for ``"sensitivity"``.

    Returns
    -------
    MetricResult

    Raises
    ------
    UnknownMetricError
        If ``name`` is not registered.
    ValueError
        If an option is not accepted by that metric, or the data are invalid.

    Examples
    --------
    >>> compute_metric("sensitivity", [1, 1, 0], [0.9, 0.2, 0.1], threshold=0.15).value
    1.0
    """
    info = get_metric_info(name)
    accepted = info.options
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = ", ".join(repr(o) for o in unknown)
        takes = ", ".join(repr(o) for o in accepted) if accepted else "no options"
        noun = "option" if len(unknown) == 1 else "options"
        raise ValueError(
            f"metric {name!r} does not accept the {noun} {listed}; it accepts: {takes}"
        )
    return info.function(y_true, y_score, **options)
