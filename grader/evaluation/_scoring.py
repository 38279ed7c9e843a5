"""Scoring one run: its predictions through the task's output kind, and what the record
adds around the metrics (disclosure on a hidden split, hints, flags, the environment)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader import disclosure
from grader.disclosure import Disclosure
from grader.environment import EnvironmentCheck, check_environment, declared_environment
from grader.errors import MedgradeError, PluginError
from grader.evaluation._record import UNMARKED, Evaluation
from grader.evaluation._split import PreparedSplit
from grader.hints import hints
from grader.kinds import OutputKind, Predictions, Scored, ViewDisclosure, output_kind
from grader.metrics import MetricResult, SubgroupReport
from grader.outcome import Failure, RunInfo
from grader.tasks import Task


def assess(
    prepared: PreparedSplit,
    *,
    student_id: str,
    submission_path: Path,
    sha256: str | None,
    failure: Failure | None,
    predictions: Predictions | None,
    run: RunInfo | None,
) -> Evaluation:
    """What one run's predictions (None: it failed) are worth on ``prepared``: the output
    kind's metrics, tables and curves, what a hidden split's report discloses, the hints and
    the flags; not yet marked (:func:`grader.evaluation.mark`)."""
    task = prepared.task
    kind = output_kind(task.spec.output.kind)
    scored = Scored(metrics={}) if predictions is None else kind.score(prepared, predictions)
    metrics = scored.metrics
    told = (
        _disclosure(prepared, metrics, scored.subgroups, kind.view_disclosure(prepared, scored))
        if prepared.labels_hidden and metrics and kind.measures_disclosure
        else None
    )
    return Evaluation(
        student_id=student_id,
        submission_path=str(submission_path),
        submission_sha256=sha256,
        task_id=task.id,
        task_version=task.spec.version,
        split=prepared.name,
        labels_hidden=prepared.labels_hidden,
        status="failed" if failure is not None else "graded",
        failure=failure,
        metrics=metrics,
        marks=UNMARKED,
        run=run,
        data_sha256=prepared.data_sha256,
        split_sha256=prepared.split_sha256,
        subgroups=scored.subgroups,
        kind_results=_kind_results(kind, scored),
        disclosure=told,
        hints=hints(
            failure=failure,
            metrics=metrics,
            record=None if run is None else run.record,
            predicted=task.spec.output.predicted(),
        ),
        flags=_determinism_flags(None if run is None else run.record)
        + _looked_up_flags(prepared, predictions),
        environment=_environment_check(task, run),
        predictions_sha256=None if predictions is None else predictions_digest(predictions),
        predictions_constant=predictions is not None and _constant(predictions),
        prediction_values=_kept(predictions),
    )


#: Outputs of more values than this (a volume, a large image set's maps) are not kept.
MAX_KEPT_PREDICTIONS = 100_000


def _kept(predictions: Predictions | None) -> tuple[float, ...]:
    if not isinstance(predictions, np.ndarray) or predictions.size > MAX_KEPT_PREDICTIONS:
        return ()
    values = np.round(np.asarray(predictions, dtype=np.float64).ravel(), 6)
    return tuple(values.tolist()) if np.isfinite(values).all() else ()


def _constant(predictions: Predictions) -> bool:
    """Whether every case gets the same prediction (a prior row of class probabilities for
    each case, say); a list of maps, whether each is one value."""
    if isinstance(predictions, list):
        arrays = [np.asarray(array, dtype=np.float64) for array in predictions]
        return all(np.ptp(array) == 0 for array in arrays if array.size)
    array = np.asarray(predictions)
    return bool(array.size) and bool((array == array[:1]).all())


def _environment_check(task: Task, run: RunInfo | None) -> EnvironmentCheck | None:
    if run is None or not run.packages:
        return None
    try:
        declared = declared_environment(task)
    except MedgradeError:  # an unreadable declaration: the run is still what it was
        declared = None
    return check_environment(declared, run.packages)


def predictions_digest(predictions: Predictions) -> str:
    """The sha256 of predictions as the grader scored them (shape and float64 values)."""
    digest = hashlib.sha256()
    for array in predictions if isinstance(predictions, list) else [predictions]:
        values = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(values.shape).encode() + values.tobytes())
    return digest.hexdigest()


#: Of a hidden split's cases, this share predicted with certainty and right: labels looked up
#: (not less: a model that outputs hard labels, a common slip, can be right on 98 % of a
#: small split).
LOOKED_UP_SHARE = 1.0
#: Fewer cases than this say too little for that.
LOOKED_UP_MIN_CASES = 20


def _looked_up_flags(prepared: PreparedSplit, predictions: Predictions | None) -> tuple[str, ...]:
    """A hidden split predicted with certainty (probabilities of exactly 0 and 1) and right on
    almost every case: the labels of a public dataset's copy reproduced, not learnt.  For
    binary and multiclass probabilities; other outputs are never certain that way."""
    labels = np.asarray(prepared.labels)
    if not prepared.labels_hidden or not isinstance(predictions, np.ndarray):
        return ()
    n = len(labels)
    if n < LOOKED_UP_MIN_CASES or labels.ndim != 1 or len(predictions) != n:
        return ()
    if predictions.ndim == 1:
        certain_and_right = predictions == labels
    elif predictions.ndim == 2 and np.issubdtype(labels.dtype, np.integer):
        one_hot = np.eye(predictions.shape[1])[np.clip(labels, 0, predictions.shape[1] - 1)]
        certain_and_right = (predictions == one_hot).all(axis=1)
    else:
        return ()
    share = float(np.mean(certain_and_right))
    if share < LOOKED_UP_SHARE:
        return ()
    return (
        f"Predicts {share:.0%} of the {n} hidden cases with certainty (probability 0 or 1) "
        "and right: the labels may have been looked up in a public copy of the dataset",
    )


def _determinism_flags(record: Mapping[str, Any] | None) -> tuple[str, ...]:
    determinism = (record or {}).get("determinism") or {}
    if not determinism.get("cases_changed"):
        return ()
    return (
        f"Its predict is not deterministic: {determinism['cases_changed']} of "
        f"{determinism.get('n_cases', '?')} cases changed between two calls on the same inputs",
    )


def _kind_results(kind: OutputKind, scored: Scored) -> Any:
    results = scored.kind_results
    if results is not None and type(results) is not kind.results:
        raise PluginError(
            f"output kind {kind.name!r} scored a run with results of type "
            f"{type(results).__qualname__}; its class attribute 'results' says "
            f"{getattr(kind.results, '__qualname__', None)}"
        )
    return results


def _disclosure(
    prepared: PreparedSplit,
    metrics: Mapping[str, MetricResult],
    subgroups: tuple[SubgroupReport, ...],
    views: ViewDisclosure,
) -> Disclosure:
    """What the report of this hidden-split run shows that depends on the labels, in bits
    (:mod:`grader.disclosure`): the output kind's views, then every metric (the marks count
    with the numbers they come from) and the subgroup tables."""
    channels = list(views.channels)
    marked = {
        c.metric: c.points for c in prepared.task.rubric.criteria if getattr(c, "metric", None)
    }
    for name, result in metrics.items():
        if name in views.metrics_from_shown_counts:
            # So is its mark, a function of it; a Wilson interval is one of the counts too.
            shown = 0 if "Wilson" in result.method or result.ci_low is None else 2
            bits = disclosure.number_bits(shown)
        else:
            shown = 1 + (result.ci_low is not None) + (result.ci_high is not None)
            bits = disclosure.number_bits(shown)
            if name in marked:  # a mark and its value, both monotone in the metric
                bits += math.log2(1 + (100 * marked[name] + 1) / (10**disclosure.DECIMALS + 1))
        if bits:
            channels.append((f"{name} (value and interval)", bits))
    if subgroups:
        numbers = sum(
            3 * (len(report.groups) + 3) for report in subgroups
        )  # each group, the overall value and the two gaps: value and interval each
        channels.append(("subgroup tables", disclosure.number_bits(numbers)))
    return Disclosure(prepared.n_cases, tuple(channels))
