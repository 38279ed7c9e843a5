"""A student's self-check: their submission on the validation split, its report written."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from grader.backend_stack import open_backend_stack
from grader.bundle import bundle_dataset, find_bundle
from grader.evaluation import Evaluation, evaluate, prepare_split
from grader.journeys._measure import measured_again, near_a_penalty
from grader.output import OutputFolder
from grader.report import write_report
from grader.submission import student_id_from_name, unusable_student_id
from grader.tasks import Task, load_task
from sandbox import GpuSelection, SandboxBackend


def check(
    task: str | Task,
    submission: Path,
    *,
    backend: str | SandboxBackend = "auto",
    gpus: GpuSelection | None = None,
    out: Path = Path("medgrade-check"),
    data_dir: Path | None = None,
    on_note: Callable[[str], None] | None = None,
) -> Evaluation:
    """A student's self-check: run ``submission`` on the validation split and write its report.

    ``backend="auto"`` uses Docker, else bubblewrap, else the (non-isolating) local backend.
    """
    task = task if isinstance(task, Task) else load_task(task)
    # The course's student bundle, when the submission or the working folder is in one,
    # gives the validation split: nothing to download, no test label on the machine.
    bundle = find_bundle(task, Path(submission), Path.cwd()) if data_dir is None else None
    dataset = bundle_dataset(task, bundle) if bundle is not None else None
    if bundle is not None and on_note is not None:
        on_note(f"validation split from the student bundle in {bundle}")
    stack = open_backend_stack(task, backend, purpose="check", unsafe_local=True, gpus=gpus)
    for note in stack.notes:
        if on_note is not None:
            on_note(note)
    runner = stack.backend
    with tempfile.TemporaryDirectory(prefix="medgrade-check-") as scratch:
        prepared = prepare_split(
            task, "validation", data_dir=data_dir, workdir=Path(scratch), dataset=dataset
        )
        try:
            evaluation = evaluate(
                Path(submission),
                student_id=_student_id(submission),
                prepared=prepared,
                backend=runner,
                # The student hears when predict gives different outputs for one input.
                repeat_predict=True,
            )
            if near_a_penalty(evaluation, task.rubric):
                again = evaluate(
                    Path(submission),
                    student_id=evaluation.student_id,
                    prepared=prepared,
                    backend=runner,
                    repeat_predict=True,
                )
                evaluation = measured_again(evaluation, again)
        finally:
            runner.close()
        path = write_report(evaluation, task, OutputFolder(out).reports, n_cases=prepared.n_cases)
    return evaluation.with_report(path)


def _student_id(submission: Path) -> str:
    """A self-check's student: the submission's name (``check ..`` has none to give)."""
    student_id = student_id_from_name(Path(submission).resolve().name)
    return "submission" if unusable_student_id(student_id) else student_id
