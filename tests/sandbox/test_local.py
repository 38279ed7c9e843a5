"""The harness and the local backend, end to end: every failure kind from a real run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from grader.evaluation import PreparedSplit, evaluate, prepare_split
from grader.tasks import Task
from sandbox import LocalBackend

GOOD = """
import numpy as np

def load_model(artifacts_dir):
    return None

def predict(model, inputs):
    # mean radius is informative: larger nuclei, more likely malignant
    return 1 / (1 + np.exp(-(inputs[:, 0] - 15.0)))
"""


def run(path: Path, split: PreparedSplit, backend: LocalBackend, **limits: float):
    if limits:
        spec = split.task.spec
        new_limits = spec.limits.model_copy(update=limits)
        task = dataclasses.replace(split.task, spec=spec.model_copy(update={"limits": new_limits}))
        split = dataclasses.replace(split, task=task)
    return evaluate(path, student_id="student", prepared=split, backend=backend)


def test_a_valid_submission_is_graded_with_a_run_record(make_submission, validation_split, backend):
    evaluation = run(make_submission(GOOD), validation_split, backend)
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.metrics["roc_auc"].value > 0.8
    record = evaluation.run.record
    assert record["status"] == "completed"
    assert record["n_cases"] == validation_split.n_cases
    assert {"import_s", "load_model_s", "predict_s", "total_s"} <= set(record["timings"])
    assert record["environment"]["versions"]["numpy"] == np.__version__
    assert evaluation.run.peak_memory_mb > 10


@pytest.mark.parametrize(
    ("source", "kind", "message_part"),
    [
        (None, "contract_error", "has no predict.py"),
        (
            "def predict(model, inputs):\n    return inputs[:, 0]\n",
            "contract_error",
            "does not define load_model",
        ),
        (
            "load_model = 3\ndef predict(model, inputs):\n    return inputs[:, 0]\n",
            "contract_error",
            "must be a function",
        ),
        (
            "def load_model():\n    return 1\ndef predict(model, inputs):\n    return inputs[:, 0]\n",
            "contract_error",
            "must accept 1 positional argument",
        ),
        (
            "import nonexistent_package\n",
            "crashed",
            "ModuleNotFoundError while importing predict.py",
        ),
        (
            "def load_model(a):\n    return {}\ndef predict(model, inputs):\n    return model['weights']\n",
            "crashed",
            "KeyError while running predict",
        ),
        (
            "import sys\ndef load_model(a):\n    sys.exit(0)\ndef predict(model, inputs):\n    return 0\n",
            "crashed",
            "called sys.exit(0)",
        ),
        (
            "import os\ndef load_model(a):\n    os._exit(0)\ndef predict(model, inputs):\n    return 0\n",
            "no_output",
            "exited with code 0 before the harness finished",
        ),
        (
            "import os, signal\ndef load_model(a):\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
            "def predict(model, inputs):\n    return 0\n",
            "crashed",
            "SIGSEGV",
        ),
        (
            "def load_model(a):\n    return None\ndef predict(model, inputs):\n    return 'malignant'\n",
            "invalid_output",
            "must return numbers",
        ),
        (
            "def load_model(a):\n    return None\ndef predict(model, inputs):\n    return inputs[:3, 0]\n",
            "wrong_shape",
            "one row per case",
        ),
        (
            "import numpy as np\ndef load_model(a):\n    return None\ndef predict(model, inputs):\n"
            "    return np.full(len(inputs), np.nan)\n",
            "non_finite",
            "NaN or infinite",
        ),
        (
            "def load_model(a):\n    return None\ndef predict(model, inputs):\n    return inputs[:, 0]\n",
            "out_of_range",
            "outside [0, 1]",
        ),
    ],
    ids=[
        "no-predict-py",
        "no-load-model",
        "not-callable",
        "bad-signature",
        "import-error",
        "raises",
        "sys-exit",
        "os-exit",
        "segfault",
        "strings",
        "too-few-rows",
        "nan",
        "out-of-range",
    ],
)
def test_each_broken_submission_is_a_graded_failure_with_its_kind(
    make_submission, validation_split, backend, source, kind, message_part
):
    folder = make_submission(source, notes="not code")
    evaluation = run(folder, validation_split, backend)
    assert evaluation.status == "failed"
    assert evaluation.failure.kind == kind
    assert message_part in evaluation.failure.message
    assert evaluation.marks.total == 0
    assert all("failed" in m.explanation for m in evaluation.marks.marks if m.status == "awarded")


def test_a_traceback_shows_the_students_frames_not_the_harness(
    make_submission, validation_split, backend
):
    source = (
        "def load_model(a):\n    return None\n\ndef predict(model, inputs):\n    return 1 / 0\n"
    )
    evaluation = run(make_submission(source), validation_split, backend)
    assert "ZeroDivisionError" in evaluation.failure.detail
    assert 'predict.py", line 5, in predict' in evaluation.failure.detail
    assert "harness.py" not in evaluation.failure.detail


def test_a_run_over_the_wall_time_limit_is_killed(make_submission, validation_split, backend):
    source = "import time\ndef load_model(a):\n    time.sleep(60)\ndef predict(model, inputs):\n    return 0\n"
    evaluation = run(make_submission(source), validation_split, backend, hang_guard_s=1.5)
    assert evaluation.failure.kind == "timeout"
    assert "after 1.5 s of wall-clock time" in evaluation.failure.message
    assert evaluation.run.wall_time_s < 5


def test_allocating_past_the_memory_limit_is_out_of_memory(
    make_submission, validation_split, backend
):
    source = (
        "import numpy as np\ndef load_model(a):\n    return np.ones((1024, 1024, 1024))\n"
        "def predict(model, inputs):\n    return 0\n"
    )
    evaluation = run(make_submission(source), validation_split, backend, memory_mb=512)
    assert evaluation.failure.kind == "out_of_memory"


def test_megabytes_of_output_are_capped_and_the_tail_kept(
    make_submission, validation_split, backend
):
    source = GOOD.replace("return None", "print('x' * 10_000_000); print('LAST LINE'); return None")
    evaluation = run(make_submission(source), validation_split, backend)
    assert evaluation.status == "graded"
    assert evaluation.run.log_bytes_dropped > 9_000_000
    assert evaluation.run.stdout_tail.rstrip().endswith("LAST LINE")
    assert len(evaluation.run.stdout_tail) <= 64 * 1024


def test_a_forged_run_record_without_the_nonce_is_not_success(
    make_submission, validation_split, backend
):
    source = (
        "import json, os, sys\nimport numpy as np\n"
        "def load_model(a):\n"
        "    out = sys.argv[sys.argv.index('--output') + 1]\n"
        "    np.save(os.path.join(out, 'predictions.npy'), np.full(%d, 0.5))\n"
        "    json.dump({'format': 1, 'nonce': 'guess', 'status': 'completed', 'failure': None},"
        " open(os.path.join(out, 'run.json'), 'w'))\n"
        "    os._exit(0)\n"
        "def predict(model, inputs):\n    return 0\n"
    ).replace("%d", str(validation_split.n_cases))
    evaluation = run(make_submission(source), validation_split, backend)
    assert evaluation.failure.kind == "no_output"


def test_the_submission_cannot_change_the_original_folder(
    make_submission, validation_split, backend
):
    source = GOOD.replace(
        "return None", "open(a + '/new.txt', 'w') if False else None; return None"
    )
    folder = make_submission(source.replace("def load_model(artifacts_dir)", "def load_model(a)"))
    before = sorted(p.name for p in folder.iterdir())
    run(folder, validation_split, backend)
    assert sorted(p.name for p in folder.iterdir()) == before


def test_sandbox_inputs_hold_features_but_never_labels_or_case_ids(
    test_split: PreparedSplit, task: Task
):
    files = sorted(p.name for p in test_split.input_dir.iterdir())
    assert files == ["inputs.npy", "manifest.json"]
    manifest = json.loads((test_split.input_dir / "manifest.json").read_text())
    assert set(manifest) == {
        "task",
        "task_version",
        "split",
        "input",
        "output",
        "batch_size",
    }
    assert "label" not in json.dumps(manifest).lower()
    assert not any(case_id in json.dumps(manifest) for case_id in test_split.case_ids)
    inputs = np.load(test_split.input_dir / "inputs.npy", allow_pickle=False)
    assert inputs.shape == (test_split.n_cases, 30)
    # No column of the inputs is the label vector (or its complement).
    for column in inputs.T:
        assert not np.array_equal(column, test_split.labels)
        assert not np.array_equal(column, 1 - test_split.labels)


def test_batched_prediction_calls_predict_per_batch(make_submission, task, backend, tmp_path):
    source = GOOD.replace(
        "def predict(model, inputs):",
        "def predict(model, inputs):\n    assert len(inputs) <= 16, len(inputs)",
    )
    output = task.spec.output.model_copy(update={"batch_size": 16})
    batched = dataclasses.replace(task, spec=task.spec.model_copy(update={"output": output}))
    prepared = prepare_split(batched, "validation", data_dir=None, workdir=tmp_path / "inputs")
    evaluation = evaluate(
        make_submission(source), student_id="s", prepared=prepared, backend=backend
    )
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.run.record["batch_size"] == 16
    unbatched = evaluate(
        make_submission(source, name="again"),
        student_id="s",
        prepared=prepare_split(task, "validation", data_dir=None, workdir=tmp_path / "plain"),
        backend=backend,
    )
    assert unbatched.failure.kind == "crashed"
    assert "AssertionError" in unbatched.failure.message


class _BrokenBackend:
    name = "broken"

    def run(self, job):
        raise OSError("the container engine went away")


def test_an_infrastructure_fault_is_a_sandbox_error_not_a_crash_of_the_grader(
    make_submission, validation_split
):
    evaluation = evaluate(
        make_submission(GOOD), student_id="s", prepared=validation_split, backend=_BrokenBackend()
    )
    assert evaluation.failure.kind == "sandbox_error"
    assert "the container engine went away" in evaluation.failure.message
    assert "not your fault" in evaluation.failure.explanation


def test_a_sandbox_that_dies_before_its_supervisor_starts_is_the_infrastructures_fault(
    make_submission, validation_split
):
    """No submission code runs before the supervisor says it started, so a sandbox that
    ends without saying so is a sandbox_error (and is run again on resume), never the
    student's failure."""
    evaluation = evaluate(
        make_submission(GOOD),
        student_id="s",
        prepared=validation_split,
        backend=LocalBackend("/bin/false"),
    )
    assert evaluation.failure.kind == "sandbox_error"
    assert "ended before the run started" in evaluation.failure.message
