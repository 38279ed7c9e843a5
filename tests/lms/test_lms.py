"""LMS intake and gradebooks: Canvas and Moodle bulk downloads in, Canvas, Moodle and
Gradescope gradebooks out.

The downloads are built here from the bundled examples under the exact names each LMS gives
its files (Canvas ``lib/content_zipper.rb``; Moodle ``mod/assign/locallib.php``), a real
batch grades them (replaying recorded runs: tests.conftest.replaying), and the exports are read back as the LMS's
importer reads them (Canvas ``GradebookImporter``; Moodle ``assignfeedback_offline``;
Gradescope's autograder specification).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import journeys
from grader.errors import MedgradeError, SpecError, SubmissionError
from grader.lms import (
    CANVAS_FILE,
    GRADESCOPE_DIR,
    MOODLE_FILE,
    LmsExport,
    discover_submissions,
    read_download,
    read_roster,
)
from grader.store import ResultStore
from tests.conftest import EXAMPLES, TASK_ID, replaying

#: What Canvas's gradebook import reads: these student columns, then one column per
#: assignment titled ``<name> (<assignment id>)``, and a second row whose first cell holds
#: "Points Possible" with each assignment's points.
CANVAS_HEADER = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
#: Moodle's grading worksheet as "Download grading worksheet" writes it (without optional
#: identity fields); its upload finds Identifier, Grade, Last modified (grade) and each
#: feedback plugin's column by these exact English names.
MOODLE_HEADER = [
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
]
ASSIGNMENT_ID = "7148451"


# --- Downloads as the LMSs write them ----------------------------------------------------


def _zip_folder(source: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(source.iterdir()):
            if path.is_file():
                bundle.write(path, f"{source.name}/{path.name}")


def canvas_download(folder: Path) -> Path:
    """``<name>_[LATE_]<user id>_<attachment id>_<file>``; ``<name>_<user id>_text.html``."""
    folder.mkdir()
    weak = EXAMPLES / "weak"
    # Re-submitted: Canvas puts -1 before the first dot of the file's name.
    shutil.copy(weak / "predict.py", folder / "smithjohn_1001_90001_predict-1.py")
    shutil.copy(weak / "weights.json", folder / "smithjohn_1001_90002_weights.json")
    shutil.copy(EXAMPLES / "crashes" / "predict.py", folder / "doejane_LATE_1002_90003_predict.py")
    _zip_folder(EXAMPLES / "wrong-shape", folder / "leeann_1003_90004_wrong_shape.zip")
    (folder / "kimbo_1004_text.html").write_text("<p>I trained an MLP.</p>")
    return folder


def moodle_download(folder: Path) -> Path:
    """``<Full Name>_<participant id>_assignsubmission_<plugin>_/`` per student and plugin."""
    folder.mkdir()
    jane = folder / "Jane Doe_2001_assignsubmission_file_"
    shutil.copytree(EXAMPLES / "weak", jane, ignore=shutil.ignore_patterns("__pycache__"))
    john = folder / "John Smith_2002_assignsubmission_file_"
    john.mkdir()
    shutil.copy(EXAMPLES / "crashes" / "predict.py", john)
    online = folder / "John Smith_2002_assignsubmission_onlinetext_"
    online.mkdir()
    (online / "onlinetext.html").write_text("<p>See my file.</p>")
    ann = folder / "Ann Lee_2003_assignsubmission_file_"
    ann.mkdir()
    _zip_folder(EXAMPLES / "wrong-shape", ann / "submission.zip")
    return folder


# --- Intake ------------------------------------------------------------------------------


def test_a_canvas_download_is_grouped_by_canvas_user_id(tmp_path):
    download = read_download(canvas_download(tmp_path / "canvas"))
    assert download.layout == "canvas"
    assert download.student_ids == ["1001", "1002", "1003", "1004"]
    by_id = {s.student_id: s for s in download.students}
    assert by_id["1001"].name == "smithjohn" and not by_id["1001"].late
    assert by_id["1002"].late, "_LATE_ after the name marks a late submission"
    assert any("late: 1002" in note for note in download.notes)
    assert any("predict-1.py renamed back to predict.py" in note for note in download.notes)

    submissions = {s.student_id: s for s in download.submissions(tmp_path / "staging")}
    smith = submissions["1001"].path
    assert smith == tmp_path / "staging" / "1001"
    assert sorted(p.name for p in smith.iterdir()) == ["predict.py", "weights.json"]
    assert (smith / "predict.py").read_bytes() == (EXAMPLES / "weak" / "predict.py").read_bytes()
    assert submissions["1003"].path.name == "leeann_1003_90004_wrong_shape.zip", (
        "a lone zip is graded as it is"
    )
    assert [p.name for p in submissions["1004"].path.iterdir()] == ["text.html"]


def test_canvas_names_are_parsed_from_the_right_parts(tmp_path):
    folder = tmp_path / "canvas"
    folder.mkdir()
    for name in (
        "smithjohn_1001_90001_2024_report.pdf",  # the file's own name starts with digits
        "obrienpat_LATE_1002_90002_model-18.pt",  # not .py: Canvas's -N cannot be told apart
        "LATE_anon_x7Ky2_90003_predict.py",  # anonymous grading: no name
        "tanmei_1004_link.html",  # a URL submission
    ):
        (folder / name).write_text("x")
    download = read_download(folder)
    files = {s.student_id: [n for n, _ in s.files] for s in download.students}
    assert files == {
        "1001": ["2024_report.pdf"],
        "1002": ["model-18.pt"],
        "1004": ["link.html"],
        "anon_x7Ky2": ["predict.py"],
    }
    assert [s.late for s in download.students] == [False, True, False, True]


def test_a_moodle_download_is_grouped_by_participant_id(tmp_path):
    download = read_download(moodle_download(tmp_path / "moodle"))
    assert download.layout == "moodle"
    by_id = {s.student_id: s for s in download.submissions()}
    assert sorted(by_id) == ["2001", "2002", "2003"]
    assert by_id["2001"].name == "Jane Doe"
    assert by_id["2001"].path.name == "Jane Doe_2001_assignsubmission_file_", "used in place"
    assert by_id["2002"].path.name == "John Smith_2002_assignsubmission_file_"
    assert by_id["2003"].path.name == "submission.zip"
    assert any("left out 1 online-text" in note for note in download.notes)


def test_an_older_flat_moodle_download_is_gathered_per_student(tmp_path):
    folder = tmp_path / "moodle"
    folder.mkdir()
    weak = EXAMPLES / "weak"
    for name in ("predict.py", "weights.json"):
        shutil.copy(weak / name, folder / f"Jane Doe_2001_assignsubmission_file_{name}")
    shutil.copy(
        EXAMPLES / "crashes" / "predict.py",
        folder / "Participant_2002_assignsubmission_file_predict.py",  # anonymous marking
    )
    download = read_download(folder)
    assert download.layout == "moodle-files"
    submissions = {s.student_id: s for s in download.submissions(tmp_path / "staging")}
    assert sorted(p.name for p in submissions["2001"].path.iterdir()) == [
        "predict.py",
        "weights.json",
    ]
    assert submissions["2002"].name == "Participant"


def test_medgrade_s_own_layout_is_read_as_before(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copytree(EXAMPLES / "weak", folder / "alice")
    _zip_folder(EXAMPLES / "crashes", folder / "bob.zip")
    (folder / "carol_2023_final.py").write_text("x")
    submissions = discover_submissions(folder)
    assert [(s.student_id, s.path.name) for s in submissions] == [
        ("alice", "alice"),
        ("bob", "bob.zip"),
        ("carol_2023_final", "carol_2023_final.py"),
    ]


def test_a_download_with_stray_entries_is_refused_naming_them(tmp_path):
    folder = canvas_download(tmp_path / "canvas")
    (folder / "grades.csv").write_text("x")
    with pytest.raises(
        SubmissionError, match=r"looks like a Canvas .* 1 of its entries .*grades\.csv"
    ):
        read_download(folder)


def test_gathering_files_needs_a_staging_folder(tmp_path):
    with pytest.raises(SubmissionError, match="staging="):
        discover_submissions(canvas_download(tmp_path / "canvas"))


# --- Roster and options ------------------------------------------------------------------


def test_the_roster_maps_ids_to_names_and_names_every_problem(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student_id,name,email,sis_id,sis_login_id,section\n"
        '1001,"Smith, John",jsmith@uni.edu,S1001,jsmith,Lab A\n'
    )
    (student,) = read_roster(roster).values()
    assert (student.name, student.email, student.sis_id, student.sis_login_id) == (
        "Smith, John",
        "jsmith@uni.edu",
        "S1001",
        "jsmith",
    )
    roster.write_text("id,name\n1,x\n")
    with pytest.raises(SpecError, match="'student_id' column is required"):
        read_roster(roster)
    roster.write_text("student_id,nmae\n1,x\n1,y\n,z\n")
    with pytest.raises(SpecError) as error:
        read_roster(roster)
    assert error.value.problems == [
        "header: unknown column(s) ['nmae']; the columns are student_id, name, email, sis_id, "
        "sis_login_id, section",
        "row 3, column student_id: '1' is already on row 2",
        "row 4, column student_id: empty",
    ]


def test_lms_options_are_checked_before_anything_runs():
    with pytest.raises(MedgradeError, match="--lms blackboard: not a gradebook format"):
        LmsExport.parse(["blackboard"])
    with pytest.raises(MedgradeError, match="--lms canvas needs the Canvas assignment"):
        LmsExport.parse(["canvas"])
    with pytest.raises(MedgradeError, match="an LMS assignment id is a number"):
        LmsExport.parse(["canvas"], assignment_id="hw1")
    assert LmsExport.parse(["Moodle", "moodle", "gradescope"]).formats == ("moodle", "gradescope")


# --- A real batch and its gradebooks -----------------------------------------------------


def _csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def canvas_batch(tmp_path_factory) -> tuple[journeys.BatchResult, Path]:
    root = tmp_path_factory.mktemp("canvas-batch")
    download = canvas_download(root / "download")
    roster = root / "roster.csv"
    roster.write_text(
        "student_id,name,email,sis_id,sis_login_id,section\n"
        '1001,"Smith, John",jsmith@uni.edu,S1001,jsmith,Lab A\n'
        '1002,"Doe, Jane",jdoe@uni.edu,S1002,jdoe,Lab B\n'
        '1003,"Lee, Ann",alee@uni.edu,S1003,alee,Lab A\n'
        '1005,"Absent, Al",aabsent@uni.edu,S1005,aabsent,Lab B\n'
    )
    marks = root / "manual_marks.csv"
    marks.write_text(
        "student_id,writeup,writeup_comment,comment\n"
        '1001,15,"Clear figures, thin discussion.",Well done overall.\n'
        "1003,4,,\n"
    )
    out = root / "out"
    result = journeys.grade(
        download,
        TASK_ID,
        backend=replaying(),
        out=out,
        workers=2,
        manual_marks=marks,
        roster=roster,
        lms=["canvas", "moodle", "gradescope"],
        assignment_name="Mini-project 1",
        assignment_id=ASSIGNMENT_ID,
    )
    return result, out


def test_a_canvas_download_is_graded_under_canvas_user_ids(canvas_batch):
    result, out = canvas_batch
    kinds = {e.student_id: e.failure.kind if e.failure else None for e in result.evaluations}
    assert kinds == {
        "1001": None,
        "1002": "crashed",
        "1003": "wrong_shape",
        "1004": "contract_error",
    }
    assert result.missing == ("1005",)
    assert result.warnings == (
        "roster.csv: student '1004' has a submission but is not on the roster",
    )
    assert result.notes[0].endswith("a Canvas submissions download, 4 student(s)")
    assert result.exports == (out / CANVAS_FILE, out / MOODLE_FILE, out / GRADESCOPE_DIR)
    with (out / "gradebook.csv").open(newline="") as handle:
        plain = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert plain["1005"]["status"] == "missing" and plain["1005"]["total"] == ""
    gathered = Path(next(e for e in result.evaluations if e.student_id == "1001").submission_path)
    assert gathered.name == "1001" and not gathered.exists(), "in the scratch folder, gone now"


def test_the_canvas_gradebook_has_the_columns_and_points_row_canvas_imports(canvas_batch):
    result, out = canvas_batch
    header, points, *rows = _csv_rows(out / CANVAS_FILE)
    assert header == [*CANVAS_HEADER, f"Mini-project 1 ({ASSIGNMENT_ID})"]
    assert points == ["Points Possible", "", "", "", "", "100"]
    by_id = {row[1]: row for row in rows}
    assert sorted(by_id) == ["1001", "1002", "1003", "1004", "1005"]
    totals = {e.student_id: e.marks.total for e in result.evaluations}
    assert by_id["1001"] == [
        "Smith, John",
        "1001",
        "S1001",
        "jsmith",
        "Lab A",
        f"{totals['1001']:g}",
    ]
    assert float(by_id["1001"][5]) > 15, "automatic marks plus the write-up's 15"
    assert by_id["1003"][5] == "4", "a failed run still earns its manual marks"
    assert by_id["1002"][5] == "", "write-up pending: no grade posted"
    assert by_id["1004"][:2] == ["kimbo", "1004"], "off the roster: named as Canvas named the file"
    assert by_id["1005"] == ["Absent, Al", "1005", "S1005", "aabsent", "Lab B", ""]


def test_the_moodle_worksheet_has_the_columns_moodle_uploads(canvas_batch):
    _, out = canvas_batch
    with (out / MOODLE_FILE).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == MOODLE_HEADER
        rows = {row["Identifier"]: row for row in reader}
    assert sorted(rows) == [f"Participant {i}" for i in ("1001", "1002", "1003", "1004", "1005")]
    smith = rows["Participant 1001"]
    assert smith["Full name"] == "Smith, John" and smith["Email address"] == "jsmith@uni.edu"
    assert smith["Status"] == "Submitted for grading" and smith["Maximum Grade"] == "100"
    assert smith["Grade can be changed"] == "Yes"
    assert float(smith["Grade"]) > 15
    assert smith["Feedback comments"].startswith(f"Total: {smith['Grade']} / 100.")
    comments = smith["Feedback comments"].partition("\n\nMarker's comments:\n")[2]
    assert comments.startswith("Write-up") and comments.endswith(
        ": Clear figures, thin discussion.\nWell done overall."
    )
    exported = dt.datetime.fromisoformat(smith["Last modified (grade)"])
    assert exported.utcoffset() == dt.timedelta(0), "unambiguous for PHP's strtotime"
    doe = rows["Participant 1002"]
    assert doe["Grade"] == ""
    assert doe["Feedback comments"].startswith("The submission failed (crashed): ")
    assert "Still to be marked by hand: Write-up" in doe["Feedback comments"]
    assert rows["Participant 1005"]["Status"] == "No submission"
    assert rows["Participant 1005"]["Grade"] == ""


def test_gradescope_results_follow_the_autograder_specification(canvas_batch):
    result, out = canvas_batch
    assert sorted(p.name for p in (out / GRADESCOPE_DIR).iterdir()) == [
        "1001",
        "1002",
        "1003",
        "1004",
    ]
    top_level = {"score", "execution_time", "output", "visibility", "extra_data", "tests"}
    for evaluation in result.evaluations:
        path = out / GRADESCOPE_DIR / evaluation.student_id / "results.json"
        results = json.loads(path.read_text())
        # execution_time (seconds) only for a submission that ran
        assert set(results) == top_level - ({"execution_time"} if evaluation.run is None else set())
        assert results["score"] == evaluation.marks.total
        assert results["visibility"] in {"hidden", "after_due_date", "after_published", "visible"}
        assert [t["name"] for t in results["tests"]] == [m.title for m in evaluation.marks.marks]
        for test, mark in zip(results["tests"], evaluation.marks.marks, strict=True):
            assert test["max_score"] == mark.max_points
            assert test["output"] == (
                f"{mark.explanation}\n\nMarker's comment: {mark.comment}"
                if mark.comment
                else mark.explanation
            )
            assert ("score" in test) == (mark.status != "pending")
    smith = json.loads((out / GRADESCOPE_DIR / "1001" / "results.json").read_text())
    (writeup,) = [t for t in smith["tests"] if t["extra_data"]["criterion"] == "writeup"]
    assert writeup["output"].endswith("Marker's comment: Clear figures, thin discussion.")
    assert smith["output"].endswith("Well done overall.")
    report = (out / "reports" / "1001.html").read_text()
    assert "Clear figures, thin discussion." in report and "Well done overall." in report
    handed_back = (out / "feedback" / "1001.txt").read_text()
    assert handed_back.startswith("Smith, John (1001): ")
    assert "  Marker's comment: Clear figures, thin discussion." in handed_back
    assert handed_back.endswith("Feedback from your marker:\nWell done overall.\n")
    pending = (out / "feedback" / "1002.txt").read_text()
    assert (
        "(still to be marked: Write-up" in pending and "The submission failed (crashed)" in pending
    )
    doe = json.loads((out / GRADESCOPE_DIR / "1002" / "results.json").read_text())
    assert isinstance(doe["execution_time"], int)
    assert doe["extra_data"]["pending"] == ["writeup"]


def test_names_lateness_and_missing_students_are_everywhere_a_person_reads(canvas_batch):
    result, out = canvas_batch
    assert result.names["1001"] == "Smith, John" and result.names["1004"] == "kimbo"
    with (out / "gradebook.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:3] == ["student_id", "name", "handed_in_late"]
    book = {row["student_id"]: row for row in rows}
    assert book["1001"]["name"] == "Smith, John" and book["1001"]["handed_in_late"] == ""
    assert book["1002"]["handed_in_late"] == "yes", "Canvas marked Jane Doe's file LATE"
    assert book["1005"]["name"] == "Absent, Al" and book["1005"]["status"] == "missing"
    with (out.parent / "manual_marks.csv").open(newline="") as handle:
        sheet = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert sheet["1003"]["name"] == "Lee, Ann" and sheet["1001"]["writeup"] == "15"
    report = (out / "reports" / "1001.html").read_text()
    assert "<h1>Smith, John <span" in report
    dashboard = (out / "dashboard.html").read_text()
    assert ">Smith, John (1001)</a>" in dashboard
    assert 'Absent, Al (1005)</td><td><span class="failed">no submission' in dashboard
    assert "<strong>1</strong> on the roster without a submission" in dashboard
    with ResultStore(out / "medgrade.sqlite") as store:
        members = store.class_members()
    assert members["1005"].enrolled and not members["1004"].enrolled
    assert members["1002"].late and not members["1001"].late


def test_a_moodle_download_exports_participant_identifiers(tmp_path):
    out = tmp_path / "out"
    result = journeys.grade(
        moodle_download(tmp_path / "download"),
        TASK_ID,
        backend=replaying(),
        out=out,
        workers=2,
        lms=["moodle"],
    )
    assert [e.student_id for e in result.evaluations] == ["2001", "2002", "2003"]
    with (out / MOODLE_FILE).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["Identifier"], r["Full name"]) for r in rows] == [
        ("Participant 2001", "Jane Doe"),
        ("Participant 2002", "John Smith"),
        ("Participant 2003", "Ann Lee"),
    ]
    assert result.exports == (out / MOODLE_FILE,)
    assert not (out / CANVAS_FILE).exists()


# --- The command line --------------------------------------------------------------------


def _medgrade(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "grader", *arguments], capture_output=True, text=True, timeout=300
    )


def test_medgrade_grade_takes_a_canvas_download_a_roster_and_lms_formats(tmp_path):
    download = canvas_download(tmp_path / "download")
    roster = tmp_path / "roster.csv"
    roster.write_text('student_id,name\n1001,"Smith, John"\n1009,"Absent, Al"\n')
    out = tmp_path / "out"
    common = ["grade", str(download), "--task", TASK_ID, "--out", str(out), "--backend", "local"]
    refused = _medgrade(*common, "--unsafe-local", "--lms", "canvas")
    assert refused.returncode == 2 and "--lms canvas needs the Canvas assignment" in refused.stderr
    assert not out.exists()

    done = _medgrade(
        *common,
        "--unsafe-local",
        "--roster",
        str(roster),
        "--lms",
        "canvas",
        "--lms",
        "gradescope",
        "--assignment-name",
        "Mini-project 1",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("LMS import:") == 2
    messages = " ".join(done.stderr.split())  # as rich wraps them
    assert "a Canvas submissions download, 4 student(s)" in messages
    assert "no submission from 1 student(s) on the roster: Absent, Al (1009)" in messages
    assert "Smith, John (1001)" in done.stdout, "the terminal table names the students"
    header, points, *rows = _csv_rows(out / CANVAS_FILE)
    assert header[-1] == "Mini-project 1" and points[0] == "Points Possible"
    assert [row[:2] for row in rows] == [
        ["Smith, John", "1001"],
        ["doejane", "1002"],
        ["leeann", "1003"],
        ["kimbo", "1004"],
        ["Absent, Al", "1009"],
    ]
    assert (out / GRADESCOPE_DIR / "1001" / "results.json").is_file()
