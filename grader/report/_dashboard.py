"""The class dashboard: one self-contained HTML page over a graded class, read from the store.

Everything on it comes from the results store (the newest run of each student on the
task's current version and held-out test split), never from a batch's memory, so it can be
written again at any time and always agrees with the gradebook. It is for markers: it names
students and, only when asked, ranks them.

Each metric's distribution is drawn with the rubric's anchors across it. A linear
criterion's floor is, by the rubric's design, what a null model scores and its target a
little below what the reference submission scores (``medgrade task validate`` proves both),
so the dashboard shows where the class stands against both without running either.
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader._version import __version__
from grader.charts import ReferenceLine, Spread, histogram_chart, spread_cell, strip_chart
from grader.errors import MedgradeError
from grader.evaluation import Evaluation
from grader.integrity import class_flags
from grader.kinds import output_kind
from grader.metrics import METRICS, MetricResult, SubgroupReport, metric_title
from grader.outcome import FAILURE_EXPLANATIONS
from grader.output import OutputFolder, write_text_atomically
from grader.report._render import _environment, render_sections
from grader.rubric import BandScale, LinearScale
from grader.store import (
    ClassMember,
    ResultStore,
    StoredEvaluationError,
    StoredGrade,
    student_label,
)
from grader.submission import submission_code
from grader.tasks import Task

#: A batch grades the held-out test split; the dashboard shows that class.
GRADED_SPLIT = "test"
#: A failure's message is cut to this many characters in the failure list (the report
#: holds all of it).
MESSAGE_CHARACTERS = 300


@dataclass(frozen=True)
class _Student:
    """One student's newest run, as the dashboard needs it."""

    student_id: str
    status: str
    failure_kind: str | None
    failure_message: str
    total: float
    #: Titles of the criteria still to be marked by hand.
    pending: tuple[str, ...]
    #: The report's address relative to the dashboard, None when the file is missing.
    report: str | None
    #: From the stored evaluation document; empty when the run has none.
    metrics: Mapping[str, MetricResult]
    subgroups: tuple[SubgroupReport, ...]
    #: What the task's output kind computed besides the metrics (its class sections' input).
    kind_results: object
    #: Whether the stored evaluation document could be read.
    readable: bool
    #: When the run was graded (ISO 8601, UTC).
    created_at: str
    #: What the marker should look at (:attr:`grader.evaluation.Evaluation.flags`).
    flags: tuple[str, ...] = ()
    #: From the roster or the LMS download (the store's class), "" when none is known.
    name: str = ""
    late: bool = False

    @property
    def label(self) -> str:
        return student_label(self.student_id, self.name)


def write_class_dashboard(
    store: ResultStore,
    task: Task,
    out: Path,
    *,
    grades: Sequence[StoredGrade] | None = None,
    leaderboard: bool = False,
) -> Path:
    """Write ``out/dashboard.html`` for the class graded into ``store`` and return its path.

    The page shows the distribution of total marks and of each metric of the task (the
    rubric's floor and target marked on each), a summary line, the failures grouped by
    kind with links to ``reports/<student>.html``, the class's subgroup gaps where the task
    has subgroups and the sections the task's output kind adds (a segmentation task's
    per-structure results). ``leaderboard``
    adds the students ranked by total (ties share a rank); it is off by default because a
    ranking of named students is not for every audience. The file is replaced whole.

    ``grades`` are the class's newest grades when the caller has read them (a batch hands
    the ones its gradebooks were written from); by default they are read from ``store``.
    """
    if grades is None:
        grades = store.latest_grades(task.id, task.spec.version, GRADED_SPLIT)
    members = store.class_members()
    students, evaluations = _read_class(store, grades, out, members)
    graded = {s.student_id for s in students}
    missing = sorted(
        (m for m in members.values() if m.enrolled and m.student_id not in graded),
        key=lambda m: m.student_id,
    )
    html = (
        _environment()
        .get_template("dashboard.html.j2")
        .render(
            task=task,
            version=__version__,
            split=GRADED_SPLIT,
            summary=_summary(students, task) | {"missing": len(missing)},
            missing=missing,
            marks_chart=_marks_chart(students, task),
            metric_sections=_metric_sections(students, task),
            unreadable=[s.student_id for s in students if not s.readable],
            failures=_failure_groups(students),
            subgroup_rows=_subgroup_rows(students, task),
            subgroup_chart=_subgroup_chart(students, task),
            kind_sections=_kind_sections(students, task),
            spread=spread_cell,
            students=students,
            students_by_id={s.student_id: s for s in students},
            ranking=_ranking(students) if leaderboard else None,
            integrity=class_flags(evaluations, reference_code=_reference_code(task)),
            latest_run=max((s.created_at for s in students), default=None),
        )
    )
    out.mkdir(parents=True, exist_ok=True)
    path = OutputFolder(out).dashboard
    write_text_atomically(path, html)
    return path


def _read_class(
    store: ResultStore,
    grades: Sequence[StoredGrade],
    out: Path,
    members: Mapping[str, ClassMember],
) -> tuple[list[_Student], list[Evaluation]]:
    """The class's students, and the stored evaluations that could be read."""
    folder = OutputFolder(out)
    students = []
    evaluations = []
    for grade in grades:
        student_id = grade.student_id
        metrics: Mapping[str, MetricResult] = {}
        subgroups: tuple[SubgroupReport, ...] = ()
        kind_results: object = None
        readable = False
        flags: tuple[str, ...] = ()
        if grade.has_document:
            try:
                evaluation = store.load_evaluation(grade.run_id)
            except (StoredEvaluationError, zlib.error, ValueError):
                pass  # listed on the page as a run whose metrics cannot be shown
            else:
                metrics, subgroups = evaluation.metrics, evaluation.subgroups
                kind_results, readable = evaluation.kind_results, True
                flags = evaluation.flags
                evaluations.append(evaluation)
        students.append(
            _Student(
                student_id=student_id,
                status=grade.status,
                failure_kind=grade.failure_kind,
                failure_message=_shorten(grade.failure_message or ""),
                total=grade.total,
                pending=tuple(m.title for m in grade.pending),
                report=folder.report_link(student_id)
                if folder.report(student_id).is_file()
                else None,
                metrics=metrics,
                subgroups=subgroups,
                kind_results=kind_results,
                readable=readable,
                created_at=grade.created_at,
                flags=flags,
                name=members[student_id].name if student_id in members else "",
                late=student_id in members and members[student_id].late,
            )
        )
    return students, evaluations


def _reference_code(task: Task) -> str | None:
    try:
        return submission_code(task.reference_dir())
    except (MedgradeError, OSError):  # a task whose reference is not here: no comparison
        return None


def _shorten(message: str) -> str:
    if len(message) <= MESSAGE_CHARACTERS:
        return message
    return message[: MESSAGE_CHARACTERS - 1].rstrip() + "\u2026"


def _summary(students: Sequence[_Student], task: Task) -> dict[str, object]:
    totals = [s.total for s in students]
    return {
        "students": len(students),
        "graded": sum(s.status == "graded" for s in students),
        "failed": sum(s.status == "failed" for s in students),
        "pending": sum(bool(s.pending) for s in students),
        "mean": statistics.fmean(totals) if totals else None,
        "median": statistics.median(totals) if totals else None,
        "max_points": task.rubric.max_points,
    }


def _marks_chart(students: Sequence[_Student], task: Task) -> str:
    totals = [s.total for s in students]
    return histogram_chart(
        totals,
        title="Total marks",
        x_title=f"total marks (of {task.rubric.max_points:g})",
        low=0.0,
        high=task.rubric.max_points,
        references=[ReferenceLine(statistics.median(totals), "class median")] if totals else [],
    )


def _rubric_lines(task: Task, metric: str) -> list[ReferenceLine]:
    """The rubric's anchors on ``metric``: a linear criterion's floor (a null model's
    score, 0 points) and target (the reference's, full points), or a banded criterion's
    bands."""
    lines: list[ReferenceLine] = []
    for criterion in task.rubric.automatic_criteria:
        if criterion.metric != metric:
            continue
        scale = criterion.scale
        if isinstance(scale, LinearScale):
            lines.append(ReferenceLine(scale.floor, "floor: null model, 0 points", "floor"))
            lines.append(ReferenceLine(scale.target, "target: reference, full points", "target"))
        elif isinstance(scale, BandScale):
            sign = "\u2265" if METRICS[metric].higher_is_better else "\u2264"
            for band in scale.bands:
                tone = "target" if band.points == criterion.points else "neutral"
                lines.append(
                    ReferenceLine(band.at, f"{sign} {band.at:g}: {band.points:g} points", tone)
                )
    return lines


def _metric_sections(students: Sequence[_Student], task: Task) -> list[dict[str, object]]:
    sections = []
    scored = [s for s in students if s.status == "graded" and s.readable]
    for metric in task.spec.metrics:
        name = metric.name
        values = [s.metrics[name].value for s in scored if name in s.metrics]
        title = metric_title(name)
        better = "higher" if METRICS[name].higher_is_better else "lower"
        sections.append(
            {
                "name": name,
                "title": title,
                "better": better,
                "spread": Spread.of(values),
                "undefined": sum(math.isnan(v) for v in values),
                "marked": any(c.metric == name for c in task.rubric.automatic_criteria),
                "chart": histogram_chart(
                    values,
                    title=title,
                    x_title=f"{title} ({better} is better)",
                    references=_rubric_lines(task, name),
                ),
            }
        )
    return sections


def _failure_groups(students: Sequence[_Student]) -> list[dict[str, object]]:
    """The failed students by failure kind, the most common kind first."""
    by_kind: dict[str, list[_Student]] = {}
    for student in students:
        if student.status == "failed":
            by_kind.setdefault(student.failure_kind or "unknown", []).append(student)
    return [
        {
            "kind": kind,
            "title": kind.replace("_", " "),
            "explanation": FAILURE_EXPLANATIONS.get(kind, ""),
            "students": members,
        }
        for kind, members in sorted(by_kind.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


def _subgroup_title(report: SubgroupReport) -> str:
    return f"{metric_title(report.metric)} by {report.attribute}"


def _subgroup_reports(
    students: Sequence[_Student],
) -> dict[tuple[str, str], list[tuple[str, SubgroupReport]]]:
    """Each (attribute, metric) pair's report of every student, in the task's order."""
    reports: dict[tuple[str, str], list[tuple[str, SubgroupReport]]] = {}
    for student in students:
        for report in student.subgroups:
            reports.setdefault((report.attribute, report.metric), []).append(
                (student.student_id, report)
            )
    return reports


def _subgroup_rows(students: Sequence[_Student], task: Task) -> list[dict[str, object]]:
    if not task.spec.subgroups:
        return []
    rows = []
    for pairs in _subgroup_reports(students).values():
        defined = [(sid, r) for sid, r in pairs if r.max_minus_min.defined]
        largest = max(defined, key=lambda pair: pair[1].max_minus_min.value, default=None)
        worst = Counter(
            str(r.worst_group) for _, r in defined if r.worst_group is not None
        ).most_common(1)
        rows.append(
            {
                "title": _subgroup_title(pairs[0][1]),
                "students": len(pairs),
                "not_estimable": len(pairs) - len(defined),
                "spread": Spread.of([r.max_minus_min.value for _, r in defined]),
                "largest": None
                if largest is None
                else (largest[0], largest[1].max_minus_min.value),
                "worst_group": worst[0] if worst else None,
            }
        )
    return rows


def _subgroup_chart(students: Sequence[_Student], task: Task) -> str | None:
    reports = _subgroup_reports(students)
    if not task.spec.subgroups or not reports:
        return None
    return strip_chart(
        [_subgroup_title(pairs[0][1]) for pairs in reports.values()],
        [[r.max_minus_min.value for _, r in pairs] for pairs in reports.values()],
        title="Subgroup gaps across the class",
        x_title="best minus worst group (metric units)",
    )


def _kind_sections(students: Sequence[_Student], task: Task) -> list[str]:
    """The sections the task's output kind adds, from its results of the class's runs."""
    results = [s.kind_results for s in students if s.kind_results is not None]
    sections = output_kind(task.spec.output.kind).class_sections(results, task)
    return render_sections(sections, {"task": task, "metric_title": metric_title})


def _ranking(students: Sequence[_Student]) -> list[tuple[int, _Student]]:
    """Students by total, highest first; equal totals share the better rank (1, 2, 2, 4)."""
    ordered = sorted(students, key=lambda s: (-s.total, s.student_id))
    ranked = []
    for position, student in enumerate(ordered):
        tied = position > 0 and student.total == ordered[position - 1].total
        ranked.append((ranked[-1][0] if tied else position + 1, student))
    return ranked
