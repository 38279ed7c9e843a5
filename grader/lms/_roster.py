"""The class roster: who is enrolled, under which ids, names and emails.

A CSV with a header row; ``student_id`` is required, the other columns are optional:

=================  ===========================================================================
``student_id``     the id submissions carry: the Canvas user id or Moodle participant id for
                   an LMS download, else the folder or zip name
``name``           the student's name (Canvas ``Student``, Moodle ``Full name``)
``email``          Moodle ``Email address``
``sis_id``         Canvas ``SIS User ID``
``sis_login_id``   Canvas ``SIS Login ID``
``section``        Canvas ``Section``
=================  ===========================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from grader.errors import SpecError
from grader.submission import Submission, unusable_student_id


@dataclass(frozen=True)
class Student:
    """One student as the gradebook exports name them."""

    student_id: str
    name: str = ""
    email: str = ""
    sis_id: str = ""
    sis_login_id: str = ""
    section: str = ""


#: The roster's columns, in the order of :class:`Student`'s fields.
ROSTER_COLUMNS = tuple(f.name for f in fields(Student))


def read_roster(path: Path) -> dict[str, Student]:
    """The students of ``path`` by id.  Errors name the file, the row and the column."""
    problems: list[str] = []
    students: dict[str, Student] = {}
    first_row: dict[str, int] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if "student_id" not in header:
                raise SpecError(
                    path,
                    [
                        f"header: a 'student_id' column is required; got {header}; the columns "
                        f"are {', '.join(ROSTER_COLUMNS)} (all but student_id optional)"
                    ],
                )
            unknown = [column for column in header if column not in ROSTER_COLUMNS]
            if unknown:
                problems.append(
                    f"header: unknown column(s) {unknown}; the columns are "
                    f"{', '.join(ROSTER_COLUMNS)}"
                )
            for line, row in enumerate(reader, start=2):
                values = {
                    column: (row.get(column) or "").strip()
                    for column in ROSTER_COLUMNS
                    if column in header
                }
                student_id = values["student_id"]
                unusable = unusable_student_id(student_id)
                if not student_id:
                    problems.append(f"row {line}, column student_id: empty")
                elif unusable is not None:
                    problems.append(
                        f"row {line}, column student_id: {student_id!r} cannot name a student: "
                        f"{unusable}"
                    )
                elif student_id in first_row:
                    problems.append(
                        f"row {line}, column student_id: {student_id!r} is already on row "
                        f"{first_row[student_id]}"
                    )
                else:
                    first_row[student_id] = line
                    students[student_id] = Student(**values)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SpecError(path, [f"cannot be read as a UTF-8 CSV file: {error}"]) from None
    if problems:
        raise SpecError(path, problems)
    return students


def class_list(
    roster: Mapping[str, Student] | None, submissions: Iterable[Submission]
) -> dict[str, Student]:
    """Everyone the gradebooks name: the roster, then students who submitted without being
    on it, under the name their LMS download gives (a roster name always wins)."""
    students = dict(roster or {})
    for submission in submissions:
        known = students.get(submission.student_id)
        if known is None:
            students[submission.student_id] = Student(
                submission.student_id, name=submission.name or ""
            )
        elif not known.name and submission.name:
            students[submission.student_id] = replace(known, name=submission.name)
    return students


#: The columns of a submission-times CSV.
SUBMISSION_TIMES_COLUMNS = ("student_id", "submitted_at")


def read_submission_times(path: Path) -> dict[str, dt.datetime]:
    """When each student handed in: a CSV with ``student_id`` and ``submitted_at`` (ISO 8601
    with a UTC offset, e.g. ``2026-12-02T09:30:00+00:00`` or ``...Z``).  Errors name the
    file, the row and the column; a time without an offset is refused rather than guessed."""
    problems: list[str] = []
    times: dict[str, dt.datetime] = {}
    first_row: dict[str, int] = {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [column for column in SUBMISSION_TIMES_COLUMNS if column not in header]
            if missing:
                raise SpecError(path, [f"header: column(s) {missing} required; got {header}"])
            for line, row in enumerate(reader, start=2):
                student_id = (row["student_id"] or "").strip()
                text = (row["submitted_at"] or "").strip()
                if not student_id:
                    problems.append(f"row {line}, column student_id: empty")
                    continue
                if student_id in first_row:
                    problems.append(
                        f"row {line}, column student_id: {student_id!r} is already on row "
                        f"{first_row[student_id]}"
                    )
                    continue
                first_row[student_id] = line
                try:
                    submitted_at = dt.datetime.fromisoformat(text)
                except ValueError:
                    problems.append(
                        f"row {line}, column submitted_at: {text!r} is not an ISO 8601 time "
                        "such as 2026-12-02T09:30:00+00:00"
                    )
                    continue
                if submitted_at.utcoffset() is None:
                    problems.append(
                        f"row {line}, column submitted_at: {text!r} has no UTC offset; add one "
                        f"({text}+00:00 for UTC)"
                    )
                    continue
                times[student_id] = submitted_at
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SpecError(path, [f"cannot be read as a UTF-8 CSV file: {error}"]) from None
    if problems:
        raise SpecError(path, problems)
    return times
