"""The three journeys as plain functions: a student's check, a marker's batch, the demo.

The CLI only parses arguments and calls these; a notebook or a script can call them too.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from grader._resources import bundled_dir
from grader.evaluation import Evaluation, evaluate, failed_evaluation, prepare_split
from grader.gradebook import (
    MANUAL_FILE,
    ensure_manual_marks_sheet,
    read_manual_marks,
    write_gradebook,
)
from grader.outcome import Failure
from grader.report import write_report
from grader.store import ResultStore
from grader.submission import Submission, discover_submissions, student_id_from_name
from grader.tasks import Task, load_task
from sandbox import GpuSelection, SandboxBackend, choose_backend

DEMO_TASK = "breast-cancer-wdbc"
STORE_FILE = "medgrade.sqlite"
GRADEBOOK_FILE = "gradebook.csv"

Progress = Callable[[Evaluation], None]


def _runner(
    backend: str | SandboxBackend,
    *,
    purpose: Literal["check", "grade"],
    unsafe_local: bool,
    gpus: GpuSelection | None,
    on_note: Callable[[str], None] | None,
) -> SandboxBackend:
    if not isinstance(backend, str):
        return backend
    choice = choose_backend(backend, purpose=purpose, unsafe_local=unsafe_local, gpus=gpus)
    for note in choice.notes:
        if on_note is not None:
            on_note(note)
    return choice.backend


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
    runner = _runner(backend, purpose="check", unsafe_local=True, gpus=gpus, on_note=on_note)
    with tempfile.TemporaryDirectory(prefix="medgrade-check-") as scratch:
        prepared = prepare_split(task, "validation", data_dir=data_dir, workdir=Path(scratch))
        try:
            evaluation = evaluate(
                Path(submission),
                student_id=_student_id(submission),
                prepared=prepared,
                backend=runner,
            )
        finally:
            runner.close()
        path = write_report(evaluation, task, out / "reports", n_cases=prepared.n_cases)
    return evaluation.with_report(path)


def _student_id(submission: Path) -> str:
    return student_id_from_name(Path(submission).absolute().name)


@dataclass(frozen=True)
class BatchResult:
    evaluations: list[Evaluation]
    out: Path
    store_path: Path
    gradebook_path: Path
    manual_marks_path: Path | None
    warnings: tuple[str, ...] = ()


def grade(
    submissions: Path | list[Submission],
    task: str | Task,
    *,
    backend: str | SandboxBackend = "auto",
    unsafe_local: bool = False,
    gpus: GpuSelection | None = None,
    out: Path = Path("medgrade-out"),
    data_dir: Path | None = None,
    workers: int = 1,
    manual_marks: Path | None = None,
    on_result: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BatchResult:
    """A marker's batch on the hidden test split: reports, store and gradebook in ``out``.

    ``backend="auto"`` uses Docker, else bubblewrap; the non-isolating local backend only
    with ``unsafe_local``.  Manual criteria come from ``manual_marks`` (default
    ``out/manual_marks.csv``, created with a row per student on the first run); blank cells
    stay pending.
    """
    task = task if isinstance(task, Task) else load_task(task)
    found = discover_submissions(submissions) if isinstance(submissions, Path) else submissions
    out.mkdir(parents=True, exist_ok=True)
    sheet = manual_marks or out / MANUAL_FILE
    manual = read_manual_marks(sheet, task.rubric)
    students = {s.student_id for s in found}
    warnings = tuple(
        f"{sheet.name}: no submission from student {student!r}; their manual marks are unused"
        for student in sorted(set(manual) - students)
    )
    runner = _runner(
        backend, purpose="grade", unsafe_local=unsafe_local, gpus=gpus, on_note=on_note
    )
    evaluations: list[Evaluation] = []
    with (
        tempfile.TemporaryDirectory(prefix="medgrade-grade-") as scratch,
        ResultStore(out / STORE_FILE) as store,
    ):
        prepared = prepare_split(task, "test", data_dir=data_dir, workdir=Path(scratch))

        def run_one(submission: Submission) -> Evaluation:
            try:
                evaluation = evaluate(
                    submission.path,
                    student_id=submission.student_id,
                    prepared=prepared,
                    backend=runner,
                    manual_points=manual.get(submission.student_id),
                )
                path = write_report(evaluation, task, out / "reports", n_cases=prepared.n_cases)
            except (
                Exception
            ) as error:  # one submission's fault in the grader must not end the batch
                evaluation = failed_evaluation(
                    prepared, submission, Failure("sandbox_error", f"grading failed: {error!r}")
                )
                path = write_report(evaluation, task, out / "reports", n_cases=prepared.n_cases)
            # The graded notebook is on disk now; a class of them need not stay in memory.
            return replace(evaluation.with_report(path), executed_notebook=None)

        # Workers only run sandboxes and write reports; this thread alone writes the store.
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            try:
                for future in as_completed([pool.submit(run_one, s) for s in found]):
                    evaluation = future.result()
                    store.add(evaluation)
                    evaluations.append(evaluation)
                    if on_result is not None:
                        on_result(evaluation)
            except BaseException:
                # Ctrl-C or a fault: stop every sandbox now rather than wait for them.
                pool.shutdown(wait=False, cancel_futures=True)
                runner.close()
                raise
        runner.close()
        evaluations.sort(key=lambda e: e.student_id)
        gradebook = write_gradebook(
            store,
            task.rubric,
            task_id=task.id,
            task_version=task.spec.version,
            split="test",
            path=out / GRADEBOOK_FILE,
        )
    if task.rubric.manual_criteria:
        ensure_manual_marks_sheet(sheet, task.rubric, [e.student_id for e in evaluations])
    return BatchResult(
        evaluations,
        out,
        out / STORE_FILE,
        gradebook,
        sheet if task.rubric.manual_criteria else None,
        warnings,
    )


def demo_submissions() -> list[Submission]:
    """The bundled example submissions, one per subfolder of ``examples/submissions``."""
    return discover_submissions(bundled_dir("examples") / "submissions")


def demo(
    *,
    out: Path = Path("medgrade-demo"),
    backend: str = "auto",
    workers: int = 2,
    on_result: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BatchResult:
    """Grade the bundled examples on the bundled default task, as a marker would.

    The examples are known code, so the demo may fall back to the local backend on a
    machine without Docker or bubblewrap.
    """
    return grade(
        demo_submissions(),
        DEMO_TASK,
        backend=backend,
        unsafe_local=True,
        out=out,
        workers=workers,
        on_result=on_result,
        on_note=on_note,
    )
