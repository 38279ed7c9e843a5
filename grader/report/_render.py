"""Rendering an :class:`~grader.evaluation.Evaluation` as one self-contained HTML file."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import jinja2

from grader.disclosure import DECIMALS, hidden_round
from grader.evaluation import Evaluation
from grader.metrics import METRICS
from grader.report._notebook import graded_notebook
from grader.report._svg import (
    decision_curve_chart,
    reliability_chart,
    risk_distribution_chart,
    roc_chart,
    segmentation_overlay,
    subgroup_chart,
)
from grader.tasks import Task

#: Titles for the subgroup metrics that are not in the binary registry.
METRIC_TITLES = {"fpr": "False-positive rate", "selection_rate": "Selection rate"} | {
    name: info.title for name, info in METRICS.items()
}


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("grader.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["shown"] = _shown
    return environment


_FINE_NUMBER = re.compile(r"\d+\.\d{3,}")


@jinja2.pass_context
def _shown(context: jinja2.runtime.Context, text: str | None) -> str:
    """A method's or reason's text as the report shows it: on a hidden split, a number it
    carries (smECE's bandwidth is the metric itself) rounded like every other number."""
    if text is None or not context["e"].labels_hidden:
        return text or ""
    return _FINE_NUMBER.sub(lambda match: f"{float(match.group()):.{DECIMALS}f}", text)


def _charts(evaluation: Evaluation, task: Task) -> tuple[list[str], list[str]]:
    """The discrimination charts and the calibration charts of a report."""
    curves = evaluation.curves
    if curves is None:
        return [], []
    auc = evaluation.metrics.get("roc_auc")
    decimals = DECIMALS if evaluation.labels_hidden else 3
    label = f"AUC {auc.value:.{decimals}f}" if auc is not None and auc.defined else "model"
    band = curves.roc_band or {}
    discrimination = [
        roc_chart(
            curves.roc_fpr,
            curves.roc_tpr,
            auc_label=label,
            band_fpr=band.get("fpr"),
            band_low=band.get("low"),
            band_high=band.get("high"),
            band_label="95% pointwise bootstrap band",
        ),
        risk_distribution_chart(
            curves.risk_positive,
            curves.risk_negative,
            positive_label=task.spec.output.positive_label,
            negative_label=f"not {task.spec.output.positive_label}",
            min_cases_per_bin=curves.min_cases_per_point,
        ),
    ]
    calibration = []
    reliability = curves.reliability
    if reliability["mean_predicted"]:
        smooth = curves.smooth_reliability or {}
        calibration.append(
            reliability_chart(
                reliability["mean_predicted"],
                reliability["fraction_positive"],
                counts=reliability["count"],
                smooth_x=smooth.get("x"),
                smooth_y=smooth.get("y"),
                smooth_label="smoothed (smECE kernel)",
            )
        )
    if curves.decision_curve is not None:
        decision = curves.decision_curve
        calibration.append(
            decision_curve_chart(decision["thresholds"], decision["model"], decision["treat_all"])
        )
    return discrimination, calibration


def _worst_case_charts(evaluation: Evaluation) -> list[str]:
    return [
        segmentation_overlay(
            case.image,
            case.reference,
            case.prediction,
            title=f"Case {case.case}: Dice {case.dice:.3f}, slice {case.index}",
        )
        for case in evaluation.worst_cases
    ]


#: The deepest shade of a confusion-matrix cell (a whole row in one cell); dark text stays
#: readable on it.
_MAX_SHADE = 0.45


def _confusion(evaluation: Evaluation) -> dict[str, object]:
    """The confusion matrix's rows for the template: each cell's text, whether it is on the
    diagonal, and its shade (its share of the row; none for a hidden cell)."""
    summary = evaluation.classes
    if summary is None:
        return {"rows": [], "hidden": False}
    rows = []
    for row, counts in zip(summary.rows, summary.confusion, strict=True):
        cells = []
        for column, count in enumerate(counts):
            share = count / row.n_cases if count is not None and row.n_cases else 0.0
            cells.append(
                {
                    "text": "\u2014" if count is None else str(count),
                    "diagonal": column == row.label,
                    "shade": f"{_MAX_SHADE * share:.3f}" if share else None,
                }
            )
        rows.append({"label": f"{row.label} {row.name}", "cells": cells})
    hidden = any(count is None for counts in summary.confusion for count in counts)
    return {"rows": rows, "hidden": hidden}


def _subgroup_sections(evaluation: Evaluation) -> list[dict[str, object]]:
    def shown(value: float | None) -> float:
        value = float("nan") if value is None else value
        return hidden_round(value) if evaluation.labels_hidden else value  # type: ignore[return-value]

    sections = []
    for report in evaluation.subgroups:
        title = f"{METRIC_TITLES.get(report.metric, report.metric)} by {report.attribute}"
        estimable = [g for g in report.groups if g.estimable]
        chart = subgroup_chart(
            [g.label for g in report.groups],
            [shown(g.result.value) for g in report.groups],
            [shown(g.result.ci_low) for g in report.groups],
            [shown(g.result.ci_high) for g in report.groups],
            overall=shown(report.overall.value) if report.overall.defined else None,
            metric_title=METRIC_TITLES.get(report.metric, report.metric),
            not_estimable=[g.label for g in report.groups if not g.estimable],
            attribute=report.attribute,
        )
        sections.append(
            {"report": report, "title": title, "chart": chart, "n_estimable": len(estimable)}
        )
    return sections


def render_report(
    evaluation: Evaluation, task: Task, *, n_cases: int, embedded: bool = False
) -> str:
    """The report as one HTML page, or (``embedded``) as a fragment with scoped styles for
    a notebook's output or an exported notebook."""
    charts, calibration_charts = _charts(evaluation, task)
    # A hidden split's numbers are rounded (grader.disclosure); a self-check's are not.
    d4, d3 = (DECIMALS, DECIMALS) if evaluation.labels_hidden else (4, 3)
    record = evaluation.run.record if evaluation.run else {}
    notebook = record.get("notebook")
    if notebook:
        statuses = [cell["status"] for cell in notebook["cells"]]
        notebook = notebook | {
            "ran": sum(status not in ("skipped", "not run") for status in statuses),
            "skipped": statuses.count("skipped"),
            "not_run": statuses.count("not run"),
        }
    environment = record.get("environment", {})
    device = environment.get("device", {})
    timings = record.get("timings", {})
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            e=evaluation,
            task=task,
            d4=d4,
            d3=d3,
            embedded=embedded,
            notebook=notebook,
            n_cases=n_cases,
            charts=charts,
            calibration_charts=calibration_charts,
            subgroup_sections=_subgroup_sections(evaluation),
            worst_case_charts=_worst_case_charts(evaluation),
            confusion=_confusion(evaluation),
            metric_titles={name: info.title for name, info in METRICS.items()},
            device=(device.get("name") or device.get("kind") or "unknown") if device else "unknown",
            reported_rss=record.get("peak_rss_mb"),
            versions=", ".join(f"{k} {v}" for k, v in environment.get("versions", {}).items())
            or "unknown",
            timings=", ".join(
                f"{label} {timings[key]:.2f} s"
                for key, label in (
                    ("kernel_start_s", "kernel start"),
                    ("cells_s", "notebook cells"),
                    ("import_s", "import"),
                    ("load_model_s", "load_model"),
                    ("predict_s", "predict"),
                )
                if isinstance(timings.get(key), int | float)
            ),
        )
    )


def write_report(evaluation: Evaluation, task: Task, folder: Path, *, n_cases: int) -> Path:
    """Write ``<student>.html`` in ``folder`` and, for a notebook submission, the graded
    notebook ``<student>.ipynb`` (as the sandbox ran it, the report appended); return the
    report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{evaluation.student_id}.html"
    path.write_text(render_report(evaluation, task, n_cases=n_cases), encoding="utf-8")
    notebook_path = path.with_suffix(".ipynb")
    graded = None
    if evaluation.executed_notebook is not None:
        fragment = render_report(evaluation, task, n_cases=n_cases, embedded=True)
        graded = graded_notebook(evaluation.executed_notebook, fragment)
    if graded is not None:
        notebook_path.write_text(graded, encoding="utf-8")
    else:
        notebook_path.unlink(missing_ok=True)  # left by an earlier notebook submission
    return path
