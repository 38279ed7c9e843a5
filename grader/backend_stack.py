"""The sandbox backend a self-check, a batch or a cluster worker runs with, layer on layer:
the task's backend (its environment where built), a warm pool, GPU placement.

One function builds it for every caller, so a batch on this machine and one on a Dask
worker run their submissions in the same sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from grader.environment import choose_task_backend
from grader.evaluation import sandbox_limits
from grader.tasks import Task
from sandbox import GpuPlacement, GpuSelection, SandboxBackend, WarmBubblewrap, place_on_gpus, warm


@dataclass(frozen=True)
class BackendStack:
    """The layers of one sandbox backend; jobs go to :attr:`backend`, the outermost."""

    backend: SandboxBackend
    #: The warm pool, when the backend is bubblewrap and the caller asked for one.
    pool: WarmBubblewrap | None
    #: GPU placement, for a task that wants a GPU on a machine that has devices.
    placement: GpuPlacement | None
    #: What the user should hear about the choice (an environment not built, a fallback).
    notes: tuple[str, ...] = ()

    def close_pool(self) -> str | None:
        """Stop the warm pool now (its server sees the scratch folder, which goes next);
        return why it failed, when it did (its runs then started cold)."""
        if self.pool is None:
            return None
        self.pool.close()
        return self.pool.failure

    def close(self) -> None:
        self.backend.close()


def open_backend_stack(
    task: Task,
    backend: str | SandboxBackend,
    *,
    purpose: Literal["check", "grade"],
    unsafe_local: bool,
    gpus: GpuSelection | None,
    warm_root: Path | None = None,
) -> BackendStack:
    """The backend ``task``'s runs use: ``backend`` by name (``auto`` picks Docker, else
    bubblewrap) or as given, forked from a warm pool whose jobs all lie under ``warm_root``
    when that is given; in a batch, each run on its own GPU slot when the task wants one."""
    notes: tuple[str, ...] = ()
    if isinstance(backend, str):
        choice = choose_task_backend(
            task, backend, purpose=purpose, unsafe_local=unsafe_local, gpus=gpus
        )
        backend, notes = choice.backend, choice.notes
    pool = None
    if warm_root is not None:
        backend = warm(backend, root=warm_root, limits=sandbox_limits(task))
        if isinstance(backend, WarmBubblewrap):
            pool = backend
            pool.start(wait=False)  # while the inputs are prepared
    limits = task.spec.limits
    # A self-check runs one submission at a time: it sees every selected device.
    placement = (
        place_on_gpus(backend, gpus, wants_gpu=limits.gpu, runs_per_device=limits.runs_per_gpu)
        if purpose == "grade"
        else None
    )
    return BackendStack(placement or backend, pool, placement, notes)
