"""Rendering an :class:`~grader.evaluation.Evaluation` as one self-contained HTML file."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from grader.evaluation import Evaluation
from grader.metrics import METRICS
from grader.report._svg import reliability_chart, roc_chart
from grader.tasks import Task


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("grader.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_report(evaluation: Evaluation, task: Task, *, n_cases: int) -> str:
    charts = []
    if evaluation.curves is not None:
        curves = evaluation.curves
        auc = evaluation.metrics.get("roc_auc")
        label = f"AUC {auc.value:.3f}" if auc is not None and auc.defined else "model"
        charts.append(roc_chart(curves.roc_fpr, curves.roc_tpr, auc_label=label))
        reliability = curves.reliability
        if reliability["mean_predicted"]:
            charts.append(
                reliability_chart(reliability["mean_predicted"], reliability["fraction_positive"])
            )
    record = evaluation.run.record if evaluation.run else {}
    environment = record.get("environment", {})
    device = environment.get("device", {})
    timings = record.get("timings", {})
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            e=evaluation,
            task=task,
            n_cases=n_cases,
            charts=charts,
            metric_titles={name: info.title for name, info in METRICS.items()},
            device=(device.get("name") or device.get("kind") or "unknown") if device else "unknown",
            reported_rss=record.get("peak_rss_mb"),
            versions=", ".join(f"{k} {v}" for k, v in environment.get("versions", {}).items())
            or "unknown",
            timings=", ".join(
                f"{label} {timings[key]:.2f} s"
                for key, label in (
                    ("import_s", "import"),
                    ("load_model_s", "load_model"),
                    ("predict_s", "predict"),
                )
                if isinstance(timings.get(key), int | float)
            ),
        )
    )


def write_report(evaluation: Evaluation, task: Task, folder: Path, *, n_cases: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{evaluation.student_id}.html"
    path.write_text(render_report(evaluation, task, n_cases=n_cases), encoding="utf-8")
    return path
