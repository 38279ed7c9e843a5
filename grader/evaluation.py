"""One submission through the whole path: stage, sandbox, collect, score, mark.

This is the core every journey shares (student self-check, marker batch, task
validation): the split is prepared once on the host, where its labels stay, and only its
inputs are written where a sandbox can read them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from grader import disclosure
from grader._fs import remove_tree
from grader._resources import answer_folders
from grader._version import __version__
from grader.data import Dataset, load_dataset
from grader.disclosure import Disclosure
from grader.environment import (
    EnvironmentCheck,
    check_environment,
    declared_environment,
    with_available_packages,
)
from grader.errors import MedgradeError, SubmissionError
from grader.hints import hints
from grader.kinds import (
    ClassSummary,
    Curves,
    Predictions,
    Scored,
    UnsafeFileError,
    WorstCase,
    input_kind,
    output_kind,
    read_regular_file,
)
from grader.metrics import MetricResult, SegmentationSummary, SubgroupReport
from grader.outcome import Failure, RunInfo, interpret_run
from grader.reference import answer_files
from grader.rubric import Marks, Rubric, score
from grader.submission import Submission, content_sha256, stage_submission
from grader.tasks import Task
from sandbox import SandboxBackend, SandboxJob, SandboxLimits, wire
from sandbox.harness import (
    NOTEBOOK_SUFFIX,
    SubmissionFailure,
    find_entry,
    read_notebook,
)

#: In a report on a split whose labels are hidden, every plotted point aggregates at least
#: this many cases, so no single case's label can be read off a curve.
HIDDEN_MIN_CASES_PER_POINT = disclosure.MIN_CASES
#: A self-check report of a segmentation task draws this many worst cases (by mean Dice).
WORST_CASES_SHOWN = 3
#: The executed notebook comes back from the sandbox only up to this size.
MAX_EXECUTED_NOTEBOOK_BYTES = 32 * 2**20


@dataclass(frozen=True)
class PreparedSplit:
    """A split ready to grade: labels on the host, inputs in a folder for the sandbox."""

    task: Task
    name: str
    case_ids: tuple[str, ...]
    labels: np.ndarray
    input_dir: Path
    #: The file of ``input_dir`` the input kind wrote the inputs to.
    inputs_file: str
    labels_hidden: bool
    data_sha256: str
    split_sha256: str
    masked_paths: tuple[Path, ...] = ()
    #: The split's per-case subgroup attributes (host only, like the labels).
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    #: Each case's voxel size in mm (volume inputs only).
    spacings: np.ndarray | None = None

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)


def prepare_split(
    task: Task,
    split: str,
    *,
    data_dir: Path | None,
    workdir: Path,
    dataset: Dataset | None = None,
) -> PreparedSplit:
    """Load ``split`` of ``task`` (from ``dataset`` when given: a student bundle's) and
    write its inputs, never its labels, under ``workdir``."""
    manifest = task.split_manifest()
    spec = task.spec
    if dataset is None:
        dataset = load_dataset(spec.dataset.loader, spec.dataset.params, data_dir)
    case_ids = manifest.case_ids[split]
    rows = dataset.rows(case_ids)
    needed = [*spec.subgroups, *([spec.cluster_key] if spec.cluster_key else [])]
    attributes = {name: dataset.attribute(name)[rows] for name in needed}
    input_dir = workdir / f"inputs-{task.id}-{split}"
    input_dir.mkdir(parents=True, exist_ok=False)
    spacings = None if dataset.spacings is None else dataset.spacings[rows]
    inputs = input_kind(spec.inputs.kind)
    inputs_file = inputs.write_inputs(dataset, rows, input_dir)
    sandbox_manifest = {
        "task": spec.id,
        "task_version": spec.version,
        "split": split,
        "input": {
            "kind": spec.inputs.kind,
            "layout": inputs.layout,
            "file": inputs_file,
            "feature_names": list(dataset.feature_names),
        },
        "output": {"kind": spec.output.kind, **output_kind(spec.output.kind).harness_manifest()},
        "batch_size": spec.output.batch_size,
    }
    (input_dir / "manifest.json").write_text(json.dumps(sandbox_manifest, indent=1))
    for path in (input_dir / inputs_file, input_dir / "manifest.json"):
        path.chmod(0o444)
    return PreparedSplit(
        task=task,
        name=split,
        case_ids=tuple(case_ids),
        labels=dataset.labels[rows],
        input_dir=input_dir,
        inputs_file=inputs_file,
        labels_hidden=split == "test",
        data_sha256=dataset.sha256,
        split_sha256=manifest.sha256(split),
        masked_paths=(*dataset.source_paths, *answer_folders()),
        attributes=attributes,
        spacings=spacings,
    )


@dataclass(frozen=True)
class Evaluation:
    """Everything known about one submission's run on one split."""

    student_id: str
    submission_path: str
    submission_sha256: str | None
    task_id: str
    task_version: str
    split: str
    labels_hidden: bool
    status: str  # "graded" or "failed"
    failure: Failure | None
    metrics: dict[str, MetricResult]
    marks: Marks
    run: RunInfo | None
    data_sha256: str
    split_sha256: str
    curves: Curves | None = None
    subgroups: tuple[SubgroupReport, ...] = ()
    #: Segmentation tasks: each structure's summary, then the mean over structures.
    structures: tuple[SegmentationSummary, ...] = ()
    #: Segmentation self-checks: the worst cases, drawn in the report.
    worst_cases: tuple[WorstCase, ...] = ()
    #: Multiclass tasks: per-class results and the confusion matrix.
    classes: ClassSummary | None = None
    medgrade_version: str = __version__
    created_at: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    )
    report_path: str | None = None
    #: On a hidden split: the most its report can tell of the labels.
    disclosure: Disclosure | None = None
    #: What the student most likely got wrong, and how to fix it (:mod:`grader.hints`).
    hints: tuple[str, ...] = ()
    #: For the marker: what to look at (a copy of the reference, predictions that change
    #: from call to call).
    flags: tuple[str, ...] = ()
    #: The submission's model files (not code) and the predictions, by sha256: what
    #: copies of one another or of the reference share.
    file_sha256: tuple[tuple[str, str], ...] = ()
    predictions_sha256: str | None = None
    #: A run near a penalty's threshold is measured again on its own: the CPU time of each
    #: run (None: it reported none); the lower one counts (this run is that one).
    cpu_time_measurements: tuple[float | None, ...] = ()
    #: The run's packages compared with the task's declared environment.
    environment: EnvironmentCheck | None = None
    #: A notebook submission's notebook as the sandbox ran it (cell outputs included).
    executed_notebook: str | None = field(default=None, repr=False)

    def with_report(self, path: Path) -> Evaluation:
        return replace(self, report_path=str(path))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document for one submission (schema in the README)."""
        return {
            "student": self.student_id,
            "submission": {"path": self.submission_path, "sha256": self.submission_sha256},
            "task": {"id": self.task_id, "version": self.task_version},
            "split": self.split,
            "labels_hidden": self.labels_hidden,
            "status": self.status,
            "failure": None if self.failure is None else self.failure.to_dict(),
            "metrics": {name: result.to_dict() for name, result in self.metrics.items()},
            "marks": self.marks.to_dict(),
            "subgroups": [report.to_dict() for report in self.subgroups],
            "structures": [summary.to_dict() for summary in self.structures],
            "classes": None if self.classes is None else self.classes.to_dict(),
            "run": None
            if self.run is None
            else {
                k: v
                for k, v in self.run.to_dict().items()
                if k not in {"stdout_tail", "stderr_tail"}
            },
            "data_sha256": self.data_sha256,
            "split_sha256": self.split_sha256,
            "medgrade_version": self.medgrade_version,
            "created_at": self.created_at,
            "report": self.report_path,
            "disclosure": None if self.disclosure is None else self.disclosure.to_dict(),
            "hints": list(self.hints),
            "flags": list(self.flags),
            "environment": None if self.environment is None else self.environment.to_dict(),
            "cpu_time_measurements": list(self.cpu_time_measurements),
        }


def evaluate(
    submission_path: Path,
    *,
    student_id: str,
    prepared: PreparedSplit,
    backend: SandboxBackend,
    manual_points: Mapping[str, float] | None = None,
    workdir: Path | None = None,
    repeat_predict: bool = False,
) -> Evaluation:
    """Run one submission on a prepared split and score it; never raises for the student's faults.

    With ``repeat_predict`` the harness calls predict twice and the run's record says
    whether the two outputs differ (:attr:`Evaluation.nondeterminism`).

    The staged copy and the sandbox's output live in a temporary folder under ``workdir``
    (default: the system's), which a batch points at its own scratch folder so that a
    killed batch's leftovers go with it.
    """
    scratch_dir = Path(tempfile.mkdtemp(prefix="medgrade-run-", dir=workdir))
    try:
        try:
            submission_dir = stage_submission(submission_path, scratch_dir / "submission")
            sha256 = content_sha256(submission_dir)
            files = tuple(answer_files(submission_dir).items())
        except SubmissionError as error:
            return failed_evaluation(
                prepared,
                Submission(student_id, submission_path),
                Failure("invalid_submission", str(error)),
                manual_points,
            )
        is_notebook, failure = _check_entry(submission_dir)
        if failure is not None:
            evaluation = _finish(
                prepared, student_id, submission_path, sha256, failure, None, None, manual_points
            )
            return replace(evaluation, file_sha256=files)
        output_dir = scratch_dir / "output"
        output_dir.mkdir()
        _make_read_only(submission_dir)
        predictions, failure, run = _run_in_sandbox(
            submission_dir, output_dir, prepared, backend, repeat_predict=repeat_predict
        )
        executed = _executed_notebook(output_dir) if is_notebook else None
    finally:
        remove_tree(scratch_dir)
    evaluation = _finish(
        prepared, student_id, submission_path, sha256, failure, predictions, run, manual_points
    )
    return replace(evaluation, executed_notebook=executed, file_sha256=files)


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
    manual_points: Mapping[str, float] | None = None,
) -> Evaluation:
    """An evaluation for a submission that never reached the sandbox."""
    return _finish(
        prepared, submission.student_id, submission.path, None, failure, None, None, manual_points
    )


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


def _finish(
    prepared: PreparedSplit,
    student_id: str,
    submission_path: Path,
    sha256: str | None,
    failure: Failure | None,
    predictions: Predictions | None,
    run: RunInfo | None,
    manual_points: Mapping[str, float] | None,
) -> Evaluation:
    task = prepared.task
    kind = output_kind(task.spec.output.kind)
    scored = Scored(metrics={}) if predictions is None else kind.score(prepared, predictions)
    metrics = scored.metrics
    marks = mark_run(
        task.rubric, metrics, failure, run, manual_points, labels_hidden=prepared.labels_hidden
    )
    told = (
        _disclosure(prepared, metrics, scored.curves, scored.subgroups, scored.classes)
        if prepared.labels_hidden and metrics and kind.measures_disclosure
        else None
    )
    return Evaluation(
        student_id=student_id,
        submission_path=str(submission_path),
        submission_sha256=sha256,
        task_id=task.id,
        task_version=task.spec.version,
        split=prepared.name,
        labels_hidden=prepared.labels_hidden,
        status="failed" if failure is not None else "graded",
        failure=failure,
        metrics=metrics,
        marks=marks,
        run=run,
        data_sha256=prepared.data_sha256,
        split_sha256=prepared.split_sha256,
        curves=scored.curves,
        subgroups=scored.subgroups,
        structures=scored.structures,
        worst_cases=scored.worst_cases,
        classes=scored.classes,
        disclosure=told,
        hints=hints(
            failure=failure,
            metrics=metrics,
            record=None if run is None else run.record,
            predicted=task.spec.output.predicted(),
        ),
        flags=_determinism_flags(None if run is None else run.record),
        environment=_environment_check(task, run),
        predictions_sha256=None if predictions is None else predictions_digest(predictions),
    )


def _environment_check(task: Task, run: RunInfo | None) -> EnvironmentCheck | None:
    if run is None or not run.packages:
        return None
    try:
        declared = declared_environment(task)
    except MedgradeError:  # an unreadable declaration: the run is still what it was
        declared = None
    return check_environment(declared, run.packages)


def predictions_digest(predictions: Predictions) -> str:
    """The sha256 of predictions as the grader scored them (shape and float64 values)."""
    digest = hashlib.sha256()
    for array in predictions if isinstance(predictions, list) else [predictions]:
        values = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(values.shape).encode() + values.tobytes())
    return digest.hexdigest()


def _determinism_flags(record: Mapping[str, Any] | None) -> tuple[str, ...]:
    determinism = (record or {}).get("determinism") or {}
    if not determinism.get("cases_changed"):
        return ()
    return (
        f"Its predict is not deterministic: {determinism['cases_changed']} of "
        f"{determinism.get('n_cases', '?')} cases changed between two calls on the same inputs",
    )


#: Binary metrics that depend on the labels only through the counts at the threshold.
_COUNTS_AT_THRESHOLD = frozenset({"sensitivity", "specificity", "ppv", "npv", "net_benefit"})


def _disclosure(
    prepared: PreparedSplit,
    metrics: Mapping[str, MetricResult],
    curves: Curves | None,
    subgroups: tuple[SubgroupReport, ...],
    classes: ClassSummary | None,
) -> Disclosure:
    """What the report of this hidden-split run shows that depends on the labels, in bits
    (:mod:`grader.disclosure`); the marks count with the numbers they come from."""
    channels: list[tuple[str, float]] = []
    on_boundary = False
    if curves is not None and curves.groups is not None:
        sizes = [int(n) for n in curves.groups["n_cases"]]
        channels.append(
            (f"{len(sizes)} groups' positive counts", sum(math.log2(n + 1) for n in sizes))
        )
        on_boundary = bool(curves.groups["threshold_is_boundary"][0])
    spec = prepared.task.spec
    threshold = spec.output.metric_defaults().get("threshold")
    marked = {
        c.metric: c.points for c in prepared.task.rubric.criteria if getattr(c, "metric", None)
    }
    for name, result in metrics.items():
        # A count-based metric at the task's threshold, when the threshold is a group
        # boundary, is a sum of the groups' counts, and so is its Wilson interval.
        metric = spec.metric(name)
        at_threshold = metric is not None and metric.options.get("threshold") in (None, threshold)
        if on_boundary and at_threshold and name in _COUNTS_AT_THRESHOLD:
            # So is its mark, a function of it.
            shown = 0 if "Wilson" in result.method or result.ci_low is None else 2
            bits = disclosure.number_bits(shown)
        else:
            shown = 1 + (result.ci_low is not None) + (result.ci_high is not None)
            bits = disclosure.number_bits(shown)
            if name in marked:  # a mark and its value, both monotone in the metric
                bits += math.log2(1 + (100 * marked[name] + 1) / (10**disclosure.DECIMALS + 1))
        if bits:
            channels.append((f"{name} (value and interval)", bits))
    if subgroups:
        numbers = sum(
            3 * (len(report.groups) + 3) for report in subgroups
        )  # each group, the overall value and the two gaps: value and interval each
        channels.append(("subgroup tables", disclosure.number_bits(numbers)))
    if classes is not None:
        numbers = 6 * len(classes.rows)  # per class: AUC and sensitivity, value and interval
        counts = sum(
            math.log2(row.n_predicted + 1) * (len(classes.rows) - 1)
            for row in classes.rows
            if row.n_predicted >= classes.min_predicted_shown
        )
        channels.append(("per-class table", disclosure.number_bits(numbers)))
        channels.append(("confusion matrix columns", counts))
    return Disclosure(prepared.n_cases, tuple(channels))


def mark_run(
    rubric: Rubric,
    metrics: Mapping[str, MetricResult],
    failure: Failure | None,
    run: RunInfo | None,
    manual_points: Mapping[str, float] | None,
    submitted_at: dt.datetime | None = None,
    *,
    labels_hidden: bool = False,
) -> Marks:
    """The rubric applied to a run: its metrics (none count when it failed), its CPU time
    (as the sandbox's supervisor counted it) for penalties, the marker's manual points, and
    when it was handed in.  On a hidden split the explanations give the metrics as the
    report does, rounded."""
    return score(
        rubric,
        metrics=metrics if failure is None else None,
        failure_reason=None if failure is None else f"the submission failed ({failure.kind})",
        cpu_time_s=None if run is None else run.cpu_time_s,
        manual_points=manual_points,
        submitted_at=submitted_at,
        value_decimals=disclosure.DECIMALS if labels_hidden else 4,
    )


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


def _make_read_only(folder: Path) -> None:
    for root, directories, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        for name in directories:
            os.chmod(os.path.join(root, name), 0o555)
    os.chmod(folder, 0o555)
