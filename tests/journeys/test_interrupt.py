"""Ctrl-C during a warm-pool batch: every sandbox stops at once, the finished grades stay, and
the runs it cut short leave no report and no grade."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.journeys import WARM_POOL_MIN_SUBMISSIONS
from grader.output import OutputFolder
from sandbox import SandboxUnavailableError, get_backend
from tests.conftest import EXAMPLES, TASK_ID, loadavg

#: Far longer than any wait of this test: a batch that waited for them would show it.
SLEEPER = """
import time


def load_model(artifacts_dir):
    time.sleep(600)


def predict(model, inputs):
    return inputs[:, 0]
"""
FAST = [f"fast-{n}" for n in range(WARM_POOL_MIN_SUBMISSIONS)]
SLEEPERS = ["sleeper-1", "sleeper-2", "sleeper-3"]
#: The test's bound on Ctrl-C's return: generous for a loaded machine, and a small part of
#: what waiting for the sleepers would take.  What it takes is measured and printed.
RETURN_BOUND_S = 30.0


def stored_students(out: Path) -> set[str]:
    with sqlite3.connect(OutputFolder(out).store) as connection:
        rows = connection.execute("SELECT student_id FROM submissions").fetchall()
    return {student for (student,) in rows}


def test_ctrl_c_stops_the_warm_pool_at_once_and_writes_nothing_for_cut_runs(
    tmp_path: Path,
) -> None:
    try:
        get_backend("bwrap")
    except SandboxUnavailableError as error:
        pytest.skip(f"bubblewrap is not available: {error}")
    submissions = tmp_path / "class"
    for student in FAST:
        shutil.copytree(EXAMPLES / "weak", submissions / student)
    for student in SLEEPERS:
        (submissions / student).mkdir(parents=True)
        (submissions / student / "predict.py").write_text(SLEEPER)
    out = tmp_path / "grades"
    command = [sys.executable, "-m", "grader", "grade", str(submissions), "--task", TASK_ID]
    command += ["--backend", "bwrap", "--workers", "2", "--out", str(out)]
    # Its own session, as a terminal's foreground job: Ctrl-C reaches the whole group.
    batch = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    reports = OutputFolder(out).reports
    deadline = time.monotonic() + 400
    while len(list(reports.glob("fast-*.html"))) < len(FAST):
        assert batch.poll() is None, batch.communicate()[0]
        assert time.monotonic() < deadline, "the fast submissions did not finish"
        time.sleep(0.2)
    time.sleep(2.0)  # the sleepers are in their sandboxes now (two workers)
    interrupted = time.monotonic()
    os.killpg(batch.pid, signal.SIGINT)
    output, _ = batch.communicate(timeout=120)
    returned = time.monotonic() - interrupted
    print(f"Ctrl-C returned in {returned:.2f} s (load {loadavg()})")
    assert batch.returncode == 130, output
    assert returned < RETURN_BOUND_S, output
    said = " ".join(output.split())  # as the terminal wrapped it
    assert "interrupted:" in said and "Run the same command again to resume" in said
    assert f"the {len(FAST)} submission(s) graded before Ctrl-C" in said
    # Nothing of the interrupted runs: no report telling a student their code was killed,
    # no store row; the finished ones are all kept.
    assert not list(reports.glob("sleeper-*"))
    assert stored_students(out) == set(FAST)
    # No sandbox outlives the batch.
    with pytest.raises(ProcessLookupError):
        os.killpg(batch.pid, 0)
