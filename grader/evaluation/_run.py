"""One submission through the sandbox: stage it, run the harness on a prepared split's
inputs, read back what it predicted, then score and mark it on the host."""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from grader._fs import remove_tree
from grader.environment import with_available_packages
from grader.errors import SubmissionError
from grader.evaluation._marking import mark
from grader.evaluation._record import Evaluation
from grader.evaluation._scoring import assess
from grader.evaluation._split import PreparedSplit
from grader.integrity import tensor_digests
from grader.kinds import Predictions, UnsafeFileError, output_kind, read_regular_file
from grader.outcome import Failure, RunInfo, interpret_run
from grader.reference import answer_files
from grader.rubric import ManualMarks
from grader.submission import Submission, content_sha256, stage_submission, submission_code
from grader.tasks import Task
from sandbox import SandboxBackend, SandboxJob, SandboxLimits, wire
from sandbox.harness import NOTEBOOK_SUFFIX, SubmissionFailure, find_entry, read_notebook


class RunCancelledError(RuntimeError):
    """The run was cancelled before its sandbox started: it has no result."""


#: The executed notebook comes back from the sandbox only up to this size.
MAX_EXECUTED_NOTEBOOK_BYTES = 32 * 2**20


def evaluate(
    submission_path: Path,
    *,
    student_id: str,
    prepared: PreparedSplit,
    backend: SandboxBackend,
    manual: ManualMarks | None = None,
    workdir: Path | None = None,
    repeat_predict: bool = False,
    cancelled: threading.Event | None = None,
) -> Evaluation:
    """Run one submission on a prepared split and score it; never raises for the student's faults.

    With ``repeat_predict`` the harness calls predict twice and the run's record says
    whether the two outputs differ (:attr:`Evaluation.nondeterminism`).

    With ``cancelled`` set (an interrupted batch), it raises :class:`RunCancelledError`
    instead of starting the sandbox.

    The staged copy and the sandbox's output live in a temporary folder under ``workdir``
    (default: the system's), which a batch points at its own scratch folder so that a
    killed batch's leftovers go with it.
    """
    scratch_dir = Path(tempfile.mkdtemp(prefix="medgrade-run-", dir=workdir))
    predictions: Predictions | None = None
    run: RunInfo | None = None
    executed: str | None = None
    try:
        try:
            submission_dir = stage_submission(
                submission_path,
                scratch_dir / "submission",
                max_bytes=prepared.task.spec.limits.submission_mb * 2**20,
            )
            sha256 = content_sha256(submission_dir)
            fingerprints = fingerprint(submission_dir)
        except SubmissionError as error:
            return failed_evaluation(
                prepared,
                Submission(student_id, submission_path),
                Failure("invalid_submission", str(error)),
                manual,
            )
        is_notebook, failure = _check_entry(submission_dir)
        if cancelled is not None and cancelled.is_set():
            # Checked as late as can be: the backend's close() stops the sandboxes that have
            # started, and a run cancelled before its start never starts one.
            raise RunCancelledError(f"{student_id}'s run was cancelled before it started")
        if failure is None:
            output_dir = scratch_dir / "output"
            output_dir.mkdir()
            _make_read_only(submission_dir)
            predictions, failure, run = _run_in_sandbox(
                submission_dir, output_dir, prepared, backend, repeat_predict=repeat_predict
            )
            executed = _executed_notebook(output_dir) if is_notebook else None
    finally:
        remove_tree(scratch_dir)
    evaluation = assess(
        prepared,
        student_id=student_id,
        submission_path=submission_path,
        sha256=sha256,
        failure=failure,
        predictions=predictions,
        run=run,
    )
    return mark(
        fingerprints.on(replace(evaluation, executed_notebook=executed)),
        prepared.task.rubric,
        manual=manual,
    )


@dataclass(frozen=True)
class Fingerprints:
    """What copies of one another or of the reference share: the model files' and weight
    tensors' sha256 and the submission's Python (:mod:`grader.integrity`)."""

    file_sha256: tuple[tuple[str, str], ...]
    tensor_sha256: tuple[tuple[str, str, int], ...]
    source_code: str | None

    def on(self, evaluation: Evaluation) -> Evaluation:
        return replace(
            evaluation,
            file_sha256=self.file_sha256,
            tensor_sha256=self.tensor_sha256,
            source_code=self.source_code,
        )


def fingerprint(submission_dir: Path) -> Fingerprints:
    """The fingerprints of a staged submission."""
    files = tuple(answer_files(submission_dir).items())
    return Fingerprints(
        files, tuple(tensor_digests(submission_dir, files)), submission_code(submission_dir)
    )


def _check_entry(submission_dir: Path) -> tuple[bool, Failure | None]:
    """Whether the submission is a notebook, and what is wrong with its files before
    anything runs (the harness's own rules): no entry file, several notebooks, a corrupt
    or non-v4 notebook."""
    try:
        entry = find_entry(submission_dir)
        is_notebook = entry.suffix.lower() == NOTEBOOK_SUFFIX
        if is_notebook:
            read_notebook(entry)
    except SubmissionFailure as failure:
        return False, Failure(failure.kind, failure.message)  # type: ignore[arg-type]
    return is_notebook, None


def _executed_notebook(output_dir: Path) -> str | None:
    try:
        data = read_regular_file(output_dir / wire.EXECUTED_NOTEBOOK, MAX_EXECUTED_NOTEBOOK_BYTES)
    except (OSError, UnsafeFileError):
        return None
    return data.decode("utf-8", "replace")


def failed_evaluation(
    prepared: PreparedSplit,
    submission: Submission,
    failure: Failure,
    manual: ManualMarks | None = None,
) -> Evaluation:
    """An evaluation for a submission that never reached the sandbox."""
    evaluation = assess(
        prepared,
        student_id=submission.student_id,
        submission_path=submission.path,
        sha256=None,
        failure=failure,
        predictions=None,
        run=None,
    )
    return mark(evaluation, prepared.task.rubric, manual=manual)


def sandbox_limits(task: Task) -> SandboxLimits:
    """The limits every run of ``task`` has."""
    limits = task.spec.limits
    return SandboxLimits(
        wall_time_s=limits.wall_time_s,
        cpu_time_s=limits.cpu_time_s,
        memory_mb=limits.memory_mb,
        cpus=limits.cpus,
        gpu=limits.gpu,
        notebook_time_s=limits.notebook_time_s,
        notebook_cell_time_s=limits.notebook_cell_time_s,
    )


def _run_in_sandbox(
    submission_dir: Path,
    output_dir: Path,
    prepared: PreparedSplit,
    backend: SandboxBackend,
    *,
    repeat_predict: bool,
) -> tuple[Predictions | None, Failure | None, RunInfo | None]:
    limits = prepared.task.spec.limits
    nonce = secrets.token_hex(16)
    job = SandboxJob(
        submission_dir=submission_dir,
        input_dir=prepared.input_dir,
        output_dir=output_dir,
        limits=sandbox_limits(prepared.task),
        nonce=nonce,
        masked_paths=prepared.masked_paths,
        seed=prepared.task.spec.split.seed,
        repeat_predict=repeat_predict,
    )
    try:
        result = backend.run(job)
    except Exception as error:  # an infrastructure fault must not stop the batch
        return None, Failure("sandbox_error", f"the {backend.name} sandbox failed: {error!r}"), None
    outcome = interpret_run(
        result,
        output_dir,
        nonce=nonce,
        read_predictions=lambda folder: output_kind(prepared.task.spec.output.kind).read(
            folder, prepared
        ),
        wall_time_limit_s=limits.wall_time_s,
        memory_limit_mb=limits.memory_mb,
        cpu_time_limit_s=limits.cpu_time_s,
    )
    run = RunInfo.from_result(result, outcome.record, outcome.observed)
    failure = outcome.failure
    if failure is not None and run.packages:
        failure = replace(failure, message=with_available_packages(failure.message, run.packages))
    return outcome.predictions, failure, run


def _make_read_only(folder: Path) -> None:
    for root, directories, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in directories:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(folder, 0o555)
