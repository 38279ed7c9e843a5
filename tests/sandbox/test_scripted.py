"""The scripted backend: reports travel the real wire and are read as a sandbox's are."""

from __future__ import annotations

import numpy as np
import pytest

from grader.evaluation import evaluate
from sandbox import SandboxJob, ScriptedBackend, ScriptedRun
from tests.conftest import EXAMPLES


def test_a_scripted_run_is_graded_like_a_sandboxs(validation_split):
    rng = np.random.default_rng(0)
    scores = np.where(validation_split.labels == 1, 0.8, 0.2) + rng.normal(
        0, 0.05, size=len(validation_split.labels)
    )
    backend = ScriptedBackend(
        lambda job: ScriptedRun.predicted(np.clip(scores, 0, 1), cpu_time_s=1.5)
    )
    evaluation = evaluate(
        EXAMPLES / "good", student_id="s", prepared=validation_split, backend=backend
    )
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.metrics["roc_auc"].value > 0.95
    assert evaluation.run is not None and evaluation.run.cpu_time_s == 1.5
    assert evaluation.run.backend == "scripted"
    (job,) = backend.jobs
    assert isinstance(job, SandboxJob) and job.input_dir == validation_split.input_dir


@pytest.mark.parametrize(
    ("scripted", "kind"),
    [
        (ScriptedRun.failed("crashed", "ZeroDivisionError: division by zero"), "crashed"),
        (ScriptedRun.predicted(np.full(3, 0.5)), "wrong_shape"),
        (ScriptedRun(record=None, observed={"exit_code": 0}), "no_output"),
        (ScriptedRun(record=None, report=False, result={"timed_out": True}), "timeout"),
        (ScriptedRun(record=None, report=False, result={"started": False}), "sandbox_error"),
    ],
    ids=["crashed", "wrong-shape", "exited-early", "timed-out", "never-started"],
)
def test_a_scripted_failure_is_the_failure_a_sandbox_would_give(validation_split, scripted, kind):
    backend = ScriptedBackend(lambda job: scripted)
    evaluation = evaluate(
        EXAMPLES / "good", student_id="s", prepared=validation_split, backend=backend
    )
    assert evaluation.status == "failed"
    assert evaluation.failure is not None and evaluation.failure.kind == kind


def test_a_report_file_the_wire_refuses_is_a_broken_report(validation_split):
    scripted = ScriptedRun(record=None, files={"../escape.npy": b"x"})
    backend = ScriptedBackend(lambda job: scripted)
    evaluation = evaluate(
        EXAMPLES / "good", student_id="s", prepared=validation_split, backend=backend
    )
    assert evaluation.failure is not None and evaluation.failure.kind == "no_output"
    assert "may not carry" in evaluation.failure.message
