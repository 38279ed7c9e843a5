"""Notebook submissions, end to end on every isolating backend, and the Jupyter self-check.

The example notebooks (the good one in ``examples/submissions/notebook``, which the demo
grades too, and the failing ones in ``examples/notebooks``) are graded as a marker grades them; the
self-check runs from a real Jupyter kernel driven headless by nbclient.

What a backend takes part in (the kernel's start, its CPU budget and the kill at the hard
limit, what it may read and leave in its output folder) is tested on every isolating backend;
what the notebook runner inside the sandbox does alone (naming a failing cell, its tags, the
per-cell limit) or the host does with its result (the exports) on one, bubblewrap's warm pool,
the marker's default.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from grader.errors import NotebookError
from grader.evaluation import Evaluation, PreparedSplit, evaluate
from grader.notebooks import current_notebook
from grader.report import export_notebook, write_report
from sandbox import SandboxBackend
from sandbox.harness import SKIP_TAG
from tests.conftest import EXAMPLES, REPO, evaluate_with_limits

NOTEBOOKS = REPO / "examples" / "notebooks"
GOOD_NOTEBOOK = REPO / "examples" / "submissions" / "notebook"
REFERENCE = EXAMPLES / "good"
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


#: For a test of the notebook runner or the host alone: one isolating backend, not each.
on_one_backend = pytest.mark.parametrize("isolating_backend", ["bwrap-warm"], indirect=True)


def cells(evaluation: Evaluation) -> list[tuple[int, str]]:
    assert evaluation.run is not None
    return [(c["cell"], c["status"]) for c in evaluation.run.record["notebook"]["cells"]]


def notebook_with(tmp_path: Path, *sources: str, name: str = "student") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, folder / "work.ipynb")
    return folder


CONTRACT = """
import numpy as np

def load_model(artifacts_dir):
    return None

def predict(model, inputs):
    return np.full(len(inputs), 0.5)
"""


@pytest.fixture(scope="module")
def good(
    isolating_backend: SandboxBackend, validation_split: PreparedSplit
) -> tuple[Evaluation, Evaluation]:
    """The good notebook and the equivalent predict.py (same weights), on one backend."""
    notebook = evaluate(
        GOOD_NOTEBOOK, student_id="nb", prepared=validation_split, backend=isolating_backend
    )
    script = evaluate(
        REFERENCE, student_id="py", prepared=validation_split, backend=isolating_backend
    )
    return notebook, script


def test_the_good_notebook_is_graded_skipping_its_training_cell(good):
    notebook, _ = good
    assert notebook.status == "graded", notebook.failure
    assert cells(notebook) == [(2, "ran"), (3, "ran"), (4, "skipped"), (5, "ran"), (6, "ran")]
    record = notebook.run.record
    assert record["notebook"]["kernel"] == "python3"
    assert {"kernel_start_s", "cells_s", "load_model_s", "predict_s"} <= set(record["timings"])
    versions = record["environment"]["versions"]
    assert {"python", "numpy", "torch", "ipykernel", "nbclient"} <= set(versions)
    executed = nbformat.reads(notebook.executed_notebook, as_version=4)
    assert executed.cells[3].metadata["medgrade"] == {"status": "skipped"}
    # The self-check cell ran against the stub, not the real grader.
    printed = "".join(o.get("text", "") for o in executed.cells[5].outputs)
    assert "self-check skipped while grading" in printed


def test_a_notebook_and_the_equivalent_script_get_identical_marks(good):
    notebook, script = good
    assert script.status == "graded"
    assert notebook.marks.to_dict() == script.marks.to_dict()
    assert {k: v.value for k, v in notebook.metrics.items()} == {
        k: v.value for k, v in script.metrics.items()
    }


def test_an_untagged_slow_training_cell_times_out_naming_the_cell(
    isolating_backend, validation_split
):
    evaluation = evaluate_with_limits(
        NOTEBOOKS / "too-slow.ipynb", validation_split, isolating_backend, cpu_time_s=5
    )
    assert evaluation.failure is not None
    assert evaluation.failure.kind == "timeout"
    assert "cell 4 ('# Training on every run" in evaluation.failure.message
    assert SKIP_TAG in evaluation.failure.message
    assert cells(evaluation) == [(2, "ran"), (3, "ran"), (4, "timed out"), (5, "not run")]
    # Stopped by the harness a little before the CPU budget (so its record and notebook
    # stand), not by the supervisor's hard limit or a wall-clock kill.
    assert evaluation.run.cpu_time_s <= 5


def test_a_cell_that_ignores_the_interrupt_is_killed_before_the_hard_limit(
    isolating_backend, validation_split, tmp_path
):
    folder = notebook_with(
        tmp_path,
        CONTRACT,
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    )
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend, cpu_time_s=4)
    assert evaluation.failure.kind == "timeout"
    assert evaluation.failure.message.startswith("cell 2 ('import signal') used up the task's 4 s")
    assert cells(evaluation) == [(1, "ran"), (2, "timed out")]
    assert evaluation.run.cpu_time_s <= 4


@on_one_backend
def test_a_per_cell_limit_stops_one_slow_cell(isolating_backend, validation_split, tmp_path):
    folder = notebook_with(tmp_path, "import time\ntime.sleep(30)", CONTRACT)
    evaluation = evaluate_with_limits(
        folder, validation_split, isolating_backend, notebook_cell_time_s=3
    )
    assert evaluation.failure.kind == "timeout"
    assert "per-cell limit of 3 s" in evaluation.failure.message


def test_a_notebook_that_reads_the_hidden_labels_fails_in_that_cell(
    isolating_backend, validation_split
):
    evaluation = evaluate(
        NOTEBOOKS / "reads-hidden-labels.ipynb",
        student_id="cheat",
        prepared=validation_split,
        backend=isolating_backend,
    )
    assert evaluation.failure is not None
    assert evaluation.failure.kind == "crashed"
    assert evaluation.failure.message.startswith('cell 3 ("# Read the test labels')
    assert evaluation.metrics == {}
    assert cells(evaluation) == [(2, "ran"), (3, "error"), (4, "not run")]


@on_one_backend
def test_a_corrupt_notebook_is_an_invalid_submission_before_anything_runs(
    isolating_backend, validation_split
):
    evaluation = evaluate(
        NOTEBOOKS / "corrupt.ipynb",
        student_id="corrupt",
        prepared=validation_split,
        backend=isolating_backend,
    )
    assert evaluation.failure.kind == "invalid_submission"
    assert "corrupt.ipynb is not a readable notebook (not JSON" in evaluation.failure.message
    assert evaluation.run is None


@on_one_backend
def test_a_cell_error_names_the_cell_and_keeps_a_clean_traceback(
    isolating_backend, validation_split, tmp_path
):
    folder = notebook_with(tmp_path, CONTRACT, "values = [1, 2]\nvalues[5]")
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.failure.kind == "crashed"
    assert evaluation.failure.message == (
        "cell 2 ('values = [1, 2]') raised IndexError: list index out of range"
    )
    assert "values[5]" in evaluation.failure.detail
    assert "\x1b[" not in evaluation.failure.detail


@on_one_backend
def test_a_kernel_that_dies_is_a_crash(isolating_backend, validation_split, tmp_path):
    folder = notebook_with(tmp_path, CONTRACT, "import os\nos._exit(3)")
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.failure.kind == "crashed"
    assert "the kernel died while running cell 2" in evaluation.failure.message


@on_one_backend
def test_a_notebook_missing_predict_is_a_contract_error(
    isolating_backend, validation_split, tmp_path
):
    folder = notebook_with(tmp_path, "def load_model(artifacts_dir):\n    return None")
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.failure.kind == "contract_error"
    assert evaluation.failure.message == "work.ipynb does not define predict(model, inputs)"


def test_an_old_or_invalid_notebook_is_refused_with_the_reason(validation_split, backend, tmp_path):
    version_3 = tmp_path / "old.ipynb"
    version_3.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": []}))
    evaluation = evaluate(version_3, student_id="old", prepared=validation_split, backend=backend)
    assert evaluation.failure.kind == "invalid_submission"
    assert "a version 3 notebook" in evaluation.failure.message

    no_cells = tmp_path / "broken.ipynb"
    no_cells.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}}))
    evaluation = evaluate(no_cells, student_id="bad", prepared=validation_split, backend=backend)
    assert evaluation.failure.kind == "invalid_submission"
    assert "broken.ipynb is not a valid notebook" in evaluation.failure.message


def test_two_notebooks_without_predict_py_are_a_contract_error(validation_split, backend, tmp_path):
    folder = notebook_with(tmp_path, CONTRACT)
    shutil.copy(folder / "work.ipynb", folder / "draft.ipynb")
    evaluation = evaluate(folder, student_id="two", prepared=validation_split, backend=backend)
    assert evaluation.failure.kind == "contract_error"
    assert "2 notebooks (draft.ipynb, work.ipynb)" in evaluation.failure.message


@on_one_backend
def test_the_graded_notebook_carries_the_report_and_exports_to_html_and_pdf(
    good, task, validation_split, tmp_path
):
    notebook, _ = good
    report = write_report(notebook, task, tmp_path / "reports", n_cases=validation_split.n_cases)
    graded = report.with_suffix(".ipynb")
    last = nbformat.read(graded, as_version=4).cells[-1]
    assert "medgrade-report" in last.metadata["tags"]
    assert "Marks: 80 / 100" in last.outputs[0]["data"]["text/html"]

    html = export_notebook(graded, tmp_path / "exports" / "nb.html", to="html")
    text = html.read_text()
    assert "Marks: 80 / 100" in text and "def load_model(artifacts_dir)" in text
    assert "The medgrade report, added by the grader" not in text  # its input is hidden
    if BROWSER is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    pdf = export_notebook(graded, tmp_path / "exports" / "nb.pdf", to="pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    assert pdf.stat().st_size > 20_000


def test_check_from_a_real_jupyter_kernel_returns_the_report_inline(tmp_path):
    folder = tmp_path / "homework"
    shutil.copytree(GOOD_NOTEBOOK, folder)
    path = folder / "breast_cancer.ipynb"
    notebook = nbformat.read(path, as_version=4)
    del notebook.cells[3]  # training: model.pt is already there
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "from grader.notebooks import SelfCheck\n"
            "assert isinstance(_, SelfCheck)\n"
            "print(_.status, _.evaluation.split, f'{_.evaluation.marks.total:g}')",
            metadata={"tags": [SKIP_TAG]},  # uses the real grader, which grading stubs out
        )
    )
    nbformat.write(notebook, path)
    # The student's own kernel: the Python running these tests, medgrade installed in it.
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        skip_cells_with_tag="none: a student runs every cell",
        resources={"metadata": {"path": str(folder)}},
    )
    client.execute()
    check_outputs = notebook.cells[4].outputs
    html = [o["data"]["text/html"] for o in check_outputs if "text/html" in o.get("data", {})]
    assert len(html) == 1
    assert 'class="medgrade-report"' in html[0]
    assert "Self-check on the validation split" in html[0]
    assert "Marks: 80 / 100" in html[0]
    printed = "".join(o.get("text", "") for o in notebook.cells[5].outputs)
    assert printed.split() == ["graded", "validation", "80"]
    assert (folder / "medgrade-check" / "reports" / "homework.html").is_file()


def test_the_current_notebook_is_found_or_the_student_is_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(NotebookError, match="name it"):
        current_notebook()
    (tmp_path / "a.ipynb").write_text("{}")
    assert current_notebook() == tmp_path / "a.ipynb"
    (tmp_path / "b.ipynb").write_text("{}")
    with pytest.raises(NotebookError, match="cannot tell which notebook"):
        current_notebook()
    monkeypatch.setenv("JPY_SESSION_NAME", "course/week3/b.ipynb")  # Jupyter's API path
    assert current_notebook() == tmp_path / "b.ipynb"


@on_one_backend
def test_medgrade_export_writes_one_file_per_graded_notebook(
    good, task, validation_split, tmp_path
):
    notebook, _ = good
    write_report(notebook, task, tmp_path / "out" / "reports", n_cases=validation_split.n_cases)
    done = subprocess.run(
        [sys.executable, "-m", "grader", "export", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "exports" / "nb.html").is_file()
    missing = subprocess.run(
        [sys.executable, "-m", "grader", "export", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "no graded notebooks" in missing.stderr


def test_outputs_saved_by_the_student_never_pass_for_grading_outputs(
    isolating_backend, validation_split, tmp_path
):
    folder = notebook_with(tmp_path, CONTRACT, "print('trained')", "raise ValueError('stop')")
    notebook = nbformat.read(folder / "work.ipynb", as_version=4)
    fake = nbformat.v4.new_output("stream", name="stdout", text="Marks: 100 / 100\n")
    notebook.cells[1].metadata["tags"] = [SKIP_TAG]
    notebook.cells.append(nbformat.v4.new_code_cell("print('after')", outputs=[fake]))
    notebook.cells[1].outputs = [fake]
    nbformat.write(notebook, folder / "work.ipynb")
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.failure.kind == "crashed"
    assert cells(evaluation) == [(1, "ran"), (2, "skipped"), (3, "error"), (4, "not run")]
    executed = nbformat.reads(evaluation.executed_notebook, as_version=4)
    for index, why in ((1, "tagged skip-grading"), (3, "an earlier cell failed")):
        texts = [o.get("text", "") for o in executed.cells[index].outputs]
        assert texts == [f"[medgrade] not run at grading ({why})\n"]


@on_one_backend
def test_memory_errors_and_raises_exception_tags_are_failures_of_their_kind(
    isolating_backend, validation_split, tmp_path
):
    folder = notebook_with(tmp_path, CONTRACT, "raise MemoryError()", name="memory")
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.failure.kind == "out_of_memory"

    folder = notebook_with(tmp_path, CONTRACT, "1 / 0", name="tagged")
    notebook = nbformat.read(folder / "work.ipynb", as_version=4)
    notebook.cells[1].metadata["tags"] = ["raises-exception", "x" * 500]
    nbformat.write(notebook, folder / "work.ipynb")
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.failure.kind == "crashed"
    assert "ZeroDivisionError" in evaluation.failure.message


def test_a_slow_predict_in_a_notebook_times_out_with_its_record(
    isolating_backend, validation_split, tmp_path
):
    slow = CONTRACT.replace(
        "    return np.full", "    import time\n    time.sleep(60)\n    return np.full"
    )
    folder = notebook_with(tmp_path, slow)
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend, hang_guard_s=10)
    assert evaluation.failure.kind == "timeout"
    assert evaluation.failure.message == (
        "load_model and predict did not finish within the task's wall time"
    )
    assert cells(evaluation) == [(1, "ran")]  # the harness, not the backend, stopped it
    assert evaluation.executed_notebook is not None


def test_a_notebook_file_left_by_the_submission_is_never_trusted(
    isolating_backend, validation_split, task, make_submission, tmp_path
):
    plant = """
import numpy as np
from pathlib import Path

def load_model(artifacts_dir):
    Path("/output/notebook.ipynb").write_text('{"nbformat": 4, "x": "\\\\ud800"}')
    Path("/output/notebook.tmp").mkdir()

def predict(model, inputs):
    return np.full(len(inputs), 0.5)
"""
    script = make_submission(plant, name="script")
    evaluation = evaluate_with_limits(script, validation_split, isolating_backend)
    assert evaluation.status == "graded" and evaluation.executed_notebook is None

    folder = notebook_with(tmp_path, plant)
    evaluation = evaluate_with_limits(folder, validation_split, isolating_backend)
    assert evaluation.status == "graded"
    report = write_report(evaluation, task, tmp_path / "reports", n_cases=validation_split.n_cases)
    assert report.is_file()
    assert not report.with_suffix(".ipynb").exists()  # unusable, so left out


def test_the_export_sanitises_the_students_cells_and_keeps_the_real_report(
    good, task, validation_split, tmp_path
):
    notebook, _ = good
    executed = nbformat.reads(notebook.executed_notebook, as_version=4)
    forged = "<h2>Marks: 100 / 100</h2><script>document.title = 'forged'</script>"
    executed.cells[1].outputs.append(
        nbformat.v4.new_output("display_data", data={"text/html": forged})
    )
    executed.cells[1].metadata["tags"] = ["medgrade-report"]
    forged_evaluation = dataclasses.replace(notebook, executed_notebook=nbformat.writes(executed))
    report = write_report(forged_evaluation, task, tmp_path, n_cases=validation_split.n_cases)
    html = export_notebook(report.with_suffix(".ipynb"), tmp_path / "nb.html").read_text()
    assert "<script>document.title" not in html
    assert "Marks: 80 / 100" in html
    assert "from pathlib import Path" in html  # the student's cell input is not hidden


def test_the_local_backend_runs_notebooks_too(backend, validation_split):
    evaluation = evaluate(
        GOOD_NOTEBOOK, student_id="nb", prepared=validation_split, backend=backend
    )
    assert evaluation.status == "graded", evaluation.failure
    assert cells(evaluation)[2] == (4, "skipped")
