"""The backend protocol, the job and result types, GPU selection and the backend registry."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

#: medgrade's in-sandbox modules (the supervisor, the harness, the wire, the fork server):
#: this folder, bound read-only at :data:`INSIDE_CODE_DIR` in every sandbox.
CODE_DIR = Path(__file__).resolve().parent
HARNESS_PATH = CODE_DIR / "harness.py"
INSIDE_CODE_DIR = "/opt/medgrade"
INSIDE_SUPERVISOR = f"{INSIDE_CODE_DIR}/supervisor.py"
#: The sandbox's own scratch output folder (the report's files are collected from it).
INSIDE_OUTPUT = "/output"
#: The supervisor ends a run at its wall-time limit; the host kills the sandbox this much
#: later, should the supervisor itself not have ended it.
HOST_GRACE_S = 5.0


class SandboxUnavailableError(RuntimeError):
    """The chosen backend cannot run here (no engine, no image, no GPU runtime...)."""


@dataclass(frozen=True)
class GpuSelection:
    """Which GPUs a run may use: all of them, a count, or device ids."""

    count: int | None = None
    device_ids: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> GpuSelection | None:
        """Docker's ``--gpus`` forms: ``all``, a count ``2``, ``device=0,1``; or ``none``."""
        text = text.strip()
        if text in {"", "none"}:
            return None
        if text == "all":
            return cls(count=-1)
        if text.isdigit() and int(text) > 0:
            return cls(count=int(text))
        if text.startswith("device="):
            ids = tuple(part.strip() for part in text.removeprefix("device=").split(","))
            if all(ids):
                return cls(device_ids=ids)
        raise ValueError(
            f"--gpus takes 'all', a count such as '2', 'device=0,1' or 'none'; got {text!r}"
        )

    def for_run(self, devices: tuple[str, ...]) -> GpuSelection:
        """The selection one run uses: the ``devices`` a batch placed it on, if any."""
        return GpuSelection(device_ids=devices) if devices else self

    def cuda_visible_devices(self) -> str | None:
        """The CUDA_VISIBLE_DEVICES value for backends that see every GPU node."""
        if self.device_ids:
            return ",".join(self.device_ids)
        if self.count is not None and self.count > 0:
            return ",".join(str(i) for i in range(self.count))
        return None


@dataclass(frozen=True)
class Runtime:
    """Where a backend finds the Python (and the packages) submissions run with: a
    task's built environment (``medgrade env build``) or, by default, the grader's own
    Python for bubblewrap and the default grading image for Docker."""

    python: str = sys.executable
    image: str | None = None


@dataclass(frozen=True)
class SandboxLimits:
    """One run's limits: ``cpu_time_s`` is the CPU time of all the submission's processes,
    counted by the supervisor from the moment submission code may start (None: only the
    per-process rlimit); ``wall_time_s`` is only a guard against runs that hang."""

    wall_time_s: float
    memory_mb: int
    cpus: float = 1.0
    gpu: bool = False
    max_log_bytes: int = 64 * 1024
    max_file_mb: int = 256
    #: For notebooks: the time for running cells (default 80% of the wall time, leaving the
    #: rest for load_model and predict) and for any one cell (default: the same).
    notebook_time_s: float | None = None
    notebook_cell_time_s: float | None = None
    #: The GPUs a batch placed this run on (:class:`sandbox.GpuPlacement`); empty: all of
    #: the backend's selection.
    gpu_devices: tuple[str, ...] = ()
    cpu_time_s: float | None = None


@dataclass(frozen=True)
class SandboxJob:
    """One run of the harness.

    ``submission_dir`` and ``input_dir`` are mounted read-only.  ``output_dir`` is the
    host's empty folder for the run's report (:mod:`sandbox.wire`): the sandbox never sees
    it; the backend writes the report there.  ``nonce`` travels on the report channel
    (never argv or the environment, which other processes can read), is read by the
    supervisor only once no submission process is left, and must come back in the report.
    ``masked_paths`` are host files that hold the task's labels (a dataset bundled inside
    an installed library, say): isolating backends hide them.
    """

    submission_dir: Path
    input_dir: Path
    output_dir: Path
    limits: SandboxLimits
    nonce: str
    masked_paths: tuple[Path, ...] = ()
    #: Python's, numpy's and torch's random generators are seeded with this before the
    #: submission's code runs (None: left as they are).
    seed: int | None = None
    #: Call predict a second time on the same inputs and report whether the outputs differ.
    repeat_predict: bool = False


@dataclass(frozen=True)
class SandboxResult:
    """What the backend observed from outside; nothing here comes from the submission."""

    backend: str
    exit_code: int | None
    signal: int | None
    timed_out: bool
    wall_time_s: float
    peak_memory_mb: float | None
    stdout_tail: str
    stderr_tail: str
    log_bytes_dropped: int = 0
    oom_killed: bool = False
    #: CPU time of every process of the run, from its cgroup (None where there is none).
    cpu_time_s: float | None = None
    #: Why a report that started to arrive is unusable (a broken channel, a bad format).
    report_error: str | None = None
    #: Whether the run's supervisor started (said so before any submission code could
    #: run); a sandbox that ended before is the infrastructure's failure.
    started: bool = True
    details: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class SandboxBackend(Protocol):
    """Runs the harness for a job in isolation and reports what it observed.

    ``isolating`` says whether the backend keeps the submission from the host (file
    system, network, other processes); only isolating backends may grade a class.
    """

    name: str
    isolating: bool

    def run(self, job: SandboxJob) -> SandboxResult: ...

    def close(self) -> None:
        """Stop and remove everything still running; called at the end and on Ctrl-C."""
        ...


#: Imported by the supervisor's worker before the submission's code, when the submission
#: imports them (and once by the warm pool's server), so that library imports never count
#: towards a run's CPU time.  (scikit-learn's estimators live in submodules.)
PRELOADED = (
    "numpy",
    "scipy",
    "pandas",
    "torch",
    "torch.nn",
    "torchvision",
    "sklearn",
    "sklearn.linear_model",
    "sklearn.ensemble",
    "sklearn.preprocessing",
    "sklearn.pipeline",
    "sklearn.neighbors",
    "sklearn.svm",
    "sklearn.tree",
)


def supervisor_arguments(
    job: SandboxJob,
    *,
    channel: int | str,
    submission_dir: Path | str = "/submission",
    input_dir: Path | str = "/inputs",
    output_dir: Path | str = INSIDE_OUTPUT,
    apply_memory_rlimit: bool = True,
) -> list[str]:
    """Arguments after ``python -I -B supervisor.py`` for ``job`` (paths as seen inside
    the sandbox); ``channel`` is the report channel's descriptor, or its socket's path."""
    limits = job.limits
    cpu_budget = limits.cpu_time_s or limits.wall_time_s * max(1.0, limits.cpus)
    rlimits = {
        # Per process, a backstop: the supervisor counts all the run's processes together.
        "cpu_s": int(cpu_budget) + 5,
        "fsize_mb": limits.max_file_mb,
        "nofile": 1024,
    }
    # RLIMIT_AS breaks CUDA initialisation, so GPU runs rely on the backend's cgroup limit.
    if apply_memory_rlimit and not limits.gpu:
        rlimits["as_mb"] = limits.memory_mb
    total_s = limits.notebook_time_s or round(0.8 * limits.wall_time_s, 3)
    notebook_limits = {
        "total_s": total_s,
        "cell_s": limits.notebook_cell_time_s or total_s,
        "wall_s": limits.wall_time_s,
        **({"cpu_s": limits.cpu_time_s} if limits.cpu_time_s else {}),
    }
    channel_arguments = (
        ["--channel-fd", str(channel)] if isinstance(channel, int) else ["--channel-path", channel]
    )
    return [
        *channel_arguments,
        "--deadline-s",
        str(limits.wall_time_s),
        *(["--cpu-limit-s", str(limits.cpu_time_s)] if limits.cpu_time_s else []),
        *(["--seed", str(job.seed)] if job.seed is not None else []),
        *(["--repeat-predict"] if job.repeat_predict else []),
        "--preload",
        json.dumps(PRELOADED, separators=(",", ":")),
        "--submission",
        str(submission_dir),
        "--inputs",
        str(input_dir),
        "--output",
        str(output_dir),
        "--rlimits",
        json.dumps(rlimits, separators=(",", ":")),
        "--notebook-limits",
        json.dumps(notebook_limits, separators=(",", ":")),
    ]


BackendFactory = Callable[..., SandboxBackend]
_BACKENDS: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    _BACKENDS[name] = factory


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def get_backend(name: str, **options: object) -> SandboxBackend:
    """A backend instance by registry name; ``options`` go to its constructor."""
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise SandboxUnavailableError(
            f"unknown sandbox backend {name!r}; known: {', '.join(backend_names())}"
        ) from None
    return factory(**options)
