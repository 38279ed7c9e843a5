"""Rendering an :class:`~grader.evaluation.Evaluation` as one self-contained HTML file."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import jinja2

from grader.charts import subgroup_chart
from grader.disclosure import DECIMALS, hidden_round
from grader.evaluation import Evaluation
from grader.kinds import ReportSection, output_kind
from grader.metrics import metric_title
from grader.report._notebook import graded_notebook
from grader.tasks import Task


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


def _subgroup_sections(evaluation: Evaluation) -> list[dict[str, object]]:
    def shown(value: float | None) -> float:
        value = float("nan") if value is None else value
        return hidden_round(value) if evaluation.labels_hidden else value  # type: ignore[return-value]

    sections = []
    for report in evaluation.subgroups:
        title = f"{metric_title(report.metric)} by {report.attribute}"
        estimable = [g for g in report.groups if g.estimable]
        chart = subgroup_chart(
            [g.label for g in report.groups],
            [shown(g.result.value) for g in report.groups],
            [shown(g.result.ci_low) for g in report.groups],
            [shown(g.result.ci_high) for g in report.groups],
            overall=shown(report.overall.value) if report.overall.defined else None,
            metric_title=metric_title(report.metric),
            not_estimable=[g.label for g in report.groups if not g.estimable],
            attribute=report.attribute,
        )
        sections.append(
            {"report": report, "title": title, "chart": chart, "n_estimable": len(estimable)}
        )
    return sections


def _kind_sections(evaluation: Evaluation, task: Task, **shown: object) -> list[str]:
    """The sections the task's output kind adds after the metrics, each rendered with the
    report's variables (:class:`grader.kinds.ReportSection`) and its own."""
    common = {"e": evaluation, "task": task, "metric_title": metric_title, **shown}
    kind = output_kind(task.spec.output.kind)
    return render_sections(kind.report_sections(evaluation, task), common)


def render_sections(sections: Sequence[ReportSection], common: Mapping[str, object]) -> list[str]:
    """Each of an output kind's sections rendered with ``common`` and its own variables."""
    return [
        _section_template(section.template).render(dict(common) | dict(section.variables))
        for section in sections
    ]


@cache
def _section_template(source: str) -> jinja2.Template:
    return _environment().from_string(source)


def render_report(
    evaluation: Evaluation,
    task: Task,
    *,
    n_cases: int,
    embedded: bool = False,
    student_name: str = "",
) -> str:
    """The report as one HTML page, or (``embedded``) as a fragment with scoped styles for
    a notebook's output or an exported notebook; ``student_name`` (from the roster or the
    LMS) heads it beside the id."""
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
            student_name=student_name,
            task=task,
            d4=d4,
            d3=d3,
            embedded=embedded,
            notebook=notebook,
            n_cases=n_cases,
            kind_sections=_kind_sections(evaluation, task, d4=d4, d3=d3),
            split_note=output_kind(task.spec.output.kind).split_note(evaluation),
            subgroup_sections=_subgroup_sections(evaluation),
            metric_title=metric_title,
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


def write_report(
    evaluation: Evaluation, task: Task, folder: Path, *, n_cases: int, student_name: str = ""
) -> Path:
    """Write ``<student>.html`` in ``folder`` and, for a notebook submission, the graded
    notebook ``<student>.ipynb`` (as the sandbox ran it, the report appended); return the
    report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{evaluation.student_id}.html"
    path.write_text(
        render_report(evaluation, task, n_cases=n_cases, student_name=student_name),
        encoding="utf-8",
    )
    notebook_path = path.with_suffix(".ipynb")
    graded = None
    if evaluation.executed_notebook is not None:
        fragment = render_report(
            evaluation, task, n_cases=n_cases, embedded=True, student_name=student_name
        )
        graded = graded_notebook(evaluation.executed_notebook, fragment)
    if graded is not None:
        notebook_path.write_text(graded, encoding="utf-8")
    else:
        notebook_path.unlink(missing_ok=True)  # left by an earlier notebook submission
    return path
