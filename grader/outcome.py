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

import io
import os
import signal as signal_module
import stat
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grader.metrics._multiclass import ROW_SUM_TOLERANCE
from grader.tasks.spec import OutputContract
from sandbox import SandboxResult, wire

#: A binary task's probabilities (n_cases,), a multiclass task's (n_cases, n_classes), or a
#: segmentation task's label map per case.
Predictions = np.ndarray | list[np.ndarray]

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
    contract: OutputContract,
    n_cases: int,
    wall_time_limit_s: float,
    memory_limit_mb: int,
    cpu_time_limit_s: float | None = None,
    shapes: list[tuple[int, ...]] | None = None,
) -> Interpretation:
    """The predictions of a valid run, else its failure.

    ``shapes`` are the cases' volume shapes when the contract is a label map per case.
    """
    if not result.started:
        # Nothing of the submission's ran: the sandbox itself failed (seen by the host).
        detail = (result.stderr_tail or "no message").strip()[-600:]
        return Interpretation(
            None,
            Failure(
                "sandbox_error",
                f"the {result.backend} sandbox ended before the run started",
                detail,
            ),
        )
    if result.timed_out:
        return Interpretation(None, _timeout(wall_time_limit_s))
    if result.oom_killed:
        return Interpretation(
            None,
            Failure(
                "out_of_memory", f"was killed for using more than the task's {memory_limit_mb} MiB"
            ),
        )
    if result.report_error is not None:
        return Interpretation(
            None, Failure("no_output", f"the run's report is unusable: {result.report_error}")
        )
    try:
        report = Report.model_validate_json(
            read_regular_file(output_dir / wire.RUN_RECORD, wire.MAX_HEADER_BYTES + 4096)
        )
    except FileNotFoundError:
        # No report at all: the sandbox ended before its supervisor could send one.
        return Interpretation(None, _failure_from_exit(result.exit_code, result.signal))
    except (OSError, ValidationError) as error:
        return Interpretation(None, Failure("no_output", f"the run's report is unusable: {error}"))
    if report.nonce != nonce:
        return Interpretation(None, Failure("no_output", "the run's report is not this run's"))
    observed = report.observed
    if observed.cpu_exceeded:
        where = f" while running {observed.progress}" if observed.progress else ""
        failure = Failure(
            "timeout",
            f"used up the task's {cpu_time_limit_s or 0:g} s of CPU time{where}"
            + ("; tag training cells 'skip-grading'" if "cell" in where else ""),
        )
        return Interpretation(None, failure, None, observed)
    if observed.timed_out:
        return Interpretation(None, _timeout(wall_time_limit_s), None, observed)
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
        if contract.kind == "label_map":
            assert shapes is not None and len(shapes) == n_cases
            predictions: Predictions = load_label_maps(
                output_dir / wire.LABEL_MAPS_DIR, contract, shapes
            )
        else:
            predictions = load_predictions(output_dir / wire.PREDICTIONS, contract, n_cases)
    except InvalidOutput as error:
        return Interpretation(None, Failure(error.kind, str(error)), record_dict, observed)
    return Interpretation(predictions, None, record_dict, observed)


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


class InvalidOutput(ValueError):
    """Predictions that break the output contract; the message is for the student."""

    def __init__(self, message: str, kind: FailureKind = "invalid_output") -> None:
        super().__init__(message)
        self.kind = kind


class UnsafeFileError(OSError):
    """A file from the sandbox that is not a plain file of bounded size."""


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """Read a file the sandbox wrote, refusing links, FIFOs, devices and oversized files.

    Opened with O_NOFOLLOW and O_NONBLOCK, so neither a symlink to /dev/zero nor a FIFO
    that never delivers can hang or exhaust the grader.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeFileError(f"{path.name} is not a regular file")
        if status.st_size > max_bytes:
            raise UnsafeFileError(
                f"{path.name} is {status.st_size} bytes; at most {max_bytes} are read"
            )
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:
        raise UnsafeFileError(f"{path.name} grew past {max_bytes} bytes while being read")
    return data


def load_predictions(path: Path, contract: OutputContract, n_cases: int) -> np.ndarray:
    """Load ``predictions.npy`` without pickle and check it against ``contract``."""
    # Generous bound (64 float64 columns per case, plus the header), so that a wrongly
    # shaped array still gets its shape named rather than a size complaint.
    array = _read_npy(path, n_cases * 8 * 64 + 65536, max_ndim=2, what="predictions")
    return check_contract(array, contract, n_cases)


def load_label_maps(
    folder: Path, contract: OutputContract, shapes: list[tuple[int, ...]]
) -> list[np.ndarray]:
    """Load one label map per case from ``folder`` (``<position>.npy``) and check each
    against its case's shape and the contract's structures; return them as uint8."""
    assert contract.structures is not None
    allowed = np.array([0, *sorted(contract.structures)])
    label_maps = []
    for position, shape in enumerate(shapes):
        what = f"the label map of case {position}"
        # 8 bytes per voxel at most (int64), plus the header.
        limit = int(np.prod(shape)) * 8 + 4096
        array = _read_npy(folder / f"{position:05d}.npy", limit, max_ndim=3, what=what)
        if array.shape != shape:
            raise InvalidOutput(
                f"{what} has shape {array.shape}; its image has shape {shape}", "wrong_shape"
            )
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise InvalidOutput(f"{what} holds NaN or infinite values", "non_finite")
            if not np.array_equal(array, np.round(array)):
                raise InvalidOutput(
                    f"{what} holds fractional values: return integer labels (e.g. argmax over "
                    "the class channel), not probabilities",
                    "out_of_range",
                )
        present = np.unique(array)
        unknown = present[~np.isin(present, allowed)]
        if unknown.size:
            raise InvalidOutput(
                f"{what} holds labels {unknown[:5].tolist()}; the task's labels are "
                f"{allowed.tolist()} (0 background, "
                + ", ".join(f"{k} {name}" for k, name in sorted(contract.structures.items()))
                + ")",
                "out_of_range",
            )
        label_maps.append(array.astype(np.uint8))
    return label_maps


def _read_npy(path: Path, limit: int, *, max_ndim: int, what: str) -> np.ndarray:
    """Read a ``.npy`` file the sandbox wrote, without pickle.

    The header is checked (dtype, shape, size) before any data is read, so a forged header
    cannot make the grader allocate a huge array.
    """
    try:
        data = read_regular_file(path, limit)
    except FileNotFoundError:
        raise InvalidOutput(f"the harness reported success but wrote no file for {what}") from None
    except OSError as error:  # UnsafeFileError included: whatever it is, it is the output's
        raise InvalidOutput(f"the file of {what} is unusable: {error}") from None
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }[version]
        shape, fortran_order, dtype = read_header(stream)
    except Exception as error:  # any malformed header is the submission's output
        raise InvalidOutput(f"{what}: not a valid .npy array ({error})") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InvalidOutput(f"{what} must be numbers; got dtype {dtype}")
    expected_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(shape) > max_ndim or expected_bytes != len(data) - stream.tell():
        raise InvalidOutput(
            f"the file of {what} does not hold the {shape} array its header declares",
            "wrong_shape",
        )
    return np.frombuffer(data, dtype=dtype, offset=stream.tell()).reshape(
        shape, order="F" if fortran_order else "C"
    )


def check_contract(array: np.ndarray, contract: OutputContract, n_cases: int) -> np.ndarray:
    """Check shape, dtype, finiteness and range; return the predictions as float64, (n,) or
    (n, K) for class probabilities."""
    if contract.kind == "class_probabilities":
        return check_class_probabilities(array, contract, n_cases)
    assert contract.kind == "binary_probability"
    if array.dtype.kind not in "biuf":
        raise InvalidOutput(f"predictions must be numbers; got dtype {array.dtype}")
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim == 2 and array.shape[1] == 2:
        raise InvalidOutput(
            f"predictions have shape {array.shape}: return only the probability of the positive "
            "class, one number per case (e.g. probabilities[:, 1])",
            "wrong_shape",
        )
    if array.shape != (n_cases,):
        raise InvalidOutput(
            f"predictions have shape {array.shape}; expected ({n_cases},): one probability per case",
            "wrong_shape",
        )
    values = array.astype(np.float64)
    not_finite = int(np.count_nonzero(~np.isfinite(values)))
    if not_finite:
        raise InvalidOutput(
            f"{not_finite} of {n_cases} predictions are NaN or infinite; every case needs a "
            "probability (check for a division by zero or a diverged model)",
            "non_finite",
        )
    outside = int(np.count_nonzero((values < 0) | (values > 1)))
    if outside:
        raise InvalidOutput(
            f"{outside} of {n_cases} predictions are outside [0, 1] (min {values.min():.4g}, max "
            f"{values.max():.4g}); return probabilities, e.g. apply a sigmoid to the logits",
            "out_of_range",
        )
    return values


def check_class_probabilities(
    array: np.ndarray, contract: OutputContract, n_cases: int
) -> np.ndarray:
    """Check an (n_cases, K) matrix of class probabilities; return it as float64.

    The metric engine's policy, with the case named for the student: every value finite
    and in [0, 1], every row summing to 1 within ``ROW_SUM_TOLERANCE``; nothing is clipped,
    renormalised or passed through a softmax on the student's behalf.
    """
    assert contract.classes is not None
    k = len(contract.classes)
    expected = (
        f"({n_cases}, {k}): one row per case, one column per class ("
        + ", ".join(f"{label} {name}" for label, name in sorted(contract.classes.items()))
        + ")"
    )
    if array.dtype.kind not in "biuf":
        raise InvalidOutput(f"predictions must be numbers; got dtype {array.dtype}")
    if array.ndim != 2:
        hint = (
            ": return every class's probability, not the predicted class (e.g. "
            "torch.softmax(logits, dim=1))"
            if array.ndim == 1
            else ""
        )
        raise InvalidOutput(
            f"predictions have shape {array.shape}; expected {expected}{hint}", "wrong_shape"
        )
    if array.shape[0] != n_cases:
        raise InvalidOutput(
            f"predictions have {array.shape[0]} rows for {n_cases} cases; expected {expected}",
            "wrong_shape",
        )
    if array.shape[1] != k:
        raise InvalidOutput(
            f"predictions have {array.shape[1]} columns for the task's {k} classes; expected "
            f"{expected}",
            "wrong_shape",
        )
    values = array.astype(np.float64)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        case = int(np.argmax(bad))
        raise InvalidOutput(
            f"{int(bad.sum())} of {n_cases} cases have NaN or infinite probabilities (first: "
            f"case {case}, {_row(values[case])}); every case needs finite probabilities (check "
            "for a division by zero or a diverged model)",
            "non_finite",
        )
    excess = np.maximum(values - 1.0, -values).max(axis=1)
    if (excess > 0).any():
        case = int(np.argmax(excess))
        raise InvalidOutput(
            f"{int((excess > 0).sum())} of {n_cases} cases have values outside [0, 1] (worst: "
            f"case {case}, {_row(values[case])}); return probabilities, e.g. a softmax over "
            "the logits",
            "out_of_range",
        )
    deviation = np.abs(values.sum(axis=1) - 1.0)
    off = deviation > ROW_SUM_TOLERANCE
    if off.any():
        case = int(np.argmax(deviation))
        raise InvalidOutput(
            f"{int(off.sum())} of {n_cases} cases have class probabilities that do not sum to 1 "
            f"within {ROW_SUM_TOLERANCE:g} (worst: case {case}, {_row(values[case])}, sum "
            f"{values[case].sum():.6g}); apply a softmax over all {k} classes (the grader "
            "never renormalises)",
            "out_of_range",
        )
    return values


def _row(values: np.ndarray) -> str:
    return (
        "["
        + ", ".join(f"{v:.4g}" for v in values[:10])
        + (", ..." if len(values) > 10 else "")
        + "]"
    )
