"""One batch's submissions graded, reused or re-marked, each committed to the store as it
finishes."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from grader.errors import SpecError, SubmissionError
from grader.evaluation import (
    Evaluation,
    PreparedSplit,
    evaluate,
    failed_evaluation,
    fingerprint,
    mark,
)
from grader.journeys._measure import cpu_time, measured_again, near_a_penalty
from grader.outcome import Failure
from grader.output import OutputFolder
from grader.reference import ReferenceFingerprint, answer_files, reference_submission
from grader.report import write_report
from grader.rubric import ManualMarks
from grader.store import ResultStore, RunKey, StoredRun
from grader.submission import Submission, stage_submission, submission_sha256
from grader.tasks import Task
from sandbox import SandboxBackend

#: Called with each submission's evaluation as it finishes (in the batch's thread).
Progress = Callable[[Evaluation], None]
#: Called with a student's id when their submission starts (in the worker's thread).
Started = Callable[[str], None]
#: Grades a submission on a cluster worker: (submission, manual points, repeat predict).
#: Grades a submission on a cluster worker (``True``: call predict twice); the batch marks it.
Remote = Callable[[Submission, bool], Evaluation]


#: How long an interrupted batch waits for its workers once their sandboxes are stopped.
STOP_GRACE_S = 10.0


class BatchStopped(Exception):
    """A worker's run was cut short by the batch's interruption (Ctrl-C): it has no result."""


@dataclass(frozen=True)
class Outcome:
    """One submission's result in a batch, as a worker hands it to the writing thread."""

    #: With its report path; the executed notebook is left out (it is on disk, or below).
    evaluation: Evaluation
    #: A new run's executed notebook, for the store.
    executed_notebook: str | None
    #: The stored run that was reused, or None for a submission that ran now.
    reused_run: int | None
    #: A reused run whose marks changed: the store takes the new ones.
    remarked: bool


@dataclass(frozen=True)
class Batch:
    """What every submission of one batch is graded with."""

    prepared: PreparedSplit
    #: Runs sandboxes here, or (None) ``remote`` sends each submission to a cluster worker.
    runner: SandboxBackend | None
    remote: Remote | None
    sandbox: str
    store: ResultStore
    out: Path
    manual: Mapping[str, ManualMarks]
    #: When each student handed in, for the rubric's late policy.
    submitted_at: Mapping[str, dt.datetime]
    scratch: Path
    #: Students whose run calls predict twice (``grade --verify-determinism``).
    repeat_for: frozenset[str] = frozenset()
    #: What a copy of the task's reference would share with it (None: no trained reference).
    reference: ReferenceFingerprint | None = None
    #: Students' names (the roster's, else the LMS download's), for their reports.
    names: Mapping[str, str] = field(default_factory=dict)
    #: Set when the batch is interrupted: a run still going then writes nothing.
    stopping: threading.Event = field(default_factory=threading.Event)

    def flagged(self, evaluation: Evaluation) -> Evaluation:
        """``evaluation`` with the marker's flags: its own, and a copy of the reference."""
        own = tuple(f for f in evaluation.flags if "reference implementation" not in f)
        copied = (
            self.reference.flags(evaluation.file_sha256, evaluation.predictions_sha256)
            if self.reference is not None
            else ()
        )
        return replace(evaluation, flags=own + copied)

    @property
    def task(self) -> Task:
        return self.prepared.task

    def grade_all(
        self,
        submissions: list[Submission],
        stored: Mapping[str, StoredRun],
        *,
        workers: int,
        on_start: Started | None,
        on_result: Progress | None,
    ) -> list[Outcome]:
        """Grade or reuse every submission, committing each to the store as it finishes."""
        outcomes: list[Outcome] = []
        # Workers run sandboxes, write reports and read stored runs; this thread alone
        # writes the store, one transaction per submission.
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        futures = [
            pool.submit(self.grade_one, submission, stored.get(submission.student_id), on_start)
            for submission in submissions
        ]
        recorded: set[Future[Outcome]] = set()

        def take(future: Future[Outcome]) -> None:
            outcome = future.result()
            self.record(outcome)
            recorded.add(future)
            outcomes.append(outcome)
            if on_result is not None:
                on_result(outcome.evaluation)

        try:
            for future in as_completed(futures):
                take(future)
        except BaseException as stopped:
            # Ctrl-C or a fault: the runs it cuts short are no one's result, so no worker
            # writes their reports; every sandbox is stopped now, not waited for.
            self.stopping.set()
            pool.shutdown(wait=False, cancel_futures=True)
            if self.runner is not None:
                self.runner.close()
            # Their sandboxes gone, the workers end at once; the batch's scratch folder is
            # removed only after them.
            wait([f for f in futures if not f.cancelled()], timeout=STOP_GRACE_S)
            if isinstance(stopped, KeyboardInterrupt):
                # A run that had finished is kept, as it would have been a moment earlier.
                finished = [f for f in futures if f.done() and not f.cancelled()]
                for future in finished:
                    if future not in recorded and future.exception() is None:
                        take(future)
            raise
        pool.shutdown()
        return outcomes

    def remeasure(self, outcomes: list[Outcome], submissions: list[Submission]) -> list[Outcome]:
        """Run once more, on its own, every new run whose CPU time is near a penalty's
        threshold, and keep the run with the lower CPU time (:func:`near_a_penalty`)."""
        by_student = {s.student_id: s for s in submissions}
        kept = []
        for outcome in outcomes:
            evaluation = outcome.evaluation
            if outcome.reused_run is None and near_a_penalty(evaluation, self.task.rubric):
                again = self._run(by_student[evaluation.student_id])
                best = again if cpu_time(again.evaluation) < cpu_time(evaluation) else outcome
                evaluation = measured_again(evaluation, again.evaluation)
                # Both runs wrote the student's report; it is written once more for the one
                # that counts, and that run is stored as the student's newest.
                path = self._write_report(
                    replace(evaluation, executed_notebook=best.executed_notebook)
                )
                outcome = Outcome(
                    evaluation.with_report(path),
                    executed_notebook=best.executed_notebook,
                    reused_run=None,
                    remarked=False,
                )
                self.record(outcome)
            kept.append(outcome)
        return kept

    def grade_one(
        self, submission: Submission, stored: StoredRun | None, on_start: Started | None = None
    ) -> Outcome:
        """Reuse ``stored`` if it still holds for ``submission``, else run it (in a worker)."""
        self._unless_stopping()
        if on_start is not None:
            on_start(submission.student_id)
        if stored is not None:
            reused = self._reuse(submission, stored)
            if reused is not None:
                return reused
        return self._run(submission)

    def record(self, outcome: Outcome) -> None:
        """Commit ``outcome`` to the store (in the batch's thread)."""
        if outcome.reused_run is None:
            self.store.add(
                outcome.evaluation,
                sandbox=self.sandbox,
                executed_notebook=outcome.executed_notebook,
            )
        elif outcome.remarked:
            self.store.replace_marks(outcome.reused_run, outcome.evaluation)

    def _run(self, submission: Submission) -> Outcome:
        prepared = self.prepared
        try:
            repeat = submission.student_id in self.repeat_for
            if self.remote is not None:
                evaluation = self.remote(submission, repeat)
            else:
                assert self.runner is not None
                evaluation = evaluate(
                    submission.path,
                    student_id=submission.student_id,
                    prepared=prepared,
                    backend=self.runner,
                    workdir=self.scratch,
                    repeat_predict=repeat,
                    cancelled=self.stopping,
                )
            self._unless_stopping()
            evaluation = self.flagged(self._marked(evaluation))
            path = self._write_report(evaluation)
        except Exception as error:  # one submission's fault in the grader must not end the batch
            self._unless_stopping()
            evaluation = failed_evaluation(
                prepared, submission, Failure("sandbox_error", f"grading failed: {error!r}")
            )
            path = self._write_report(self._marked(evaluation))
        # The graded notebook is on disk now; a class of them need not stay in memory.
        return Outcome(
            replace(evaluation.with_report(path), executed_notebook=None),
            executed_notebook=evaluation.executed_notebook,
            reused_run=None,
            remarked=False,
        )

    def _reuse(self, submission: Submission, stored: StoredRun) -> Outcome | None:
        """The stored run re-marked, or None when it does not hold for ``submission`` now."""
        # An infrastructure failure says nothing about the submission: it always runs again.
        if stored.key is None or not stored.has_document or stored.failure_kind == "sandbox_error":
            return None
        try:
            sha256 = submission_sha256(submission.path, workdir=self.scratch)
        except SubmissionError:
            return None
        if stored.key != self._key(sha256):
            return None
        # A stored run that cannot be brought back (an older document, a rubric criterion
        # on a metric the run lacks, a report that cannot be written) is graded again rather
        # than stopping the batch.
        try:
            evaluation = self.store.load_evaluation(stored.run_id)
            self._unless_stopping()
            refreshed = self._fingerprinted(evaluation, submission)
            flagged = self.flagged(self._marked(refreshed))
            remarked = flagged.marks != evaluation.marks or flagged.flags != evaluation.flags
            remarked |= refreshed is not evaluation
            evaluation = flagged
            report = OutputFolder(self.out).report(submission.student_id)
            if remarked or not report.is_file():
                report = self._write_report(evaluation)
        except BatchStopped:
            raise
        except Exception:
            return None
        return Outcome(
            replace(evaluation.with_report(report), executed_notebook=None),
            executed_notebook=None,
            reused_run=stored.run_id,
            remarked=remarked,
        )

    def _fingerprinted(self, evaluation: Evaluation, submission: Submission) -> Evaluation:
        """A run stored by a medgrade from before the integrity flags, with its code and
        weight tensors read again from the submission (its predictions are compared once it
        runs again); any other run as it is."""
        if evaluation.source_code is not None or evaluation.run is None:
            return evaluation
        limit = self.task.spec.limits.submission_mb * 2**20
        with tempfile.TemporaryDirectory(prefix="medgrade-reread-", dir=self.scratch) as scratch:
            try:
                folder = stage_submission(submission.path, Path(scratch) / "s", max_bytes=limit)
            except SubmissionError:
                return evaluation
            return fingerprint(folder).on(evaluation)

    def _unless_stopping(self) -> None:
        if self.stopping.is_set():
            raise BatchStopped

    def _marked(self, evaluation: Evaluation) -> Evaluation:
        """``evaluation`` marked for this batch: the marker's manual marks and, for the
        late policy, the hand-in time (a worker, here or on a cluster, knows neither)."""
        student = evaluation.student_id
        return mark(
            evaluation,
            self.task.rubric,
            manual=self.manual.get(student),
            submitted_at=self.submitted_at.get(student),
        )

    def _key(self, submission_sha256: str) -> RunKey:
        prepared = self.prepared
        return RunKey(
            task_id=self.task.id,
            task_version=self.task.spec.version,
            split=prepared.name,
            submission_sha256=submission_sha256,
            data_sha256=prepared.data_sha256,
            split_sha256=prepared.split_sha256,
            sandbox=self.sandbox,
        )

    def _write_report(self, evaluation: Evaluation) -> Path:
        """Write the report (and graded notebook) beside ``reports/``, then rename them in,
        so a reader or a killed grader never leaves half a report."""
        folder = OutputFolder(self.out)
        folder.reports.mkdir(parents=True, exist_ok=True)
        folder.partial.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.partial) as staging:
            written = write_report(
                evaluation,
                self.task,
                Path(staging),
                n_cases=self.prepared.n_cases,
                student_name=self.names.get(evaluation.student_id, ""),
            )
            report = folder.reports / written.name
            notebook = written.with_suffix(".ipynb")
            if notebook.is_file():
                os.replace(notebook, report.with_suffix(".ipynb"))
            else:  # left by an earlier notebook submission of this student
                report.with_suffix(".ipynb").unlink(missing_ok=True)
            os.replace(written, report)
        return report


def reference_fingerprint(
    task: Task,
    prepared: PreparedSplit,
    runner: SandboxBackend | None,
    remote: Remote | None,
    scratch: Path,
    references: Path | None,
) -> ReferenceFingerprint | None:
    """The trained reference's weights and its predictions on the graded split (it runs
    once, in the batch's sandbox), or None when its weights are not on this machine."""
    try:
        folder = reference_submission(task, scratch, references)
    except (SpecError, FileNotFoundError):
        return None
    weights = {sha: name for name, sha in answer_files(folder).items()}
    submission = Submission("reference", folder)
    try:
        if remote is not None:
            evaluation = remote(submission, False)
        else:
            assert runner is not None
            evaluation = evaluate(
                folder, student_id="reference", prepared=prepared, backend=runner, workdir=scratch
            )
    except Exception:  # the fingerprint only flags: a batch never stops for it
        return ReferenceFingerprint(weights)
    return ReferenceFingerprint(weights, evaluation.predictions_sha256)


def determinism_sample(students: Collection[str], size: int) -> frozenset[str]:
    """``size`` of ``students``, chosen by a hash of their ids: the same class gives the
    same sample on every machine and every run."""
    ranked = sorted(students, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    return frozenset(ranked[: max(0, size)])
