"""GPU placement for a batch: each GPU run gets its own device(s) from the batch's pool.

A class of GPU submissions runs many sandboxes at once; without placement every run would
see every GPU and most would pile onto device 0.  :class:`GpuPlacement` wraps a backend
and, around each GPU run's sandbox (not around the grader's scoring, which needs no GPU),
leases the least-busy device with a free slot.  A device takes ``runs_per_device`` runs at
once (the task's ``limits.runs_per_gpu``: 1 for heavy models, several for small ones);
runs that want no GPU pass straight through.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from sandbox._backend import GpuSelection, SandboxBackend, SandboxJob, SandboxResult


def visible_gpus() -> tuple[str, ...]:
    """This machine's NVIDIA GPUs as CUDA device indices, honouring CUDA_VISIBLE_DEVICES."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return tuple(part.strip() for part in listed.split(",") if part.strip())
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return tuple(
                re.match(r"GPU (\d+):", line).group(1)  # type: ignore[union-attr]
                for line in done.stdout.splitlines()
                if re.match(r"GPU \d+:", line)
            )
    return tuple(
        sorted((p.name.removeprefix("nvidia") for p in Path("/dev").glob("nvidia[0-9]*")), key=int)
    )


def placement_devices(selection: GpuSelection) -> tuple[str, ...]:
    """The devices a batch places runs on for ``selection`` (``all``, a count or ids)."""
    if selection.device_ids:
        return selection.device_ids
    found = visible_gpus()
    if selection.count is not None and selection.count > 0:
        return found[: selection.count]
    return found


class GpuPlacement:
    """``backend`` with each GPU run placed on its own device(s) from ``devices``."""

    def __init__(
        self, backend: SandboxBackend, devices: Sequence[str], *, runs_per_device: int = 1
    ) -> None:
        if not devices:
            raise ValueError("GPU placement needs at least one device")
        if runs_per_device < 1:
            raise ValueError(f"runs_per_device must be at least 1, got {runs_per_device}")
        self.backend = backend
        self.name = backend.name
        self.isolating = backend.isolating
        self.runs_per_device = runs_per_device
        self._busy = dict.fromkeys(devices, 0)
        self._free = threading.Condition()

    @property
    def slots(self) -> int:
        """How many GPU runs may go at once."""
        return len(self._busy) * self.runs_per_device

    def run(self, job: SandboxJob) -> SandboxResult:
        if not job.limits.gpu:
            return self.backend.run(job)
        with self.lease() as device:
            placed = replace(job, limits=replace(job.limits, gpu_devices=(device,)))
            return self.backend.run(placed)

    def close(self) -> None:
        self.backend.close()

    @contextlib.contextmanager
    def lease(self) -> Iterator[str]:
        """The least-busy device with a free slot, held until the block ends."""
        with self._free:
            while True:
                device, busy = min(self._busy.items(), key=lambda item: item[1])
                if busy < self.runs_per_device:
                    break
                self._free.wait()
            self._busy[device] += 1
        try:
            yield device
        finally:
            with self._free:
                self._busy[device] -= 1
                self._free.notify()

    def __getattr__(self, name: str) -> object:
        # The wrapped backend's own attributes (docker's image_id for the run key...).
        return getattr(self.backend, name)


def place_on_gpus(
    backend: SandboxBackend, gpus: GpuSelection | None, *, wants_gpu: bool, runs_per_device: int
) -> GpuPlacement | None:
    """``backend`` placing each run on its own device of ``gpus``, for a task that wants a
    GPU on a machine that has the devices; else None."""
    if not wants_gpu or gpus is None:
        return None
    devices = placement_devices(gpus)
    if not devices:
        return None
    return GpuPlacement(backend, devices, runs_per_device=runs_per_device)
