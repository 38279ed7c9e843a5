"""What a student's name or file name can do to the marker's files: nothing.

Names that a spreadsheet would run as formulas are written as text in every CSV export;
ids made of dots and class-folder entries that are symbolic links are refused with a
message before anything runs.
"""

from __future__ import annotations

import csv
import shutil

import pytest

from grader import journeys
from grader._fs import remove_tree
from grader.errors import SpecError, SubmissionError
from grader.gradebook import from_spreadsheet_text, read_manual_marks, spreadsheet_text
from grader.lms import CANVAS_FILE, MOODLE_FILE, read_roster
from grader.lms._intake import read_download
from grader.rubric import ManualMarks
from grader.submission import Submission
from sandbox import LocalBackend
from tests.conftest import EXAMPLES, TASK_ID, replaying

FORMULAS = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)"]


@pytest.mark.parametrize("text", FORMULAS)
def test_a_formula_is_written_as_text_and_read_back_unchanged(text):
    cell = spreadsheet_text(text)
    assert cell.startswith("'") and cell[1:] == text
    assert from_spreadsheet_text(cell) == text
    assert spreadsheet_text("Smith, John") == "Smith, John"


def test_no_export_writes_a_name_a_spreadsheet_would_run(tmp_path):
    download = tmp_path / "download"
    download.mkdir()
    # Moodle takes the folder's name from the student's own display name.
    student = download / "=HYPERLINK(x)_2001_assignsubmission_file_"
    shutil.copytree(EXAMPLES / "weak", student, ignore=shutil.ignore_patterns("__pycache__"))
    roster = tmp_path / "roster.csv"
    roster.write_text(
        'student_id,name,email,section\n2001,"=HYPERLINK(""http://x"")",+1@x,@SUM(1)\n'
        '2002,"-cmd|/c calc",a@b,A\n'
    )
    out = tmp_path / "out"
    journeys.grade(
        download,
        TASK_ID,
        backend=replaying(),
        out=out,
        roster=roster,
        lms=["canvas", "moodle"],
        assignment_name="Project",
    )
    for name in (
        CANVAS_FILE,
        MOODLE_FILE,
        "gradebook.csv",
        "manual_marks.csv",
    ):
        with (out / name).open(newline="", encoding="utf-8") as handle:
            cells = [cell for row in csv.reader(handle) for cell in row]
        dangerous = [
            c
            for c in cells
            if c[:1] in ("=", "+", "@") or (c[:1] == "-" and c != "-" and not _number(c))
        ]
        assert dangerous == [], name


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_manual_marks_of_an_escaped_id_are_still_found(tmp_path):
    from grader.tasks import load_task

    rubric = load_task(TASK_ID).rubric
    sheet = tmp_path / "manual_marks.csv"
    sheet.write_text(f"student_id,writeup,comment\n{spreadsheet_text('@alice')},15,\n")
    assert read_manual_marks(sheet, rubric) == {"@alice": ManualMarks({"writeup": 15.0})}


@pytest.mark.parametrize("student_id", ["..", "...", "a/../b", ""])
def test_a_student_id_that_cannot_name_files_is_refused(tmp_path, student_id):
    submissions = [Submission(student_id, EXAMPLES / "weak"), Submission("bob", EXAMPLES / "weak")]
    with pytest.raises(SubmissionError, match="cannot name a student"):
        journeys.grade(
            submissions, TASK_ID, backend=LocalBackend(), unsafe_local=True, out=tmp_path / "out"
        )
    assert not (tmp_path / "out").exists()


def test_a_roster_id_made_of_dots_or_a_path_is_refused(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name\n..,Dot\nx/y,Slash\n")
    with pytest.raises(SpecError) as caught:
        read_roster(roster)
    message = str(caught.value)
    assert "row 2, column student_id" in message and "dots" in message
    assert "row 3, column student_id" in message and "path separator" in message


def test_a_symbolic_link_in_the_class_folder_is_refused(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copytree(EXAMPLES / "weak", folder / "bob")
    (folder / "mallory").symlink_to("/etc")
    with pytest.raises(SubmissionError, match="mallory is a symbolic link"):
        read_download(folder)
    assert not (tmp_path / "out").exists()


def test_a_submission_nested_thousands_deep_is_a_graded_failure(tmp_path, validation_split):
    from grader.evaluation import evaluate

    folder = tmp_path / "deep"
    shutil.copytree(EXAMPLES / "weak", folder)
    current = folder
    try:
        for _ in range(1500):
            current = current / "d"
            current.mkdir()
        evaluation = evaluate(
            folder,
            student_id="deep",
            prepared=validation_split,
            backend=LocalBackend(),
            workdir=tmp_path,
        )
        assert evaluation.failure is not None and evaluation.failure.kind == "invalid_submission"
        assert "nests folders more than" in evaluation.failure.message
        assert not list(tmp_path.glob("medgrade-run-*"))
    finally:
        remove_tree(folder)  # pytest's own clean-up recurses per level
