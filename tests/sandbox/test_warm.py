"""bubblewrap's warm pool: runs fork from one sandboxed server, and each stays single-use.

The adversarial battery (tests/sandbox/test_adversarial.py) runs against the pool too
(``bwrap-warm``); these tests cover what only a pool could get wrong: one run's traces
reaching the next, privileges the server holds leaking into a run, the server's view of
the batch's folders, and what happens when the server is gone.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.evaluation import Evaluation, PreparedSplit, evaluate
from grader.journeys import WARM_POOL_MIN_SUBMISSIONS, demo_submissions, grade
from sandbox import BubblewrapBackend, LocalBackend, SandboxUnavailableError, WarmBubblewrap
from tests.conftest import EXAMPLES, TASK_ID, warm_pool

HARMLESS_PREDICT = """
def predict(model, inputs):
    import numpy as np
    return np.full(len(inputs), 0.5)
"""


@pytest.fixture(scope="module")
def pool() -> Iterator[WarmBubblewrap]:
    try:
        cold = BubblewrapBackend()
    except SandboxUnavailableError as error:
        pytest.skip(f"bwrap backend unavailable here: {error}")
    warm = warm_pool(cold)
    yield warm
    warm.close()


def run(pool: WarmBubblewrap, folder: Path, split: PreparedSplit) -> Evaluation:
    evaluation = evaluate(folder, student_id="student", prepared=split, backend=pool)
    assert evaluation.run is not None
    assert evaluation.run.details.get("warm"), "the run did not fork from the warm server"
    return evaluation


def load_model_doing(make_submission, body: str, name: str) -> Path:
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    source = f"def load_model(artifacts_dir):\n{indented}\n    return None\n{HARMLESS_PREDICT}"
    return make_submission(source, name=name)


def test_the_reference_grades_the_same_warm_and_cold(pool, validation_split):
    reference = EXAMPLES / "good"
    warm = run(pool, reference, validation_split)
    cold = evaluate(reference, student_id="student", prepared=validation_split, backend=pool.cold)
    assert warm.status == cold.status == "graded"
    assert warm.metrics["roc_auc"].value == cold.metrics["roc_auc"].value
    assert warm.marks == cold.marks
    assert "torch" in pool.preloaded and "numpy" in pool.preloaded


def test_a_run_leaves_nothing_for_the_next(pool, make_submission, validation_split):
    writer = load_model_doing(
        make_submission,
        """
import os, sys, numpy
for folder in ("/tmp", "/dev/shm"):
    with open(os.path.join(folder, "left-behind"), "w") as handle:
        handle.write("from the first student")
numpy.left_behind = "from the first student"
sys.modules["left_behind"] = numpy
""",
        name="writer",
    )
    reader = load_model_doing(
        make_submission,
        """
import os, sys, numpy
found = [f for f in ("/tmp/left-behind", "/dev/shm/left-behind") if os.path.exists(f)]
if found or hasattr(numpy, "left_behind") or "left_behind" in sys.modules:
    raise RuntimeError(f"saw the previous run's traces: {found}")
""",
        name="reader",
    )
    assert run(pool, writer, validation_split).status == "graded"
    evaluation = run(pool, reader, validation_split)
    assert evaluation.status == "graded", evaluation.failure


def test_a_run_holds_no_privileges_and_sees_only_itself(pool, make_submission, validation_split):
    folder = load_model_doing(
        make_submission,
        """
import ctypes, os, socket
libc = ctypes.CDLL(None, use_errno=True)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
problems = []
for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
    if int(status[field], 16):
        problems.append(f"{field} {status[field].strip()}")
if status["NoNewPrivs"].strip() != "1":
    problems.append("no_new_privs unset")
if libc.unshare(0x10000000) == 0:  # CLONE_NEWUSER
    problems.append("created a user namespace")
if libc.unshare(0x00020000) == 0:  # CLONE_NEWNS
    problems.append("created a mount namespace")
if libc.mount(b"tmpfs", b"/tmp", b"tmpfs", 0, None) == 0:
    problems.append("mounted a file system")
if libc.umount2(b"/pool", 2) == 0:
    problems.append("unmounted the cover of the batch folder")
if os.listdir("/pool") if os.access("/pool", os.R_OK) else False:
    problems.append(f"/pool lists {os.listdir('/pool')}")
if os.path.exists("/run/medgrade-proc/self"):
    problems.append("the machine's /proc is visible")
kept = "/run/medgrade-kept"  # the server's second views of an environment under /tmp
try:
    problems.append(f"{kept} lists {os.listdir(kept)}")
except OSError:
    pass
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
# Pid 1 is the run's supervisor; the submission sees nothing else but itself.
if pids != sorted({1, os.getpid()}) or os.getpid() == 1:
    problems.append(f"own pid {os.getpid()}, visible pids {pids}")
if socket.gethostname() != "medgrade-sandbox":
    problems.append(f"hostname {socket.gethostname()}")
for path in ("/submission", "/inputs"):
    try:
        open(os.path.join(path, "planted"), "w").close()
        problems.append(f"wrote to {path}")
    except OSError:
        pass
if problems:
    raise RuntimeError("; ".join(problems))
""",
        name="prober",
    )
    evaluation = run(pool, folder, validation_split)
    assert evaluation.status == "graded", evaluation.failure


def test_every_pooled_run_starts_from_the_tasks_seed(pool, make_submission, validation_split):
    """Forked children would share the server's global numpy RNG, advanced by whatever ran
    before; each run is seeded with the task's seed instead, as a cold run is."""
    source = """
import numpy as np
def load_model(artifacts_dir):
    return None
def predict(model, inputs):
    return np.random.random(len(inputs))
"""
    first = run(pool, make_submission(source, name="first"), validation_split)
    second = run(pool, make_submission(source, name="second"), validation_split)
    cold = evaluate(
        make_submission(source, name="cold"),
        student_id="student",
        prepared=validation_split,
        backend=LocalBackend(),
    )
    assert first.predictions_sha256 == second.predictions_sha256 == cold.predictions_sha256


def test_a_job_outside_the_pool_runs_cold(pool, validation_split, tmp_path):
    outside = Path("/var/tmp") / f"medgrade-outside-{os.getpid()}"
    outside.mkdir(exist_ok=True)
    try:
        evaluation = evaluate(
            EXAMPLES / "weak",
            student_id="student",
            prepared=validation_split,
            backend=pool,
            workdir=outside,
        )
    finally:
        shutil.rmtree(outside, ignore_errors=True)
    assert evaluation.status == "graded"
    assert "warm" not in evaluation.run.details
    assert pool.failure is None


def test_a_killed_server_sends_the_batch_cold_and_loses_no_run(validation_split):
    pool = warm_pool(BubblewrapBackend())
    try:
        assert run(pool, EXAMPLES / "weak", validation_split).status == "graded"
        assert pool._server is not None
        os.killpg(pool._server.pid, signal.SIGKILL)
        evaluation = evaluate(
            EXAMPLES / "weak", student_id="student", prepared=validation_split, backend=pool
        )
        assert evaluation.status == "graded", evaluation.failure
        assert "warm" not in evaluation.run.details
        assert pool.failure is not None and "stopped" in pool.failure
        assert pool.cold_runs == 1
    finally:
        pool.close()


def test_a_batch_grades_the_same_with_and_without_the_pool(tmp_path):
    examples = [s for s in demo_submissions() if s.student_id not in {"too-slow", "notebook"}]
    # Twice each: a batch this size uses the pool (WARM_POOL_MIN_SUBMISSIONS).
    submissions = examples + [
        dataclasses.replace(s, student_id=f"{s.student_id}-again") for s in examples
    ]
    assert len(submissions) >= WARM_POOL_MIN_SUBMISSIONS
    notes: list[str] = []
    books = {}
    for warm in (True, False):
        result = grade(
            submissions,
            TASK_ID,
            backend="bwrap",
            out=tmp_path / f"out-{warm}",
            workers=2,
            warm_pool=warm,
            on_note=notes.append,
        )
        runs = [e.run for e in result.evaluations if e.run is not None]
        assert runs and all(bool(run.details.get("warm")) == warm for run in runs)
        books[warm] = [
            (e.student_id, e.status, e.failure.kind if e.failure else None, e.marks.total)
            for e in result.evaluations
        ]
    assert books[True] == books[False]
    assert not notes, notes
