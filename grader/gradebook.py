"""The gradebook CSV (derived from the store) and the marker's manual-marks CSV.

Both are written whole to a temporary file beside them and renamed over the old one, so a
grader killed at any moment leaves the old file or the new one, never part of one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from grader.errors import SpecError
from grader.output import write_text_atomically
from grader.rubric import ManualMarks, Rubric
from grader.store import ClassMember, StoredGrade

#: The gradebook's and the marks sheet's column for the student's name (read by neither).
NAME_COLUMN = "name"
#: The gradebook's column saying a hand-in was late (``late`` is the late policy's penalty).
LATE_COLUMN = "handed_in_late"
#: The manual-marks sheet's column for a criterion's comment: ``<criterion id>_comment``.
COMMENT_SUFFIX = "_comment"
#: The sheet's column for the general comment.
GENERAL_COMMENT = "comment"
#: A cell starting with one of these is a formula to a spreadsheet (OWASP, CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """``text`` as a CSV cell that every spreadsheet shows as text: a name or id that would
    start a formula (``=HYPERLINK(...)``) gets a leading apostrophe, as OWASP advises.
    Only for text a person chose; numbers (a penalty's -5) stay numbers."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def from_spreadsheet_text(text: str) -> str:
    """The text :func:`spreadsheet_text` made a cell of."""
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_STARTS) else text


def write_gradebook(
    grades: Sequence[StoredGrade],
    rubric: Rubric,
    *,
    path: Path,
    missing: Iterable[str] = (),
    members: Mapping[str, ClassMember] | None = None,
) -> Path:
    """One row per student of ``grades`` (each student's newest, as
    :meth:`grader.store.ResultStore.latest_grades` reads them): status, one column per
    criterion and penalty, total, max, pending.

    ``missing`` are students on the roster without a submission: their row says ``missing``
    and holds no marks.  ``members`` (the store's class) adds a ``name`` column where any
    student has a name, and a ``handed_in_late`` column where any hand-in was late (the LMS
    said so, or the late policy took points: its penalty column says how many).
    """
    members = members or {}
    criterion_ids = [c.id for c in rubric.criteria]
    penalty_ids = rubric.penalty_ids
    named = any(m.name for m in members.values())
    any_late = any(m.late for m in members.values())
    columns = [
        "student_id",
        *([NAME_COLUMN] if named else []),
        *([LATE_COLUMN] if any_late else []),
        "status",
        "failure_kind",
        *criterion_ids,
        *penalty_ids,
        "total",
        "max",
        "pending",
    ]
    rows: list[dict[str, object]] = []
    for grade in grades:
        row: dict[str, object] = {
            "student_id": spreadsheet_text(grade.student_id),
            "status": grade.status,
            "failure_kind": grade.failure_kind or "",
            "total": _number(grade.total),
            "max": _number(grade.max_points),
            "pending": " ".join(m.id for m in grade.pending if m.id in criterion_ids),
        }
        for criterion in criterion_ids:
            mark = grade.mark(criterion)
            row[criterion] = "" if mark is None or mark.points is None else _number(mark.points)
        for penalty in penalty_ids:
            mark = grade.mark(penalty)
            row[penalty] = _number(mark.points) if mark is not None and mark.points else 0
        rows.append(row)
    rows += [
        {
            "student_id": spreadsheet_text(student),
            "status": "missing",
            "max": _number(rubric.max_points),
        }
        for student in sorted(set(missing) - {grade.student_id for grade in grades})
    ]
    for row in rows:
        member = members.get(from_spreadsheet_text(str(row["student_id"])))
        if member is not None:
            row[NAME_COLUMN] = spreadsheet_text(member.name)
            row[LATE_COLUMN] = "yes" if member.late and row["status"] != "missing" else ""
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=columns, restval="", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: str(row["student_id"])))
    write_text_atomically(path, handle.getvalue())
    return path


def _number(value: float) -> str:
    return f"{value:g}"


def read_manual_marks(path: Path, rubric: Rubric) -> dict[str, ManualMarks]:
    """Points and comments per student; blank point cells stay pending.

    Each manual criterion has a points column (its id) and a comment column
    (``<id>_comment``); ``comment`` is the general comment.  Comments reach the student:
    their report, the Moodle worksheet's feedback and Gradescope's output.  Errors name the
    file, the row and the column, so the marker can fix the sheet.
    """
    manual = {c.id: c.points for c in rubric.manual_criteria}
    if not path.exists():
        return {}
    marks: dict[str, ManualMarks] = {}
    problems: list[str] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "student_id" not in reader.fieldnames:
            raise SpecError(path, ["header: the first column must be 'student_id'"])
        known = {"student_id", NAME_COLUMN, GENERAL_COMMENT, *manual}
        known |= {c + COMMENT_SUFFIX for c in manual}
        unknown = [f for f in reader.fieldnames if f not in known]
        if unknown:
            problems.append(
                f"header: unknown column(s) {unknown}; manual criteria are {sorted(manual)}, "
                f"each with a {COMMENT_SUFFIX!r} column, and {GENERAL_COMMENT!r} is the general "
                "comment"
            )
        for line, row in enumerate(reader, start=2):
            student = from_spreadsheet_text((row.get("student_id") or "").strip())
            points = _points(row, manual, f"row {line}", problems)
            comments = {
                criterion: text
                for criterion in manual
                if (text := _comment(row.get(criterion + COMMENT_SUFFIX)))
            }
            general = _comment(row.get(GENERAL_COMMENT))
            if points or comments or general:
                earlier = marks.get(student, ManualMarks())  # a student's rows add up
                marks[student] = ManualMarks(
                    {**earlier.points, **points},
                    {**earlier.comments, **comments},
                    general or earlier.comment,
                )
    if problems:
        raise SpecError(path, problems)
    return marks


def _points(
    row: dict[str, str], manual: dict[str, float], where: str, problems: list[str]
) -> dict[str, float]:
    """The points a row gives each manual criterion; what is wrong goes to ``problems``."""
    points: dict[str, float] = {}
    for criterion, maximum in manual.items():
        cell = (row.get(criterion) or "").strip()
        if not cell:
            continue
        try:
            value = float(cell)
        except ValueError:
            problems.append(f"{where}, column {criterion}: {cell!r} is not a number")
            continue
        if not 0 <= value <= maximum:
            problems.append(f"{where}, column {criterion}: {cell} is outside 0..{maximum:g}")
            continue
        points[criterion] = value
    return points


def _comment(cell: str | None) -> str:
    return from_spreadsheet_text((cell or "").strip())


def ensure_manual_marks_sheet(
    path: Path,
    rubric: Rubric,
    student_ids: Iterable[str],
    names: Mapping[str, str] | None = None,
) -> None:
    """Create the sheet, or add rows for new students, keeping every mark already entered;
    with ``names`` (from the roster or the LMS), a ``name`` column beside the id, for the
    marker to read (the sheet is read by id)."""
    manual = [c.id for c in rubric.manual_criteria]
    if not manual:
        return
    names = names or {}
    rows: list[dict[str, str]] = []
    if path.exists():
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    present = {from_spreadsheet_text(row.get("student_id", "")) for row in rows}
    rows += [{"student_id": spreadsheet_text(s)} for s in student_ids if s not in present]
    named = any(names.values()) or any(row.get(NAME_COLUMN) for row in rows)
    for row in rows:
        name = names.get(from_spreadsheet_text(row.get("student_id", "")))
        if name:
            row[NAME_COLUMN] = spreadsheet_text(name)
    columns = ["student_id", *([NAME_COLUMN] if named else [])]
    for criterion in manual:
        columns += [criterion, criterion + COMMENT_SUFFIX]
    columns.append(GENERAL_COMMENT)
    handle = io.StringIO(newline="")
    writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore", restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomically(path, handle.getvalue())
