"""The three journeys as plain functions: a student's check, a marker's batch, the demo.

The CLI only parses arguments and calls these; a notebook or a script can call them too.

A marker's batch is crash-safe and resumable.  Every finished submission is committed to the
store at once, and every file is replaced whole (reports, gradebook, manual-marks sheet), so
a grader killed at any moment, even by SIGKILL, leaves finished grades and whole files.  Run
the same command again and it resumes: a submission whose stored run has the same
:class:`~grader.store.RunKey` (same files, task version, split, data and sandbox) is not run
again; its stored evaluation is marked again against the current rubric and manual marks and
reused.  Before anything else, the new batch removes what the killed one left: its scratch
folder, half-written files and any sandbox process still running.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import math
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal

from grader._fs import remove_tree
from grader._resources import bundled_dir
from grader.bundle import bundle_dataset, find_bundle
from grader.cluster import (
    WorkerSetup,
    connect,
    evaluate_remotely,
    task_reference,
    worker_slots,
)
from grader.environment import choose_task_backend
from grader.errors import MedgradeError, SpecError, SubmissionError
from grader.evaluation import (
    Evaluation,
    PreparedSplit,
    evaluate,
    failed_evaluation,
    mark_run,
    prepare_split,
    sandbox_limits,
)
from grader.gradebook import ensure_manual_marks_sheet, read_manual_marks, write_gradebook
from grader.lms import (
    Download,
    LmsExport,
    class_list,
    read_download,
    read_roster,
    read_submission_times,
    write_lms_exports,
)
from grader.outcome import Failure
from grader.output import PARTIAL_SUFFIX, OutputFolder, write_text_atomically
from grader.reference import ReferenceFingerprint, answer_files, reference_submission
from grader.report import write_class_dashboard, write_report
from grader.rubric import Marks, Rubric
from grader.store import ResultStore, RunKey, StoredRun
from grader.submission import (
    IGNORED_NAMES,
    Submission,
    student_id_from_name,
    submission_sha256,
    unusable_student_id,
)
from grader.tasks import Task, load_task
from sandbox import (
    GpuPlacement,
    GpuSelection,
    SandboxBackend,
    WarmBubblewrap,
    place_on_gpus,
    warm,
)

if TYPE_CHECKING:
    from distributed import Client

DEMO_TASK = "breast-cancer-wdbc"
SCRATCH_PREFIX = "medgrade-grade-"
#: Below this many submissions, starting the warm pool's server (about 3.5 s of imports on
#: 2 cores) costs more than it saves over cold runs (about 1.5 s each).
WARM_POOL_MIN_SUBMISSIONS = 8

Progress = Callable[[Evaluation], None]
#: Called with a student's id when their submission starts (in the worker's thread).
Started = Callable[[str], None]


def _runner(
    task: Task,
    backend: str | SandboxBackend,
    *,
    purpose: Literal["check", "grade"],
    unsafe_local: bool,
    gpus: GpuSelection | None,
    on_note: Callable[[str], None] | None,
) -> SandboxBackend:
    if not isinstance(backend, str):
        return backend
    choice = choose_task_backend(
        task, backend, purpose=purpose, unsafe_local=unsafe_local, gpus=gpus
    )
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
    # The course's student bundle, when the submission or the working folder is in one,
    # gives the validation split: nothing to download, no test label on the machine.
    bundle = find_bundle(task, Path(submission), Path.cwd()) if data_dir is None else None
    dataset = bundle_dataset(task, bundle) if bundle is not None else None
    if bundle is not None and on_note is not None:
        on_note(f"validation split from the student bundle in {bundle}")
    runner = _runner(task, backend, purpose="check", unsafe_local=True, gpus=gpus, on_note=on_note)
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


@dataclass(frozen=True)
class BatchResult:
    evaluations: list[Evaluation]
    out: Path
    store_path: Path
    gradebook_path: Path
    manual_marks_path: Path | None
    warnings: tuple[str, ...] = ()
    #: Students whose stored run was reused: unchanged since it was graded, not run again.
    reused: tuple[str, ...] = ()
    #: Of those, the ones whose marks changed (manual marks entered, rubric edited).
    remarked: tuple[str, ...] = ()
    #: What the marker should know that is no fault: the download's layout, files renamed.
    notes: tuple[str, ...] = ()
    #: Roster students without a submission: in the gradebooks with no grade.
    missing: tuple[str, ...] = ()
    #: The LMS gradebooks written beside the gradebook (a folder for Gradescope).
    exports: tuple[Path, ...] = ()
    #: The class dashboard (``out/dashboard.html``).
    dashboard: Path | None = None

    @property
    def graded(self) -> tuple[str, ...]:
        """Students whose submission ran in this batch."""
        reused = set(self.reused)
        return tuple(e.student_id for e in self.evaluations if e.student_id not in reused)


def sandbox_identity(backend: SandboxBackend) -> str:
    """What the sandbox contributes to a run's outcome: the backend, and for docker the image
    id (its packages are what the submission imports)."""
    image_id = getattr(backend, "image_id", None)
    return backend.name if image_id is None else f"{backend.name}:{image_id}"


def remark(
    evaluation: Evaluation,
    rubric: Rubric,
    manual_points: Mapping[str, float] | None,
    submitted_at: dt.datetime | None = None,
) -> Marks:
    """The marks grading ``evaluation``'s submission again would award, without running it:
    the rubric applied to its stored metrics and run time, with ``manual_points`` and the
    time it was handed in."""
    return mark_run(
        rubric,
        evaluation.metrics,
        evaluation.failure,
        evaluation.run,
        manual_points,
        submitted_at,
        labels_hidden=evaluation.labels_hidden,
    )


def grade(
    submissions: Path | list[Submission],
    task: str | Task,
    *,
    backend: str | SandboxBackend = "auto",
    unsafe_local: bool = False,
    gpus: GpuSelection | None = None,
    out: Path = Path("medgrade-out"),
    data_dir: Path | None = None,
    workers: int | None = None,
    manual_marks: Path | None = None,
    regrade: Collection[str] = (),
    regrade_all: bool = False,
    verify_determinism: int = 0,
    references: Path | None = None,
    roster: Path | None = None,
    submission_times: Path | None = None,
    lms: Collection[str] = (),
    assignment_name: str | None = None,
    assignment_id: str | None = None,
    cluster: str | Client | None = None,
    leaderboard: bool = False,
    warm_pool: bool = True,
    on_start: Started | None = None,
    on_result: Progress | None = None,
    on_note: Callable[[str], None] | None = None,
) -> BatchResult:
    """A marker's batch on the hidden test split: reports, store and gradebook in ``out``.

    With ``cluster`` (a Dask scheduler address such as ``tcp://scheduler:8786``, or a
    ``distributed.Client``), every sandbox run happens on a Dask worker, as many at once as
    the cluster has worker threads, with ``backend`` chosen on each worker; the store,
    reports and gradebooks stay here (:mod:`grader.cluster`).

    ``workers`` submissions run at once (default :func:`default_workers`).  For a task that
    wants a GPU, each run is placed on its own device from ``gpus``
    (:class:`sandbox.GpuPlacement`), the task's ``limits.runs_per_gpu`` runs per device.

    ``out/dashboard.html`` summarises the class (:func:`grader.report.write_class_dashboard`);
    ``leaderboard`` adds a ranking to it.

    ``submissions`` is a folder in medgrade's layout or a Canvas or Moodle bulk download
    (:func:`grader.lms.read_download`), or the submissions themselves.

    ``backend="auto"`` uses Docker, else bubblewrap; the non-isolating local backend only
    with ``unsafe_local``.  With bubblewrap, ``warm_pool`` forks each run from a server
    that has imported numpy, torch and scikit-learn once (:mod:`sandbox._warm`), for a
    batch of at least :data:`WARM_POOL_MIN_SUBMISSIONS`; otherwise every run starts its own
    interpreter.  Manual criteria come from ``manual_marks`` (default
    ``out/manual_marks.csv``, created with a row per student on the first run); blank cells
    stay pending.

    ``submission_times`` (:func:`grader.lms.read_submission_times`) says when each student
    handed in, for the rubric's late policy; a change to it re-marks without running again.

    ``roster`` (:func:`grader.lms.read_roster`) names the students; those without a
    submission are listed as missing.  ``lms`` names the LMS gradebooks to write beside the
    plain one (``canvas``, ``moodle``, ``gradescope``); Canvas needs ``assignment_id`` or
    ``assignment_name``.

    Run again on the same ``out``, the batch resumes (see the module docstring): only new
    or changed submissions run, and those whose last run was a ``sandbox_error``.  The
    students in ``regrade``, or all with ``regrade_all``, run again whatever their store says.

    ``verify_determinism`` students (a sample that depends only on their ids) run again with
    predict called twice; those whose outputs differ are flagged in their report and the
    dashboard.  Submissions that copy the task's reference (its weight files, or its
    predictions) are flagged too, when its trained weights are here or in ``references``
    (:mod:`grader.reference`).
    """
    task = task if isinstance(task, Task) else load_task(task)
    export = LmsExport.parse(lms, assignment_name=assignment_name, assignment_id=assignment_id)
    enrolled = read_roster(roster) if roster is not None else None
    times = read_submission_times(submission_times) if submission_times is not None else {}
    # A download is read now, to check the students; files are gathered in the scratch folder.
    download = read_download(submissions) if isinstance(submissions, Path) else None
    given = [] if isinstance(submissions, Path) else submissions
    for submission in given:
        problem = unusable_student_id(submission.student_id)
        if problem is not None:
            raise SubmissionError(
                f"the student id {submission.student_id!r} of {submission.path} cannot name a "
                f"student because {problem}"
            )
    students = set(download.student_ids if download is not None else (s.student_id for s in given))
    unknown = sorted(set(regrade) - students)
    if unknown:
        raise SubmissionError(
            f"--regrade {' '.join(unknown)}: no such student among the submissions; "
            f"the students are {', '.join(sorted(students)) or 'none'}"
        )
    out.mkdir(parents=True, exist_ok=True)
    folder = OutputFolder(out)
    with _exclusive_output(out, on_note) as lease:
        sheet = manual_marks or folder.manual_marks
        manual = read_manual_marks(sheet, task.rubric)
        warnings = tuple(
            f"{sheet.name}: no submission from student {student!r}; their manual marks are unused"
            for student in sorted(set(manual) - students)
        )
        if roster is not None and enrolled is not None:
            warnings += tuple(
                f"{roster.name}: student {student!r} has a submission but is not on the roster"
                for student in sorted(students - set(enrolled))
            )
        if submission_times is not None:
            warnings += tuple(
                f"{submission_times.name}: no submission from student {student!r}; their time "
                "is unused"
                for student in sorted(set(times) - students)
            )
            if task.rubric.late_policy is None:
                warnings += (
                    f"{submission_times.name}: the rubric has no late_policy, so submission "
                    "times change no marks",
                )
            else:
                warnings += tuple(
                    f"{submission_times.name}: no time for student {student!r}; no late "
                    "penalty can apply to them"
                    for student in sorted(students - set(times))
                )
        client, opened_client = connect(cluster) if cluster is not None else (None, False)
        runner = (
            _runner(
                task,
                backend,
                purpose="grade",
                unsafe_local=unsafe_local,
                gpus=gpus,
                on_note=on_note,
            )
            if client is None
            else None
        )
        remote = None
        if client is not None:
            if not isinstance(backend, str):
                raise MedgradeError("on a cluster, name the backend each worker uses")
            setup = WorkerSetup(
                task=task_reference(task),
                data_dir=None if data_dir is None else str(data_dir),
                backend=backend,
                unsafe_local=unsafe_local,
                warm_pool=warm_pool,
                gpus=gpus,
            )
            remote = functools.partial(evaluate_remotely, client, setup)
            workers = worker_slots(client)
        try:
            with (
                tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX) as scratch,
                ResultStore(folder.store) as store,
            ):
                lease.hold(Path(scratch))
                found = (
                    download.submissions(staging=Path(scratch) / "intake")
                    if download is not None
                    else given
                )
                pool = None
                if runner is not None and warm_pool and len(found) >= WARM_POOL_MIN_SUBMISSIONS:
                    # Every job's folders lie in the scratch folder, which the pool's
                    # server sees; it is closed below, before the folder goes.
                    runner = pool = warm(runner, root=Path(scratch), limits=sandbox_limits(task))
                    if isinstance(pool, WarmBubblewrap):
                        pool.start(wait=False)  # while the inputs are prepared
                limits = task.spec.limits
                placement = (
                    place_on_gpus(
                        runner, gpus, wants_gpu=limits.gpu, runs_per_device=limits.runs_per_gpu
                    )
                    if runner is not None
                    else None
                )
                runner = placement or runner
                workers = workers or default_workers(placement)
                prepared = prepare_split(task, "test", data_dir=data_dir, workdir=Path(scratch))
                batch = _Batch(
                    prepared=prepared,
                    runner=runner,
                    remote=remote,
                    sandbox=sandbox_identity(runner)
                    if runner is not None
                    else f"cluster:{backend}",
                    store=store,
                    out=out,
                    manual=manual,
                    submitted_at=times,
                    scratch=Path(scratch),
                    repeat_for=determinism_sample(students, verify_determinism),
                    reference=_reference_fingerprint(
                        task, prepared, runner, remote, Path(scratch), references
                    ),
                )
                stored = (
                    {}
                    if regrade_all
                    else store.latest_stored_runs(task.id, task.spec.version, "test")
                )
                for student in {*regrade, *batch.repeat_for}:
                    stored.pop(student, None)
                outcomes = batch.grade_all(
                    found, stored, workers=workers, on_start=on_start, on_result=on_result
                )
                outcomes = batch.remeasure(outcomes, found)
                if isinstance(pool, WarmBubblewrap):
                    pool.close()
                    if pool.failure is not None and on_note is not None:
                        on_note(f"{pool.failure}; its runs started cold instead")
                graded = {
                    g.student_id for g in store.latest_grades(task.id, task.spec.version, "test")
                }
                missing = tuple(sorted(set(enrolled or ()) - graded))
                gradebook = write_gradebook(
                    store,
                    task.rubric,
                    task_id=task.id,
                    task_version=task.spec.version,
                    split="test",
                    path=folder.gradebook,
                    missing=missing,
                )
                exports = write_lms_exports(
                    store,
                    task,
                    export,
                    split="test",
                    students=class_list(enrolled, found),
                    missing=missing,
                    out=out,
                )
                dashboard = write_class_dashboard(store, task, out, leaderboard=leaderboard)
        finally:
            if runner is not None:
                runner.close()
            if client is not None and opened_client:
                client.close()
        outcomes.sort(key=lambda o: o.evaluation.student_id)
        evaluations = [o.evaluation for o in outcomes]
        if task.rubric.manual_criteria:
            ensure_manual_marks_sheet(sheet, task.rubric, [e.student_id for e in evaluations])
    return BatchResult(
        evaluations,
        out,
        folder.store,
        gradebook,
        sheet if task.rubric.manual_criteria else None,
        warnings,
        reused=tuple(o.evaluation.student_id for o in outcomes if o.reused_run is not None),
        remarked=tuple(o.evaluation.student_id for o in outcomes if o.remarked),
        notes=_intake_notes(download),
        missing=missing,
        exports=exports,
        dashboard=dashboard,
    )


def default_workers(placement: GpuPlacement | None) -> int:
    """Runs at once when the marker does not say: one per GPU slot for a GPU task, else one
    per core, at most 4 (past that, the grader's scoring, one Python thread at a time, is
    the bound: see benchmarks/class_scale.py)."""
    if placement is not None:
        return placement.slots
    return max(1, min(4, len(os.sched_getaffinity(0))))


def _intake_notes(download: Download | None) -> tuple[str, ...]:
    if download is None or download.layout == "folders":
        return ()
    return (f"read {download.describe()}", *download.notes)


@dataclass(frozen=True)
class _Outcome:
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
class _Batch:
    """What every submission of one batch is graded with."""

    prepared: PreparedSplit
    #: Runs sandboxes here, or (None) ``remote`` sends each submission to a cluster worker.
    runner: SandboxBackend | None
    remote: Callable[[Submission, Mapping[str, float] | None, bool], Evaluation] | None
    sandbox: str
    store: ResultStore
    out: Path
    manual: dict[str, dict[str, float]]
    #: When each student handed in, for the rubric's late policy.
    submitted_at: Mapping[str, dt.datetime]
    scratch: Path
    #: Students whose run calls predict twice (``grade --verify-determinism``).
    repeat_for: frozenset[str] = frozenset()
    #: What a copy of the task's reference would share with it (None: no trained reference).
    reference: ReferenceFingerprint | None = None

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
    ) -> list[_Outcome]:
        """Grade or reuse every submission, committing each to the store as it finishes."""
        outcomes: list[_Outcome] = []
        # Workers run sandboxes, write reports and read stored runs; this thread alone
        # writes the store, one transaction per submission.
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            futures = [
                pool.submit(self.grade_one, submission, stored.get(submission.student_id), on_start)
                for submission in submissions
            ]
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    self.record(outcome)
                    outcomes.append(outcome)
                    if on_result is not None:
                        on_result(outcome.evaluation)
            except BaseException:
                # Ctrl-C or a fault: stop every sandbox now rather than wait for them.
                pool.shutdown(wait=False, cancel_futures=True)
                if self.runner is not None:
                    self.runner.close()
                raise
        return outcomes

    def remeasure(self, outcomes: list[_Outcome], submissions: list[Submission]) -> list[_Outcome]:
        """Run once more, on its own, every new run whose CPU time is near a penalty's
        threshold, and keep the run with the lower CPU time (:func:`near_a_penalty`)."""
        by_student = {s.student_id: s for s in submissions}
        kept = []
        for outcome in outcomes:
            evaluation = outcome.evaluation
            if outcome.reused_run is None and near_a_penalty(evaluation, self.task.rubric):
                again = self._run(by_student[evaluation.student_id])
                best = again if _cpu(again.evaluation) < _cpu(evaluation) else outcome
                evaluation = measured_again(evaluation, again.evaluation)
                # Both runs wrote the student's report; it is written once more for the one
                # that counts, and that run is stored as the student's newest.
                path = self._write_report(
                    replace(evaluation, executed_notebook=best.executed_notebook)
                )
                outcome = _Outcome(
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
    ) -> _Outcome:
        """Reuse ``stored`` if it still holds for ``submission``, else run it (in a worker)."""
        if on_start is not None:
            on_start(submission.student_id)
        if stored is not None:
            reused = self._reuse(submission, stored)
            if reused is not None:
                return reused
        return self._run(submission)

    def record(self, outcome: _Outcome) -> None:
        """Commit ``outcome`` to the store (in the batch's thread)."""
        if outcome.reused_run is None:
            self.store.add(
                outcome.evaluation,
                sandbox=self.sandbox,
                executed_notebook=outcome.executed_notebook,
            )
        elif outcome.remarked:
            self.store.replace_marks(outcome.reused_run, outcome.evaluation)

    def _run(self, submission: Submission) -> _Outcome:
        prepared = self.prepared
        manual_points = self.manual.get(submission.student_id)
        try:
            repeat = submission.student_id in self.repeat_for
            if self.remote is not None:
                evaluation = self.remote(submission, manual_points, repeat)
            else:
                assert self.runner is not None
                evaluation = evaluate(
                    submission.path,
                    student_id=submission.student_id,
                    prepared=prepared,
                    backend=self.runner,
                    manual_points=manual_points,
                    workdir=self.scratch,
                    repeat_predict=repeat,
                )
            evaluation = self.flagged(self._with_lateness(evaluation, manual_points))
            path = self._write_report(evaluation)
        except Exception as error:  # one submission's fault in the grader must not end the batch
            evaluation = failed_evaluation(
                prepared, submission, Failure("sandbox_error", f"grading failed: {error!r}")
            )
            path = self._write_report(self._with_lateness(evaluation, manual_points))
        # The graded notebook is on disk now; a class of them need not stay in memory.
        return _Outcome(
            replace(evaluation.with_report(path), executed_notebook=None),
            executed_notebook=evaluation.executed_notebook,
            reused_run=None,
            remarked=False,
        )

    def _reuse(self, submission: Submission, stored: StoredRun) -> _Outcome | None:
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
            marks = remark(
                evaluation,
                self.task.rubric,
                self.manual.get(submission.student_id),
                self.submitted_at.get(submission.student_id),
            )
            flagged = self.flagged(replace(evaluation, marks=marks))
            remarked = marks != evaluation.marks or flagged.flags != evaluation.flags
            evaluation = flagged
            report = OutputFolder(self.out).report(submission.student_id)
            if remarked or not report.is_file():
                report = self._write_report(evaluation)
        except Exception:
            return None
        return _Outcome(
            replace(evaluation.with_report(report), executed_notebook=None),
            executed_notebook=None,
            reused_run=stored.run_id,
            remarked=remarked,
        )

    def _with_lateness(
        self, evaluation: Evaluation, manual_points: Mapping[str, float] | None
    ) -> Evaluation:
        """``evaluation`` marked with the rubric's late policy (the sandbox's worker, here
        or on a cluster, marks without the submission times)."""
        rubric = self.task.rubric
        if rubric.late_policy is None:
            return evaluation
        submitted_at = self.submitted_at.get(evaluation.student_id)
        return replace(evaluation, marks=remark(evaluation, rubric, manual_points, submitted_at))

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
                evaluation, self.task, Path(staging), n_cases=self.prepared.n_cases
            )
            report = folder.reports / written.name
            notebook = written.with_suffix(".ipynb")
            if notebook.is_file():
                os.replace(notebook, report.with_suffix(".ipynb"))
            else:  # left by an earlier notebook submission of this student
                report.with_suffix(".ipynb").unlink(missing_ok=True)
            os.replace(written, report)
        return report


class _Lease:
    """The running batch's claim on an output folder: what a killed batch left is cleaned
    up by the next one from the lease file."""

    def __init__(self, out: Path) -> None:
        self.path = OutputFolder(out).lease

    def hold(self, scratch: Path) -> None:
        write_text_atomically(self.path, json.dumps({"pid": os.getpid(), "scratch": str(scratch)}))

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def left_by_killed_batch(self) -> dict[str, object] | None:
        try:
            lease = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return lease if isinstance(lease, dict) else {}


@contextlib.contextmanager
def _exclusive_output(out: Path, on_note: Callable[[str], None] | None) -> Iterator[_Lease]:
    """Hold ``out`` for one batch; first clean up after a batch that was killed there."""
    lease = _Lease(out)
    with OutputFolder(out).lock.open("a") as lock:
        _lock(lock, out, lease)
        _clean_up_killed_batch(out, lease, on_note)
        try:
            yield lease
        finally:
            shutil.rmtree(OutputFolder(out).partial, ignore_errors=True)
            lease.release()


def _lock(lock: IO[str], out: Path, lease: _Lease) -> None:
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = (lease.left_by_killed_batch() or {}).get("pid", "unknown")
        raise MedgradeError(
            f"another medgrade grade (pid {holder}) is writing to {out}; let it finish or stop "
            "it, then run this command again"
        ) from None


def _clean_up_killed_batch(out: Path, lease: _Lease, on_note: Callable[[str], None] | None) -> None:
    shutil.rmtree(OutputFolder(out).partial, ignore_errors=True)
    for partial in out.glob(f".*{PARTIAL_SUFFIX}"):
        partial.unlink(missing_ok=True)
    previous = lease.left_by_killed_batch()
    if previous is None:
        return
    scratch = previous.get("scratch")
    stopped = 0
    # The lease file is only a hint: never act on a path that is not a batch's scratch folder.
    if isinstance(scratch, str) and Path(scratch).name.startswith(SCRATCH_PREFIX):
        folder = Path(scratch)
        stopped = _stop_leftover_processes(folder)
        if folder.is_dir() and not folder.is_symlink():
            remove_tree(folder)
    lease.release()
    if on_note is not None:
        processes = f" and stopped {stopped} sandbox process(es) it left" if stopped else ""
        on_note(
            f"the previous medgrade grade into {out} (pid {previous.get('pid', 'unknown')}) was "
            f"interrupted; removed its scratch files{processes}, resuming"
        )


def _stop_leftover_processes(scratch: Path) -> int:
    """SIGKILL what a killed batch left running; returns how many processes.

    A bwrap sandbox dies with its grader (--die-with-parent) and docker containers of a dead
    grader are removed when the next docker backend starts, but a local-backend run lives on
    in its own session.  Its processes are found by their command line, which names a folder
    inside the batch's scratch folder (the inputs), then with them every process in the
    sessions they lead and every descendant.
    """
    processes = _process_table()
    if not processes:
        return 0
    needle = os.fsencode(scratch) + b"/"
    named = {pid for pid, (_, _, cmdline) in processes.items() if needle in cmdline}
    sessions = {pid for pid in named if processes[pid][1] == pid}
    targets = named | {pid for pid, (_, session, _) in processes.items() if session in sessions}
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    pending = list(targets)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in targets:
                targets.add(child)
                pending.append(child)
    protected = {os.getpid()}
    ancestor = os.getppid()
    while ancestor > 0 and ancestor not in protected:
        protected.add(ancestor)
        ancestor = processes.get(ancestor, (0, 0, b""))[0]
    targets -= protected
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(pid) for pid in targets):
        time.sleep(0.05)
    return len(targets)


def _process_table() -> dict[int, tuple[int, int, bytes]]:
    """Every process's parent, session and command line (Linux /proc; empty elsewhere)."""
    table: dict[int, tuple[int, int, bytes]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return table
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry / "stat")
            table[int(entry.name)] = (
                int(fields[1]),
                int(fields[3]),
                (entry / "cmdline").read_bytes(),
            )
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return table


def _stat_fields(path: Path) -> list[str]:
    """/proc/PID/stat after "pid (comm) ", whose comm may hold anything: state, ppid, pgrp,
    session, ..."""
    stat = path.read_text()
    return stat[stat.rindex(")") + 2 :].split()


def _running(pid: int) -> bool:
    try:
        return _stat_fields(Path(f"/proc/{pid}/stat"))[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False


#: A run whose CPU time is within this fraction of a penalty's threshold is measured again.
REMEASURE_MARGIN = 0.15


def near_a_penalty(evaluation: Evaluation, rubric: Rubric) -> bool:
    """Whether ``evaluation``'s CPU time is close enough to a penalty's threshold that the
    little CPU time varies with what runs beside it (shared caches and memory bandwidth)
    could decide the penalty: then it is run once more on its own and the lower time
    counts, rather than the penalty being left provisional."""
    cpu = _cpu(evaluation)
    return evaluation.failure is None and any(
        abs(cpu - penalty.cpu_time_over_s) <= REMEASURE_MARGIN * penalty.cpu_time_over_s
        for penalty in rubric.penalties
    )


def measured_again(first: Evaluation, again: Evaluation) -> Evaluation:
    """Of two runs of one submission, the one with the lower CPU time, holding both
    measurements."""
    kept = again if _cpu(again) < _cpu(first) else first
    times = tuple(None if e.run is None else e.run.cpu_time_s for e in (first, again))
    return replace(kept, cpu_time_measurements=times)


def _cpu(evaluation: Evaluation) -> float:
    run = evaluation.run
    return math.inf if run is None or run.cpu_time_s is None else run.cpu_time_s


def _reference_fingerprint(
    task: Task,
    prepared: PreparedSplit,
    runner: SandboxBackend | None,
    remote: Callable[[Submission, Mapping[str, float] | None, bool], Evaluation] | None,
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
            evaluation = remote(submission, None, False)
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


def default_demo_out() -> Path:
    """Where ``medgrade demo`` writes unless told: the user's data folder (XDG)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "medgrade" / "demo"


def demo_submissions() -> list[Submission]:
    """The bundled example submissions, one per subfolder of ``examples/submissions``
    (in a checkout the reference is a link to its folder in ``reference_models``, which a
    marker's class folder may not hold: these are medgrade's own)."""
    folder = bundled_dir("examples") / "submissions"
    return [
        Submission(entry.name, entry.resolve())
        for entry in sorted(folder.iterdir())
        if not entry.name.startswith(".") and entry.name not in IGNORED_NAMES
    ]


def demo(
    *,
    out: Path = Path("medgrade-demo"),
    backend: str = "auto",
    workers: int = 2,
    on_start: Started | None = None,
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
        on_start=on_start,
        on_result=on_result,
        on_note=on_note,
    )
