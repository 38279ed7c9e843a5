"""What the output kinds share when they score a run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.kinds._files import read_npy
from grader.metrics import METRICS, MetricResult, compute_metric
from sandbox import wire

if TYPE_CHECKING:
    from grader.evaluation import PreparedSplit


def score_metrics(prepared: PreparedSplit, predictions: np.ndarray) -> dict[str, MetricResult]:
    """Every metric the task lists, computed on the host with the task's options.

    With a ``cluster_key`` (the patient of each case), metrics that can resample whole
    patients get a cluster bootstrap interval.  Each metric is given the contract's
    defaults it takes (the decision threshold; the number of classes, so that a class no
    case has still counts).
    """
    spec = prepared.task.spec
    clusters = prepared.attributes.get(spec.cluster_key or "")
    defaults = spec.output.metric_defaults()
    results = {}
    for metric in spec.metrics:
        options = dict(metric.options)
        accepted = METRICS[metric.name].options
        for name, value in defaults.items():
            if name in accepted:
                options.setdefault(name, value)
        if clusters is not None and "groups" in accepted:
            options.setdefault("groups", clusters)
            if "ci" in accepted:  # the multiclass metrics always bootstrap
                options.setdefault("ci", "bootstrap")
        results[metric.name] = compute_metric(metric.name, prepared.labels, predictions, **options)
    return results


def read_rows(output_dir: Path, n_cases: int) -> np.ndarray:
    """The predictions of a ``rows`` output: at most two dimensions, within a bound generous
    enough (64 float64 columns per case, plus the header) that a wrongly shaped array still
    gets its shape named rather than a size complaint."""
    return read_npy(
        output_dir / wire.PREDICTIONS, n_cases * 8 * 64 + 65536, max_ndim=2, what="predictions"
    )
