"""Turning what a sandbox run reported into predictions or a graded failure.

The sandbox's supervisor reports over a channel no submission process can reach
(:mod:`sandbox.wire`), and the backend writes the report into the run's output folder
under the host's own names.  Nothing the submission produced is trusted even so: the
worker's record must parse and be small; predictions are loaded without pickle and
checked against the task's output contract before any metric sees them; any file that
cannot be read is the submission's ``invalid_output``.  A ``sandbox_error`` comes only
from what the host saw itself, never from anything reported from inside.
"""

from __future__ import annotations

import signal as signal_module
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.kinds import InvalidOutput, Predictions, read_regular_file
from sandbox import SandboxResult, wire

FailureKind = Literal[
    "timeout",
    "out_of_memory",
    "crashed",
    "no_output",
    "invalid_output",
    "wrong_shape",
    "non_finite",
    "out_of_range",
    "contract_error",
    "invalid_submission",
    "sandbox_error",
]

#: A plain explanation of each failure kind, as the report shows it to a student.
FAILURE_EXPLANATIONS: dict[str, str] = {
    "timeout": "Your code did not finish within the task's time limit and was stopped. "
    "Check for endless loops, training code that runs at prediction time (in a notebook, "
    "tag training cells skip-grading), or very slow per-case loops.",
    "out_of_memory": "Your code used more memory than the task allows. Predict in smaller "
    "batches or use a smaller model.",
    "crashed": "Your code raised an error or stopped unexpectedly. The traceback below shows "
    "where.",
    "no_output": "Your code ended before the harness could collect its predictions, for "
    "example by calling os._exit() or being killed.",
    "invalid_output": "predict returned something that is not a numeric array (or an "
    "unreadable or oversized one).",
    "wrong_shape": "predict returned an array of the wrong shape: the task expects one "
    "prediction per case (one row of class probabilities on a multiclass task), in the order "
    "of the inputs.",
    "non_finite": "Some predictions are NaN or infinite: every case needs a number.",
    "out_of_range": "Some predictions are not probabilities: values outside [0, 1], or class "
    "probabilities whose row does not sum to 1.",
    "contract_error": "The submission does not follow the submission contract (a predict.py "
    "or a notebook with load_model(artifacts_dir) and predict(model, inputs)).",
    "invalid_submission": "The submission could not be opened (an empty folder, a corrupt or "
    "unsafe zip file, a notebook that is not a valid Jupyter notebook).",
    "sandbox_error": "The grading infrastructure failed; this is not your fault. Tell the "
    "course staff.",
}


class _RecordFailure(BaseModel):
    kind: Literal[
        "timeout",
        "crashed",
        "out_of_memory",
        "invalid_output",
        "wrong_shape",
        "contract_error",
        "invalid_submission",
    ]
    message: str = Field(max_length=4000)
    detail: str = Field(default="", max_length=20000)


class _RecordEnvironment(BaseModel):
    versions: dict[str, Annotated[str, Field(max_length=100)]] = Field(
        default_factory=dict, max_length=20
    )
    device: dict[str, str | int] = Field(default_factory=dict, max_length=10)
    platform: str = Field(default="", max_length=300)


class _RecordCell(BaseModel):
    cell: int
    first_line: str = Field(max_length=400)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=10)
    status: Literal["ran", "skipped", "timed out", "error", "kernel died", "not run"]
    seconds: float


class _RecordDeterminism(BaseModel):
    max_difference: float
    cases_changed: int
    n_cases: int


class _RecordNotebook(BaseModel):
    file: str = Field(max_length=300)
    kernel: str = Field(max_length=100)
    cells: list[_RecordCell] = Field(max_length=300)


class RunRecord(BaseModel):
    """What the worker may say of its run, and no more (it runs beside the submission)."""

    model_config = ConfigDict(extra="forbid")
    format: Literal[1]
    status: Literal["completed", "failed"]
    failure: _RecordFailure | None
    timings: dict[str, float] = Field(default_factory=dict, max_length=10)
    peak_rss_mb: float | None = None
    environment: _RecordEnvironment = Field(default_factory=_RecordEnvironment)
    n_cases: int | None = None
    batch_size: int | None = None
    notebook: _RecordNotebook | None = None
    #: With predict called twice (``check``, ``grade --verify-determinism``): how the two
    #: outputs differ.
    determinism: _RecordDeterminism | None = None

    @model_validator(mode="after")
    def _failure_matches_status(self) -> RunRecord:
        if (self.status == "failed") != (self.failure is not None):
            raise ValueError("a failed run needs a failure, a completed one none")
        return self


_Name = Annotated[str, Field(max_length=200)]


class Observed(BaseModel):
    """What the supervisor saw of the worker: how it ended, and what it used."""

    model_config = ConfigDict(extra="forbid")
    exit_code: int | None
    signal: int | None
    timed_out: bool
    cpu_exceeded: bool = False
    #: Where the worker last said it was (untrusted: only ever part of a message).
    progress: str | None = Field(default=None, max_length=400)
    cpu_s: float | None = None
    maxrss_mb: float | None = None
    wall_s: float | None = None
    record_error: str | None = Field(default=None, max_length=400)
    #: ``(distribution, version)`` of every package the run's Python had, as the
    #: supervisor listed them before the submission's code started.
    packages: list[tuple[_Name, _Name]] | None = Field(default=None, max_length=5000)


class Report(BaseModel):
    """The report's header, as the backend wrote it (``run.json``)."""

    model_config = ConfigDict(extra="forbid")
    nonce: str
    #: Validated separately, so that a malformed record is told apart from a broken report.
    record: dict[str, Any] | None
    observed: Observed
    skipped: list[Annotated[str, Field(max_length=200)]] = Field(default_factory=list)
    file_names: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    message: str
    detail: str = ""

    @property
    def explanation(self) -> str:
        return FAILURE_EXPLANATIONS[self.kind]

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message, "detail": self.detail}


@dataclass(frozen=True)
class RunInfo:
    """How the run went, measured by the host (plus the harness's own record)."""

    backend: str
    wall_time_s: float
    peak_memory_mb: float | None
    exit_code: int | None
    signal: int | None
    stdout_tail: str
    stderr_tail: str
    log_bytes_dropped: int
    record: dict[str, Any] = field(default_factory=dict)
    details: dict[str, str] = field(default_factory=dict)
    #: CPU time of every process of the submission's, as the sandbox's supervisor counted
    #: it from the moment the submission's code could start; what penalties read.
    cpu_time_s: float | None = None
    #: ``(distribution, version)`` of the packages the run's Python had (the supervisor's
    #: listing; empty when it did not report).
    packages: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_result(
        cls, result: SandboxResult, record: dict[str, Any] | None, observed: Observed | None
    ) -> RunInfo:
        # The supervisor's count starts where the submission's code may (the cgroup's would
        # include the sandbox's own start), so it is the one marks use.
        cpu = observed.cpu_s if observed is not None and observed.cpu_s is not None else None
        return cls(
            cpu_time_s=None if cpu is None else round(cpu, 3),
            backend=result.backend,
            wall_time_s=round(result.wall_time_s, 3),
            peak_memory_mb=None
            if result.peak_memory_mb is None
            else round(result.peak_memory_mb, 1),
            exit_code=result.exit_code,
            signal=result.signal,
            stdout_tail=result.stdout_tail,
            stderr_tail=result.stderr_tail,
            log_bytes_dropped=result.log_bytes_dropped,
            record=record or {},
            details=dict(result.details),
            packages=tuple(observed.packages or ()) if observed is not None else (),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Interpretation:
    """What a run gave: its predictions or its failure, the worker's record (if it gave a
    valid one) and what the supervisor saw (if it reported)."""

    predictions: Predictions | None
    failure: Failure | None
    record: dict[str, Any] | None = None
    observed: Observed | None = None


def interpret_run(
    result: SandboxResult,
    output_dir: Path,
    *,
    nonce: str,
    read_predictions: Callable[[Path], Predictions],
    wall_time_limit_s: float,
    memory_limit_mb: int,
    cpu_time_limit_s: float | None = None,
) -> Interpretation:
    """The predictions of a valid run, else its failure.

    ``read_predictions`` is the task's output kind reading ``output_dir`` (it raises
    :class:`~grader.kinds.InvalidOutput` for predictions that break the contract).
    """
    failure = _sandbox_failure(result, wall_time_limit_s, memory_limit_mb)
    if failure is not None:
        return Interpretation(None, failure)
    report = _read_report(output_dir, result, nonce)
    if isinstance(report, Failure):
        return Interpretation(None, report)
    observed = report.observed
    failure = _supervisor_failure(observed, wall_time_limit_s, cpu_time_limit_s)
    if failure is not None:
        return Interpretation(None, failure, None, observed)
    if report.record is None:
        failure = _failure_from_exit(observed.exit_code, observed.signal)
        if observed.record_error:
            failure = replace(failure, message=f"{failure.message} ({observed.record_error})")
        return Interpretation(None, failure, None, observed)
    try:
        record = RunRecord.model_validate(report.record)
    except ValidationError:
        failure = Failure("no_output", "the run record does not follow the harness's format")
        return Interpretation(None, failure, None, observed)
    record_dict = record.model_dump()
    if record.failure is not None:
        failure = Failure(record.failure.kind, record.failure.message, record.failure.detail)
        return Interpretation(None, failure, record_dict, observed)
    try:
        predictions = read_predictions(output_dir)
    except InvalidOutput as error:
        return Interpretation(None, Failure(error.kind, str(error)), record_dict, observed)
    return Interpretation(predictions, None, record_dict, observed)


def _sandbox_failure(
    result: SandboxResult, wall_time_limit_s: float, memory_limit_mb: int
) -> Failure | None:
    """How the run failed as the host saw it, before its supervisor's report is read."""
    if not result.started:
        # Nothing of the submission's ran: the sandbox itself failed (seen by the host).
        detail = (result.stderr_tail or "no message").strip()[-600:]
        return Failure(
            "sandbox_error", f"the {result.backend} sandbox ended before the run started", detail
        )
    if result.timed_out:
        return _timeout(wall_time_limit_s)
    if result.oom_killed:
        return Failure(
            "out_of_memory", f"was killed for using more than the task's {memory_limit_mb} MiB"
        )
    if result.report_error is not None:
        return Failure("no_output", f"the run's report is unusable: {result.report_error}")
    return None


def _read_report(output_dir: Path, result: SandboxResult, nonce: str) -> Report | Failure:
    """The supervisor's report of this run, or why there is none to trust."""
    try:
        report = Report.model_validate_json(
            read_regular_file(output_dir / wire.RUN_RECORD, wire.MAX_HEADER_BYTES + 4096)
        )
    except FileNotFoundError:
        # No report at all: the sandbox ended before its supervisor could send one.
        return _failure_from_exit(result.exit_code, result.signal)
    except (OSError, ValidationError) as error:
        return Failure("no_output", f"the run's report is unusable: {error}")
    if report.nonce != nonce:
        return Failure("no_output", "the run's report is not this run's")
    return report


def _supervisor_failure(
    observed: Observed, wall_time_limit_s: float, cpu_time_limit_s: float | None
) -> Failure | None:
    """A limit the sandbox's supervisor saw the run reach."""
    if observed.cpu_exceeded:
        where = f" while running {observed.progress}" if observed.progress else ""
        return Failure(
            "timeout",
            f"used up the task's {cpu_time_limit_s or 0:g} s of CPU time{where}"
            + ("; tag training cells 'skip-grading'" if "cell" in where else ""),
        )
    if observed.timed_out:
        return _timeout(wall_time_limit_s)
    return None


def _timeout(wall_time_limit_s: float) -> Failure:
    return Failure(
        "timeout",
        f"had not finished after {wall_time_limit_s:g} s of wall-clock time, the task's guard "
        "against runs that hang (waiting, sleeping or deadlocked rather than computing)",
    )


def _failure_from_exit(exit_code: int | None, signal: int | None) -> Failure:
    """The failure of a process that ended with ``exit_code`` or ``signal`` before the
    harness could say how its run went."""
    number = signal
    if number is None and exit_code is not None and 128 < exit_code < 160:
        # A shell, bwrap or a container's init reports a child killed by signal N as 128 + N.
        number = exit_code - 128
    if number is not None:
        if number == signal_module.SIGXCPU:
            return Failure("timeout", "used up its CPU-time limit (SIGXCPU)")
        if number == signal_module.SIGXFSZ:
            return Failure("crashed", "wrote a file larger than the sandbox allows (SIGXFSZ)")
        return Failure(
            "crashed", f"the process was killed by signal {number} ({_signal_name(number)})"
        )
    if exit_code == 0:
        return Failure(
            "no_output",
            "the process exited with code 0 before the harness finished; does your code call "
            "sys.exit() or os._exit()?",
        )
    return Failure(
        "no_output", f"the process exited with code {exit_code} before writing predictions"
    )


def _signal_name(number: int) -> str:
    try:
        return signal_module.Signals(number).name
    except ValueError:
        return "unknown signal"
