"""A class batch resumes: unchanged runs are reused, --regrade runs them again on purpose, and
a grader killed with SIGKILL at any point ends, once run again, with the gradebook of a run
that was never interrupted.

The store is SQLite on disk and the kills are SIGKILLs of the `medgrade grade` command line in
a subprocess, whose submissions run in bubblewrap where it can run here (else the local
backend).  Batches graded in this process replay each submission's recorded run
(tests.conftest.replaying): what they test is what the batch does with runs, and a sandbox
still starts once per distinct submission.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from grader import journeys
from grader.errors import MedgradeError, SubmissionError
from grader.evaluation import evaluate, mark
from grader.gradebook import write_gradebook
from grader.output import OutputFolder
from grader.report import render_report
from grader.rubric import ManualMarks
from grader.store import SCHEMA_VERSION, ResultStore
from grader.submission import content_sha256, stage_submission, submission_sha256
from grader.tasks import load_task
from sandbox import BubblewrapBackend, LocalBackend
from tests.conftest import EXAMPLES, REPO, TASK_ID, replaying

#: The isolating backend where this machine has it; the examples are known code, so the
#: local backend is an acceptable stand-in elsewhere.
BACKEND = "bwrap" if BubblewrapBackend.unavailable_reason() is None else "local"
#: Sleeping costs no CPU time (what limits and penalties count), so this changes no mark;
#: it is long enough that the other submissions finish first on a busy machine, and well
#: within the task's 60 s hang guard.
SLEEPER_SECONDS = 15


# --- Building a class --------------------------------------------------------------------


def _copy_examples(folder: Path, *names: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copytree(
            EXAMPLES / name, folder / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    return folder


def _zip_of(source: Path, archive: Path) -> None:
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(source.iterdir()):
            if path.is_file():
                bundle.write(path, f"{source.name}/{path.name}")


def _write_submission(folder: Path, source: str, **files: str) -> None:
    folder.mkdir(parents=True)
    (folder / "predict.py").write_text(textwrap.dedent(source))
    for name, content in files.items():
        (folder / name).write_text(content)


ONE_FEATURE = """\
    import json
    from pathlib import Path

    import numpy as np


    def load_model(artifacts_dir):
        return json.loads((Path(artifacts_dir) / "weights.json").read_text())


    def predict(model, inputs):
        z = (inputs[:, model["column"]] - model["mean"]) / model["std"]
        return 1.0 / (1.0 + np.exp(-z))
"""
OUT_OF_RANGE = """\
    import numpy as np


    def load_model(artifacts_dir):
        return None


    def predict(model, inputs):
        return inputs[:, 0] / 10.0  # raw radii, not probabilities
"""
SLEEPER = f"""\
    import time

    import numpy as np


    def load_model(artifacts_dir):
        return None


    def predict(model, inputs):
        time.sleep({SLEEPER_SECONDS})
        return 1.0 / (1.0 + np.exp(-(inputs[:, 0] - 15.0) / 3.0))
"""


def _quick_class(folder: Path) -> Path:
    """Five quick submissions: graded and failed ones, a folder and a zip."""
    _copy_examples(folder, "weak", "crashes", "wrong-shape")
    _zip_of(EXAMPLES / "weak", folder / "alice.zip")
    _write_submission(
        folder / "bob",
        ONE_FEATURE,
        **{"weights.json": json.dumps({"column": 0, "mean": 14.0, "std": 3.5})},
    )
    return folder


def _example_class(folder: Path) -> Path:
    """Every bundled example plus three written here: ten submissions."""
    folder.mkdir()
    for submission in journeys.demo_submissions():
        shutil.copytree(
            submission.path,
            folder / submission.path.name,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    _zip_of(EXAMPLES / "weak", folder / "alice.zip")
    _write_submission(
        folder / "bob",
        ONE_FEATURE,
        **{"weights.json": json.dumps({"column": 20, "mean": 16.3, "std": 4.8})},
    )
    _write_submission(folder / "carol", OUT_OF_RANGE)
    return folder


# --- Reading what a batch left -----------------------------------------------------------


def _grade(submissions: Path, out: Path, **options: object) -> journeys.BatchResult:
    options.setdefault("backend", replaying())
    return journeys.grade(submissions, TASK_ID, unsafe_local=True, out=out, workers=2, **options)  # type: ignore[arg-type]


def _runs_per_student(store: Path) -> dict[str, int]:
    with sqlite3.connect(store) as connection:
        rows = connection.execute(
            """SELECT s.student_id, COUNT(*) FROM runs r JOIN submissions s ON s.id = r.submission_id
               GROUP BY s.student_id"""
        ).fetchall()
    return dict(rows)


def _committed_runs(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.Error:  # the first transaction has not created the tables yet
        return 0


def _gradebook(out: Path) -> dict[str, dict[str, str]]:
    with OutputFolder(out).gradebook.open(newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _processes_naming(token: str) -> list[str]:
    """Live processes whose command line or mounts name ``token``: a run's local harness or
    its bwrap (command line), or a process inside a bwrap sandbox (its bind mounts)."""
    found = []
    needle = token.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            mounts = (entry / "mountinfo").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in mounts:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{entry.name}: {command}")
    return found


def _wait_until_none_naming(token: str, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while (left := _processes_naming(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


# --- Resuming in the same process --------------------------------------------------------


def test_a_second_run_reuses_every_unchanged_submission_exactly(tmp_path):
    submissions, out = _quick_class(tmp_path / "class"), tmp_path / "out"
    first = _grade(submissions, out)
    assert first.reused == () and sorted(first.graded) == sorted(
        p.stem for p in submissions.iterdir()
    )
    gradebook = (out / "gradebook.csv").read_bytes()
    reports = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "reports").iterdir()}

    second = _grade(submissions, out)

    assert sorted(second.reused) == sorted(first.graded) and second.graded == ()
    assert second.remarked == ()
    assert [e.to_dict() for e in second.evaluations] == [e.to_dict() for e in first.evaluations]
    assert (out / "gradebook.csv").read_bytes() == gradebook
    assert {
        p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "reports").iterdir()
    } == reports, "a reused run's report stays in place, untouched"
    assert set(_runs_per_student(out / "medgrade.sqlite").values()) == {1}
    assert not OutputFolder(out).lease.exists() and not OutputFolder(out).partial.exists()

    (out / "reports" / "weak.html").unlink()
    third = _grade(submissions, out)
    assert len(third.reused) == 5, "a missing report is no reason to run the submission"
    assert (out / "reports" / "weak.html").read_bytes() == reports["weak.html"][0]


def test_changed_and_new_submissions_are_graded_and_the_others_reused(tmp_path):
    submissions, out = _quick_class(tmp_path / "class"), tmp_path / "out"
    _grade(submissions, out)
    weights = submissions / "bob" / "weights.json"
    weights.write_text(json.dumps({"column": 0, "mean": 12.0, "std": 3.5}))
    _copy_examples(submissions, "nan-output")
    (submissions / "weak" / "__pycache__").mkdir()  # not part of a submission: no change
    (submissions / "weak" / "__pycache__" / "predict.cpython-311.pyc").write_bytes(b"\0")

    second = _grade(submissions, out)

    assert sorted(second.graded) == ["bob", "nan-output"]
    assert sorted(second.reused) == ["alice", "crashes", "weak", "wrong-shape"]
    runs = _runs_per_student(out / "medgrade.sqlite")
    assert runs["bob"] == 2 and runs["nan-output"] == 1 and runs["weak"] == 1
    assert _gradebook(out)["nan-output"]["failure_kind"] == "non_finite"


def test_regrade_and_regrade_all_run_submissions_again_on_purpose(tmp_path):
    submissions, out = _quick_class(tmp_path / "class"), tmp_path / "out"
    first = _grade(submissions, out)
    gradebook = (out / "gradebook.csv").read_bytes()

    one = _grade(submissions, out, regrade=["weak", "crashes"])
    assert sorted(one.graded) == ["crashes", "weak"] and len(one.reused) == 3
    every = _grade(submissions, out, regrade_all=True)
    assert sorted(every.graded) == sorted(first.graded) and every.reused == ()

    runs = _runs_per_student(out / "medgrade.sqlite")
    assert runs == {"alice": 2, "bob": 2, "crashes": 3, "weak": 3, "wrong-shape": 2}
    assert (out / "gradebook.csv").read_bytes() == gradebook, "the same submissions, the same marks"


def test_regrade_of_an_unknown_student_is_refused_before_anything_runs(tmp_path):
    submissions, out = _quick_class(tmp_path / "class"), tmp_path / "out"
    with pytest.raises(
        SubmissionError, match=r"--regrade wek: no such student.*the students are alice"
    ):
        _grade(submissions, out, regrade=["wek"])
    assert not out.exists()


def test_a_sandbox_error_is_graded_again_and_so_is_a_run_in_another_sandbox(tmp_path):
    submissions = _copy_examples(tmp_path / "class", "weak")
    out = tmp_path / "out"
    broken = _grade(submissions, out, backend=LocalBackend(python=tmp_path / "no-such-python"))
    assert broken.evaluations[0].failure is not None
    assert broken.evaluations[0].failure.kind == "sandbox_error"

    repaired = _grade(submissions, out, backend=LocalBackend())
    assert repaired.graded == ("weak",), "an infrastructure failure is never reused"
    assert _gradebook(out)["weak"]["status"] == "graded"
    assert _grade(submissions, out, backend=LocalBackend()).reused == ("weak",)
    if BACKEND == "bwrap":
        assert _grade(submissions, out, backend="bwrap").graded == ("weak",)


def test_manual_marks_entered_between_runs_apply_to_reused_runs(tmp_path):
    submissions = _copy_examples(tmp_path / "class", "weak", "crashes")
    out = tmp_path / "out"
    _grade(submissions, out)
    sheet = out / "manual_marks.csv"
    assert sheet.read_text().splitlines() == [
        "student_id,writeup,writeup_comment,comment",
        "crashes,,,",
        "weak,,,",
    ]
    sheet.write_text(
        "student_id,writeup,writeup_comment,comment\n"
        "crashes,3,,\n"
        "weak,12.5,The figures lack axis labels.,A clear model card.\n"
    )

    remarked = _grade(submissions, out)

    assert sorted(remarked.reused) == sorted(remarked.remarked) == ["crashes", "weak"]
    by_student = {e.student_id: e for e in remarked.evaluations}
    assert by_student["weak"].marks.pending == []
    gradebook = _gradebook(out)
    assert (gradebook["weak"]["writeup"], gradebook["crashes"]["writeup"]) == ("12.5", "3")
    assert float(gradebook["weak"]["total"]) == by_student["weak"].marks.total
    assert float(gradebook["crashes"]["total"]) == 3
    report = (out / "reports" / "weak.html").read_text()
    assert "12.5 / 20 points, marked by hand" in report, "the report shows the new marks"
    assert "The figures lack axis labels." in report and "A clear model card." in report
    with sqlite3.connect(out / "medgrade.sqlite") as connection:
        stored = connection.execute(
            """SELECT s.student_id, m.points FROM marks m JOIN runs r ON r.id = m.run_id
               JOIN submissions s ON s.id = r.submission_id WHERE m.criterion_id = 'writeup'"""
        ).fetchall()
    assert dict(stored) == {"crashes": 3.0, "weak": 12.5}, "the store holds the new marks"

    settled_at = (out / "reports" / "weak.html").stat().st_mtime_ns
    unchanged = _grade(submissions, out)
    assert unchanged.remarked == () and len(unchanged.reused) == 2
    assert (out / "reports" / "weak.html").stat().st_mtime_ns == settled_at
    marked_again = (out / "gradebook.csv").read_bytes()
    _grade(submissions, out, regrade_all=True)
    assert (out / "gradebook.csv").read_bytes() == marked_again, (
        "marking a stored run again awards what running it again awards"
    )


def test_the_stored_evaluation_comes_back_exactly(tmp_path, test_split, backend):
    """A reused run prints, reports and re-marks exactly as when it was graded."""
    task = test_split.task
    with ResultStore(tmp_path / "medgrade.sqlite") as store:
        for name in ("weak", "crashes", "notebook"):
            graded = evaluate(
                EXAMPLES / name, student_id=name, prepared=test_split, backend=backend
            )
            run_id = store.add(graded, sandbox="local")
            back = store.load_evaluation(run_id)
            assert back.to_dict() == graded.to_dict(), name
            assert back.executed_notebook == graded.executed_notebook, name
            assert render_report(back, task, n_cases=test_split.n_cases) == render_report(
                graded, task, n_cases=test_split.n_cases
            ), name
            assert mark(back, task.rubric).marks == graded.marks, name
            marked = mark(back, task.rubric, manual=ManualMarks({"writeup": 7})).marks
            assert marked.total == pytest.approx(graded.marks.total + 7), name


def test_the_submission_hash_is_the_one_grading_records(tmp_path):
    folder = _copy_examples(tmp_path / "class", "weak")
    (folder / "weak" / "__pycache__").mkdir()
    (folder / "weak" / "__pycache__" / "cached.pyc").write_bytes(b"\0")
    _zip_of(EXAMPLES / "weak", folder / "weak.zip")
    staged = content_sha256(stage_submission(folder / "weak", tmp_path / "staged"))
    assert submission_sha256(folder / "weak", workdir=tmp_path) == staged
    assert submission_sha256(folder / "weak.zip", workdir=tmp_path) == staged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["class", "staged"], "no copy left"


# --- The store's schema ------------------------------------------------------------------

#: Schema version 1 as released, to build the stores that earlier medgrade versions left.
SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY, student_id TEXT NOT NULL, sha256 TEXT, path TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions(id),
    task_id TEXT NOT NULL, task_version TEXT NOT NULL, split TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('graded', 'failed')),
    failure_kind TEXT, failure_message TEXT, backend TEXT, wall_time_s REAL,
    peak_memory_mb REAL, total REAL NOT NULL, max_points REAL NOT NULL,
    data_sha256 TEXT NOT NULL, split_sha256 TEXT NOT NULL, medgrade_version TEXT NOT NULL,
    created_at TEXT NOT NULL, report_path TEXT, record_json TEXT);
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value REAL,
    ci_low REAL, ci_high REAL, method TEXT NOT NULL, n INTEGER NOT NULL, reason TEXT,
    PRIMARY KEY (run_id, name));
CREATE TABLE marks (
    run_id INTEGER NOT NULL REFERENCES runs(id), criterion_id TEXT NOT NULL,
    title TEXT NOT NULL, status TEXT NOT NULL, points REAL, max_points REAL NOT NULL,
    explanation TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (run_id, criterion_id));
CREATE INDEX runs_by_task ON runs (task_id, split, submission_id);
INSERT INTO meta VALUES ('schema_version', '1');
"""


def _version_1_store(path: Path, *, student: str, sha256: str) -> None:
    task = load_task(TASK_ID)
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA_V1)
        connection.execute(
            "INSERT INTO submissions VALUES (1, ?, ?, '/old/class/weak')", (student, sha256)
        )
        connection.execute(
            """INSERT INTO runs VALUES (1, 1, ?, ?, 'test', 'graded', NULL, NULL, 'bwrap', 0.2,
               50.0, 41.5, 100, 'data', 'split', '0.1.0', '2026-01-05T10:00:00+00:00',
               'out/reports/weak.html', '{}')""",
            (task.id, task.spec.version),
        )
        marks = [("discrimination", 30.0), ("calibration", 9.0), ("sensitivity", 2.5)]
        connection.executemany(
            "INSERT INTO marks VALUES (1, ?, ?, 'awarded', ?, 10, 'by hand', ?)",
            [(criterion, criterion, points, i) for i, (criterion, points) in enumerate(marks)],
        )


def test_a_version_1_store_is_migrated_and_stays_readable(tmp_path):
    submissions = _copy_examples(tmp_path / "class", "weak")
    out = tmp_path / "out"
    out.mkdir()
    sha256 = submission_sha256(submissions / "weak", workdir=tmp_path)
    _version_1_store(out / "medgrade.sqlite", student="weak", sha256=sha256)
    task = load_task(TASK_ID)

    with ResultStore(out / "medgrade.sqlite") as store:
        assert store.schema_version() == SCHEMA_VERSION == 4
        (old,) = store.latest_runs(task.id, task.spec.version, "test")
        assert (old["student_id"], old["total"], old["sandbox"]) == ("weak", 41.5, None)
        stored = store.latest_stored_runs(task.id, task.spec.version, "test")["weak"]
        assert stored.key is None and not stored.has_document
        write_gradebook(
            store.latest_grades(task.id, task.spec.version, "test"),
            task.rubric,
            path=out / "gradebook.csv",
        )
    assert _gradebook(out)["weak"]["total"] == "41.5"
    with ResultStore(out / "medgrade.sqlite") as store:  # a migrated store opens as it is
        assert store.schema_version() == SCHEMA_VERSION

    # A version-1 run cannot be brought back whole, so the same submission is graded again.
    result = _grade(submissions, out)
    assert result.graded == ("weak",)
    assert _runs_per_student(out / "medgrade.sqlite") == {"weak": 2}
    assert _grade(submissions, out).reused == ("weak",)


def test_a_second_batch_into_the_same_folder_is_refused_while_one_runs(tmp_path):
    submissions, out = _copy_examples(tmp_path / "class", "weak"), tmp_path / "out"
    out.mkdir()
    with OutputFolder(out).lock.open("a") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        with pytest.raises(MedgradeError, match=r"another medgrade grade .* is writing to"):
            _grade(submissions, out)
    assert _grade(submissions, out).graded == ("weak",)


# --- SIGKILL and the command line --------------------------------------------------------


class Batch:
    """`medgrade grade` on one class and output folder, as a marker types it."""

    def __init__(self, submissions: Path, out: Path, sandbox_tmp: Path) -> None:
        self.command = [
            sys.executable, "-m", "grader", "grade", str(submissions), "--task", TASK_ID,
            "--out", str(out), "--backend", BACKEND, "--workers", "2",
            *(["--unsafe-local"] if BACKEND == "local" else []),
        ]  # fmt: skip
        sandbox_tmp.mkdir(parents=True, exist_ok=True)
        # Every scratch folder of the grader and its sandboxes lies under this unique folder,
        # so a surviving sandbox process can be told by its command line or its mounts.
        self.env = {**os.environ, "TMPDIR": str(sandbox_tmp), "COLUMNS": "200"}
        self.logs = out.parent / f"{out.name}-logs"
        self.logs.mkdir(exist_ok=True)
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        with (
            (self.logs / f"{self.started}.out").open("wb") as stdout,
            (self.logs / f"{self.started}.err").open("wb") as stderr,
        ):
            return subprocess.Popen(
                self.command, cwd=REPO, env=self.env, stdout=stdout, stderr=stderr
            )

    def output(self) -> tuple[str, str]:
        return (
            (self.logs / f"{self.started}.out").read_text(),
            (self.logs / f"{self.started}.err").read_text(),
        )

    def run(self) -> tuple[str, str]:
        process = self.start()
        assert process.wait(timeout=600) == 0, self.output()
        return self.output()


def _kill(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=60)


def _assert_whole_and_clean(out: Path, token: str) -> None:
    assert (leftover := _wait_until_none_naming(token, 10)) == [], leftover
    assert not OutputFolder(out).lease.exists()
    assert not OutputFolder(out).partial.exists()
    assert list(out.glob(".*.partial")) == []


def test_a_batch_killed_mid_run_resumes_to_the_uninterrupted_gradebook(tmp_path):
    submissions = _copy_examples(tmp_path / "class", "weak", "crashes", "wrong-shape")
    _write_submission(submissions / "sleeper", SLEEPER)
    token = f"sandboxes-{uuid.uuid4().hex}"
    # The uninterrupted batch runs beside the killed one (the sleeper mostly sleeps), under
    # a scratch folder of its own, so that its sandboxes are never taken for the killed one's.
    reference = Batch(submissions, tmp_path / "reference", tmp_path / f"reference-{uuid.uuid4()}")
    uninterrupted = reference.start()
    out = tmp_path / "out"
    batch = Batch(submissions, out, tmp_path / token / "killed")

    process = batch.start()
    # Kill once the quick three are committed and only the sleeper is still in its sandbox.
    deadline = time.monotonic() + 120
    while not (_committed_runs(out / "medgrade.sqlite") == 3 and _processes_naming(token)):
        assert process.poll() is None, "the sleeper finished before the grader could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _kill(process) == -signal.SIGKILL
    assert _runs_per_student(out / "medgrade.sqlite") == {"crashes": 1, "weak": 1, "wrong-shape": 1}
    if BACKEND == "bwrap":  # a bwrap sandbox dies with its grader
        assert _wait_until_none_naming(token, 10) == []

    stdout, stderr = batch.run()
    assert uninterrupted.wait(timeout=600) == 0, reference.output()

    assert "Graded: 1 submission(s), reused 3 unchanged" in " ".join(stdout.split())
    assert "was interrupted" in " ".join(stderr.split())
    assert (out / "gradebook.csv").read_bytes() == (
        tmp_path / "reference" / "gradebook.csv"
    ).read_bytes()
    assert _runs_per_student(out / "medgrade.sqlite") == dict.fromkeys(
        ["crashes", "sleeper", "weak", "wrong-shape"], 1
    )
    _assert_whole_and_clean(out, token)


@pytest.mark.slow
def test_five_random_sigkills_end_with_the_uninterrupted_gradebook(tmp_path):
    """About 2 minutes on 2 cores: each kill lands while too-slow is still in its sandbox."""
    submissions = _example_class(tmp_path / "class")
    assert len(list(submissions.iterdir())) == 10
    token = f"sandboxes-{uuid.uuid4().hex}"
    reference = Batch(submissions, tmp_path / "reference", tmp_path / token / "reference")
    started = time.monotonic()
    reference.run()
    duration = time.monotonic() - started
    # Kills are spread over the batch, up to the wall-time limit that too-slow always uses up:
    # until a run lasts that long nothing commits too-slow, so every kill finds a live batch.
    span = min(duration, load_task(TASK_ID).spec.limits.cpu_time_s)
    generator = random.Random(20261123)
    delays = [span * (i + generator.random()) / 5 for i in range(5)]
    generator.shuffle(delays)

    out = tmp_path / "out"
    batch = Batch(submissions, out, tmp_path / token / "killed")
    for delay in delays:
        process = batch.start()
        time.sleep(delay)
        assert _kill(process) == -signal.SIGKILL, (
            f"the batch ended before its kill at {delay:.1f} s"
        )
        if BACKEND == "bwrap":
            assert (leftover := _wait_until_none_naming(token, 10)) == [], leftover
    batch.run()

    assert (out / "gradebook.csv").read_bytes() == (
        tmp_path / "reference" / "gradebook.csv"
    ).read_bytes()
    students = sorted(_gradebook(tmp_path / "reference"))
    assert len(students) == 10
    assert _runs_per_student(out / "medgrade.sqlite") == dict.fromkeys(students, 1), (
        "each submission graded and committed exactly once across the kills"
    )
    assert sorted(p.stem for p in (out / "reports").glob("*.html")) == students
    _assert_whole_and_clean(out, token)
