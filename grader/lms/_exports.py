"""Gradebooks in the formats learning management systems import, derived from the store.

Each is written whole and renamed into place, like the plain gradebook, and is rebuilt from
the store after every batch, so it always agrees with ``gradebook.csv``.

A student with a manual criterion still pending gets **no grade** in the Canvas and Moodle
files (a blank cell, which both leave untouched on import), so a partial total is never
posted as if it were the grade; the Moodle feedback comment says what is pending and the
points so far.  Gradescope's autograder score is by design the automatic part of a grade
(manual questions sit beside it), so ``results.json`` carries the points awarded so far and
lists each pending criterion as a test without a score.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from grader.errors import MedgradeError
from grader.gradebook import spreadsheet_text
from grader.lms._roster import Student
from grader.output import OutputFolder, write_text_atomically
from grader.store import StoredGrade, student_label
from grader.tasks import Task

LmsFormat = Literal["canvas", "moodle", "gradescope"]
LMS_FORMATS: tuple[LmsFormat, ...] = get_args(LmsFormat)

CANVAS_FILE = "canvas_gradebook.csv"
MOODLE_FILE = "moodle_grading_worksheet.csv"
GRADESCOPE_DIR = "gradescope"

#: The student columns Canvas's gradebook import reads (``GradebookImporter``), before one
#: column per assignment named ``<title> (<assignment id>)``.
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
#: The second row: Canvas takes each assignment's points possible from it.
CANVAS_POINTS_POSSIBLE = "Points Possible"
#: Moodle's grading worksheet (``assign_grading_table`` downloaded as CSV); its upload reads
#: ``Identifier``, ``Grade``, ``Last modified (grade)`` and ``Feedback comments``.
MOODLE_COLUMNS = (
    "Identifier",
    "Full name",
    "Email address",
    "Status",
    "Grade",
    "Maximum Grade",
    "Grade can be changed",
    "Last modified (submission)",
    "Last modified (grade)",
    "Feedback comments",
)
#: Moodle's ``Identifier``: ``Participant `` and the participant id.
MOODLE_PARTICIPANT = "Participant "
#: Gradescope shows the results once the marker publishes the grades.
GRADESCOPE_VISIBILITY = "after_published"
#: Failure messages are cut to this length in feedback comments.
_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class LmsExport:
    """Which LMS gradebooks to write, and the assignment they are for."""

    formats: tuple[LmsFormat, ...] = ()
    #: The assignment's title in the LMS (Canvas matches on it without an id).
    assignment_name: str | None = None
    #: The assignment's id in the LMS (Canvas: the number in the assignment's URL).
    assignment_id: str | None = None

    @classmethod
    def parse(
        cls,
        formats: Iterable[str],
        *,
        assignment_name: str | None = None,
        assignment_id: str | None = None,
    ) -> LmsExport:
        """Check the marker's ``--lms`` choices before anything runs."""
        chosen: list[LmsFormat] = []
        for name in formats:
            known = next((f for f in LMS_FORMATS if f == name.strip().lower()), None)
            if known is None:
                raise MedgradeError(
                    f"--lms {name}: not a gradebook format; choose from {', '.join(LMS_FORMATS)}"
                )
            if known not in chosen:
                chosen.append(known)
        if "canvas" in chosen and not (assignment_name or assignment_id):
            raise MedgradeError(
                "--lms canvas needs the Canvas assignment: --assignment-id (the number in the "
                "assignment's URL, .../assignments/<id>) or --assignment-name (its exact title)"
            )
        if assignment_id is not None and not assignment_id.strip().isdigit():
            raise MedgradeError(
                f"--assignment-id {assignment_id}: an LMS assignment id is a number, e.g. 7148451"
            )
        return cls(tuple(chosen), assignment_name, assignment_id and assignment_id.strip())

    def canvas_column(self, task: Task) -> str:
        """``<title> (<id>)``, which Canvas matches on the id; a bare title it matches on
        the title."""
        title = self.assignment_name or task.spec.title
        return f"{title} ({self.assignment_id})" if self.assignment_id else title


def write_lms_exports(
    grades: Sequence[StoredGrade],
    task: Task,
    export: LmsExport,
    *,
    students: Mapping[str, Student],
    missing: Iterable[str],
    out: Path,
    now: dt.datetime | None = None,
) -> tuple[Path, ...]:
    """Write each format of ``export`` for ``grades`` (each student's newest) into ``out``;
    returns the files (or folder) written.

    ``students`` names the students (roster, else the LMS download); ``missing`` are roster
    students without a submission, listed with no grade.
    """
    missing_students = [students.get(s, Student(s)) for s in sorted(set(missing))]
    written: list[Path] = []
    for name in export.formats:
        if name == "canvas":
            written.append(
                write_canvas_gradebook(
                    grades, missing_students, students, task, export, out / CANVAS_FILE
                )
            )
        elif name == "moodle":
            written.append(
                write_moodle_worksheet(
                    grades,
                    missing_students,
                    students,
                    task,
                    out / MOODLE_FILE,
                    now=now or dt.datetime.now(dt.UTC),
                )
            )
        else:
            written.append(write_gradescope_results(grades, task, out / GRADESCOPE_DIR))
    return tuple(written)


def write_canvas_gradebook(
    grades: Sequence[StoredGrade],
    missing: Sequence[Student],
    students: Mapping[str, Student],
    task: Task,
    export: LmsExport,
    path: Path,
) -> Path:
    """Canvas's gradebook import: the student columns, one assignment column, and a
    ``Points Possible`` row under the header."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow([*CANVAS_STUDENT_COLUMNS, export.canvas_column(task)])
    writer.writerow([CANVAS_POINTS_POSSIBLE, "", "", "", "", _number(task.rubric.max_points)])
    rows = [(students.get(g.student_id, Student(g.student_id)), _lms_grade(g)) for g in grades]
    rows += [(student, "") for student in missing]
    for student, grade in sorted(rows, key=lambda row: row[0].student_id):
        writer.writerow(
            [
                *map(
                    spreadsheet_text,
                    (
                        student.name,
                        student.student_id,
                        student.sis_id,
                        student.sis_login_id,
                        student.section,
                    ),
                ),
                grade,
            ]
        )
    write_text_atomically(path, handle.getvalue())
    return path


def write_moodle_worksheet(
    grades: Sequence[StoredGrade],
    missing: Sequence[Student],
    students: Mapping[str, Student],
    task: Task,
    path: Path,
    *,
    now: dt.datetime,
) -> Path:
    """Moodle's grading worksheet, to upload with "Upload grading worksheet".

    ``Last modified (grade)`` is the time of this export: Moodle skips a row whose grade was
    changed in Moodle after it (unless the marker allows that on upload), so grades entered
    by hand in Moodle since are never overwritten unawares.
    """
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=MOODLE_COLUMNS)
    writer.writeheader()
    exported = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    maximum = _number(task.rubric.max_points)
    rows: list[tuple[Student, StoredGrade | None]] = [
        (students.get(g.student_id, Student(g.student_id)), g) for g in grades
    ]
    rows += [(student, None) for student in missing]
    for student, grade in sorted(rows, key=lambda row: row[0].student_id):
        writer.writerow(
            {
                "Identifier": f"{MOODLE_PARTICIPANT}{student.student_id}",
                "Full name": spreadsheet_text(student.name),
                "Email address": spreadsheet_text(student.email),
                "Status": "No submission" if grade is None else "Submitted for grading",
                "Grade": "" if grade is None else _lms_grade(grade),
                "Maximum Grade": maximum,
                "Grade can be changed": "Yes",
                "Last modified (submission)": "-",
                "Last modified (grade)": exported,
                "Feedback comments": ""
                if grade is None
                else spreadsheet_text(feedback_comment(grade)),
            }
        )
    write_text_atomically(path, handle.getvalue())
    return path


def write_gradescope_results(grades: Sequence[StoredGrade], task: Task, folder: Path) -> Path:
    """``<folder>/<student>/results.json`` in the Gradescope autograder format."""
    unusable = [
        g.student_id for g in grades if (folder / g.student_id).resolve().parent != folder.resolve()
    ]
    if unusable:  # ids are checked at intake; nothing is written if one slipped through
        raise ValueError(f"student ids {unusable!r} cannot name folders")
    for grade in grades:
        student_folder = folder / grade.student_id
        student_folder.mkdir(parents=True, exist_ok=True)
        write_text_atomically(
            student_folder / "results.json",
            json.dumps(gradescope_results(grade, task), indent=2, ensure_ascii=False) + "\n",
        )
    return folder


def gradescope_results(grade: StoredGrade, task: Task) -> dict[str, object]:
    """One submission's ``results.json``: the points so far as ``score``, and a test per
    criterion and deduction (a pending criterion has no score yet)."""
    tests: list[dict[str, object]] = []
    for mark in grade.marks:
        test: dict[str, object] = {"name": mark.title}
        if mark.points is not None:
            test["score"] = mark.points
        test["max_score"] = mark.max_points
        test["output"] = (
            f"{mark.explanation}\n\nMarker's comment: {mark.comment}"
            if mark.comment
            else mark.explanation
        )
        test["visibility"] = GRADESCOPE_VISIBILITY
        test["extra_data"] = {"criterion": mark.id, "status": mark.status}
        tests.append(test)
    results: dict[str, object] = {"score": grade.total}
    if grade.wall_time_s is not None:
        results["execution_time"] = round(grade.wall_time_s)
    results["output"] = feedback_comment(grade)
    results["visibility"] = GRADESCOPE_VISIBILITY
    results["extra_data"] = {
        "student_id": grade.student_id,
        "task": task.id,
        "task_version": task.spec.version,
        "status": grade.status,
        "failure_kind": grade.failure_kind,
        "pending": [m.id for m in grade.pending],
    }
    results["tests"] = tests
    return results


def feedback_comment(grade: StoredGrade) -> str:
    """What the grade is made of, in a sentence or three (Moodle feedback, Gradescope
    output): a failure first, then what is still pending, then each criterion's points; then
    the marker's comments, each criterion's and the general one."""
    sentences = []
    if grade.failure_kind is not None:
        message = (grade.failure_message or "").strip().rstrip(".")
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 3].rstrip() + "..."
        sentences.append(
            f"The submission failed ({grade.failure_kind})" + (f": {message}" if message else "")
        )
    pending = grade.pending
    if pending:
        marked = sum(m.max_points for m in grade.marks if m.status == "awarded")
        titles = "; ".join(f"{m.title} ({_number(m.max_points)} points)" for m in pending)
        sentences.append(
            f"Still to be marked by hand: {titles}; the grade is entered when marking is "
            f"complete. Points so far: {_number(grade.total)} of {_number(marked)}"
        )
    else:
        sentences.append(f"Total: {_number(grade.total)} / {_number(grade.max_points)}")
    parts = [
        f"{m.title} ({_number(m.points)} / {_number(m.max_points)})"
        for m in grade.marks
        if m.status == "awarded" and m.points is not None
    ]
    parts += [
        f"{m.title} ({_number(m.points)})"
        for m in grade.marks
        if m.status == "penalty" and m.points is not None
    ]
    if parts:
        sentences.append("; ".join(parts))
    text = ". ".join(sentences) + "."
    comments = [f"{m.title}: {m.comment}" for m in grade.marks if m.comment]
    if grade.comment:
        comments.append(grade.comment)
    if comments:
        text += "\n\nMarker's comments:\n" + "\n".join(comments)
    return text


def write_feedback_files(
    grades: Sequence[StoredGrade], task: Task, out: Path, names: Mapping[str, str]
) -> Path:
    """``out/feedback/<student>.txt`` per grade: what a marker hands back by mail or an
    LMS's feedback files, each criterion's points, how they came about and the marker's
    comment, then the general comment (the report says the same, with its charts)."""
    folder = OutputFolder(out)
    folder.feedback.mkdir(parents=True, exist_ok=True)
    for grade in grades:
        write_text_atomically(
            folder.feedback_file(grade.student_id),
            feedback_text(grade, task, names.get(grade.student_id, "")),
        )
    return folder.feedback


def feedback_text(grade: StoredGrade, task: Task, name: str = "") -> str:
    pending = f" (still to be marked: {', '.join(m.title for m in grade.pending)})"
    lines = [
        f"{student_label(grade.student_id, name)}: {task.spec.title}",
        f"Total: {_number(grade.total)} / {_number(grade.max_points)}"
        + (pending if grade.pending else ""),
    ]
    if grade.failure_kind is not None:
        lines.append(f"The submission failed ({grade.failure_kind}): {grade.failure_message}")
    for mark in grade.marks:
        points = "pending" if mark.points is None else _number(mark.points)
        maximum = "" if mark.status == "penalty" else f" / {_number(mark.max_points)}"
        lines += ["", f"{mark.title}: {points}{maximum}", f"  {mark.explanation}"]
        if mark.comment:
            lines.append(f"  Marker's comment: {mark.comment}")
    if grade.comment:
        lines += ["", "Feedback from your marker:", grade.comment]
    return "\n".join(lines) + "\n"


def _lms_grade(grade: StoredGrade) -> str:
    """The grade an LMS gets: the total, or nothing while a criterion is pending."""
    return "" if grade.pending else _number(grade.total)


def _number(value: float) -> str:
    return f"{value:g}"
