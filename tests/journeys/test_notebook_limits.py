"""The host reads a notebook before any sandbox starts: bounded work, whatever it holds.

The attack review's 56 MiB notebook cost the host 100 s and 1.5 GB before its sandbox
started (nbformat validating hundreds of thousands of saved outputs).  Saved outputs are
dropped before validation now (grading runs the cells again), and size and cell count are
capped.
"""

from __future__ import annotations

import json
import shutil

from grader.evaluation import evaluate
from sandbox import LocalBackend
from sandbox.harness import MAX_NOTEBOOK_BYTES, MAX_NOTEBOOK_CELLS
from tests.conftest import EXAMPLES

NOTEBOOK = EXAMPLES / "notebook" / "breast_cancer.ipynb"


def _copy_with(tmp_path, change) -> object:
    folder = tmp_path / "submission"
    shutil.copytree(NOTEBOOK.parent, folder)
    path = folder / NOTEBOOK.name
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    return folder


def test_a_notebook_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path, validation_split):
    def pad(document):
        document["metadata"]["padding"] = "x" * (MAX_NOTEBOOK_BYTES + 1)

    evaluation = evaluate(
        _copy_with(tmp_path, pad), student_id="s", prepared=validation_split, backend=LocalBackend()
    )
    assert evaluation.failure.kind == "invalid_submission"
    assert "clear its outputs and save it again" in evaluation.failure.message
    assert evaluation.run is None  # nothing ran


def test_a_notebook_with_too_many_cells_is_refused(tmp_path, validation_split):
    def multiply(document):
        cell = {"cell_type": "markdown", "metadata": {}, "source": "more"}
        document["cells"] += [dict(cell, id=f"m{i}") for i in range(MAX_NOTEBOOK_CELLS)]

    evaluation = evaluate(
        _copy_with(tmp_path, multiply),
        student_id="s",
        prepared=validation_split,
        backend=LocalBackend(),
    )
    assert evaluation.failure.kind == "invalid_submission"
    assert f"at most {MAX_NOTEBOOK_CELLS} cells" in evaluation.failure.message


def test_saved_outputs_are_dropped_unread_and_never_pass_for_grading_outputs(
    tmp_path, validation_split
):
    junk = [{"output_type": "stream", "name": "stdout", "text": "saved\n"} for _ in range(20000)]

    def save_outputs(document):
        for cell in document["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = junk

    evaluation = evaluate(
        _copy_with(tmp_path, save_outputs),
        student_id="s",
        prepared=validation_split,
        backend=LocalBackend(),
    )
    assert evaluation.status == "graded", evaluation.failure
    executed = json.loads(evaluation.executed_notebook)
    texts = [
        output.get("text", "")
        for cell in executed["cells"]
        if cell["cell_type"] == "code"
        for output in cell["outputs"]
    ]
    assert not any("saved" in text for text in texts)
