"""The three journeys as plain functions: a student's check, a marker's batch, the demo.

The CLI only parses arguments and calls these; a notebook or a script can call them too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from grader._resources import bundled_dir
from grader.evaluation import Evaluation, evaluate, prepare_split
from grader.gradebook import (
    MANUAL_FILE,
    ensure_manual_marks_sheet,
    read_manual_marks,
    write_gradebook,
)
from grader.report import write_report
from grader.store import ResultStore
from grader.submission import Submission, discover_submissions, student_id_from_name
from grader.tasks import Task, load_task
from sandbox import SandboxBackend, get_backend

DEMO_TASK = "breast-cancer-wdbc"
STORE_FILE = "medgrade.sqlite"
GRADEBOOK_FILE = "gradebook.csv"

Progress = Callable[[Evaluation], None]


def resolve_data_dir(data_dir: Path | None) -> Path | None:
    """``--data-dir``, else ``$MEDGRADE_DATA``, else None (bundled datasets need none)."""
    if data_dir is not None:
        return data_dir
    from_environment = os.environ.get("MEDGRADE_DATA")
    return Path(from_environment) if from_environment else None


def check(
    task: str | Task,
    submission: Path,
    *,
    backend: str | SandboxBackend = "local",
    out: Path = Path("medgrade-check"),
    data_dir: Path | None = None,
) -> Evaluation:
    """A student's self-check: run ``submission`` on the validation split and write its report."""
    task = task if isinstance(task, Task) else load_task(task)
    runner = get_backend(backend) if isinstance(backend, str) else backend
    with tempfile.TemporaryDirectory(prefix="medgrade-check-") as scratch:
        prepared = prepare_split(
            task, "validation", data_dir=resolve_data_dir(data_dir), workdir=Path(scratch)
        )
        evaluation = evaluate(
            Path(submission), student_id=_student_id(submission), prepared=prepared, backend=runner
        )
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


def grade(
    submissions: Path | list[Submission],
    task: str | Task,
    *,
    backend: str | SandboxBackend = "local",
    out: Path = Path("medgrade-out"),
    data_dir: Path | None = None,
    workers: int = 1,
    manual_marks: Path | None = None,
    on_result: Progress | None = None,
) -> BatchResult:
    """A marker's batch on the hidden test split: reports, store and gradebook in ``out``.

    Manual criteria come from ``manual_marks`` (default ``out/manual_marks.csv``, created with
    a row per student on the first run); blank cells stay pending.
    """
    task = task if isinstance(task, Task) else load_task(task)
    runner = get_backend(backend) if isinstance(backend, str) else backend
    found = discover_submissions(submissions) if isinstance(submissions, Path) else submissions
    out.mkdir(parents=True, exist_ok=True)
    sheet = manual_marks or out / MANUAL_FILE
    manual = read_manual_marks(sheet, task.rubric)
    evaluations: list[Evaluation] = []
    with (
        tempfile.TemporaryDirectory(prefix="medgrade-grade-") as scratch,
        ResultStore(out / STORE_FILE) as store,
    ):
        prepared = prepare_split(
            task, "test", data_dir=resolve_data_dir(data_dir), workdir=Path(scratch)
        )

        def run_one(submission: Submission) -> Evaluation:
            evaluation = evaluate(
                submission.path,
                student_id=submission.student_id,
                prepared=prepared,
                backend=runner,
                manual_points=manual.get(submission.student_id),
            )
            path = write_report(evaluation, task, out / "reports", n_cases=prepared.n_cases)
            return evaluation.with_report(path)

        # Workers only run sandboxes and write reports; this thread alone writes the store.
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for future in as_completed([pool.submit(run_one, s) for s in found]):
                evaluation = future.result()
                store.add(evaluation)
                evaluations.append(evaluation)
                if on_result is not None:
                    on_result(evaluation)
        evaluations.sort(key=lambda e: e.student_id)
        gradebook = write_gradebook(
            store, task.rubric, task_id=task.id, split="test", path=out / GRADEBOOK_FILE
        )
    if task.rubric.manual_criteria:
        ensure_manual_marks_sheet(sheet, task.rubric, [e.student_id for e in evaluations])
    return BatchResult(
        evaluations,
        out,
        out / STORE_FILE,
        gradebook,
        sheet if task.rubric.manual_criteria else None,
    )


def demo_submissions() -> list[Submission]:
    """The bundled example submissions, one per subfolder of ``examples/submissions``."""
    return discover_submissions(bundled_dir("examples") / "submissions")


def demo(
    *, out: Path = Path("medgrade-demo"), workers: int = 2, on_result: Progress | None = None
) -> BatchResult:
    """Grade the bundled examples on the bundled default task, as a marker would."""
    return grade(demo_submissions(), DEMO_TASK, out=out, workers=workers, on_result=on_result)
