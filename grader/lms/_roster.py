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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from grader.errors import SpecError
from grader.submission import Submission


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
                if not student_id:
                    problems.append(f"row {line}, column student_id: empty")
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
