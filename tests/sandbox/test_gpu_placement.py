"""GPU placement in a batch: each GPU run gets its own device(s) from the pool.

This machine has no NVIDIA GPU, so the devices here are names handed to the placement and
the backends are recorders or the local backend: what is tested is which device each run
is given and how many share one, and the option each backend turns that into.  (The CUDA
side, a run seeing only its device, needs a GPU machine.)
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from grader.journeys import default_workers, grade
from grader.submission import Submission
from sandbox import (
    GpuPlacement,
    GpuSelection,
    LocalBackend,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    _bwrap,
    _placement,
    placement_devices,
)
from tests.conftest import EXAMPLES


class Recorder:
    """A backend that records the devices each job was placed on and how many overlap."""

    name = "recorder"
    isolating = True

    def __init__(self, hold_s: float = 0.05) -> None:
        self.hold_s = hold_s
        self.placed: list[tuple[str, ...]] = []
        self.peak: Counter[str] = Counter()
        self._now: Counter[str] = Counter()
        self._lock = threading.Lock()

    def run(self, job: SandboxJob) -> SandboxResult:
        devices = job.limits.gpu_devices
        with self._lock:
            self.placed.append(devices)
            for device in devices:
                self._now[device] += 1
                self.peak[device] = max(self.peak[device], self._now[device])
        time.sleep(self.hold_s)
        with self._lock:
            for device in devices:
                self._now[device] -= 1
        return SandboxResult("recorder", 0, None, False, self.hold_s, None, "", "")

    def close(self) -> None:
        pass


def job(gpu: bool) -> SandboxJob:
    limits = SandboxLimits(wall_time_s=10, memory_mb=512, gpu=gpu)
    return SandboxJob(Path("/s"), Path("/i"), Path("/o"), limits, nonce="n")


def run_concurrently(backend: GpuPlacement, jobs: list[SandboxJob]) -> None:
    threads = [threading.Thread(target=backend.run, args=(j,)) for j in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_each_gpu_run_has_a_device_to_itself():
    recorder = Recorder()
    placement = GpuPlacement(recorder, ["0", "1"])
    run_concurrently(placement, [job(gpu=True) for _ in range(8)])
    assert len(recorder.placed) == 8
    assert set(recorder.placed) == {("0",), ("1",)}
    assert recorder.peak == {"0": 1, "1": 1}
    assert placement.slots == 2


def test_a_device_takes_as_many_runs_as_the_task_allows():
    recorder = Recorder()
    placement = GpuPlacement(recorder, ["3"], runs_per_device=3)
    run_concurrently(placement, [job(gpu=True) for _ in range(9)])
    assert recorder.peak == {"3": 3}
    assert placement.slots == 3


def test_a_run_without_a_gpu_is_not_placed():
    recorder = Recorder(hold_s=0)
    GpuPlacement(recorder, ["0"]).run(job(gpu=False))
    assert recorder.placed == [()]


def test_bad_placements_are_refused():
    with pytest.raises(ValueError, match="at least one device"):
        GpuPlacement(Recorder(), [])
    with pytest.raises(ValueError, match="runs_per_device"):
        GpuPlacement(Recorder(), ["0"], runs_per_device=0)


def test_the_devices_come_from_the_selection(monkeypatch):
    monkeypatch.setattr(_placement, "visible_gpus", lambda: ("0", "1", "2", "3"))
    assert placement_devices(GpuSelection.parse("device=2,3")) == ("2", "3")
    assert placement_devices(GpuSelection.parse("2")) == ("0", "1")
    assert placement_devices(GpuSelection.parse("all")) == ("0", "1", "2", "3")


def test_visible_gpus_honour_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1, 3")
    assert _placement.visible_gpus() == ("1", "3")


def test_bubblewrap_shows_a_run_only_its_device(monkeypatch):
    monkeypatch.setattr(_bwrap, "nvidia_device_nodes", lambda: ["/dev/nvidia0", "/dev/nvidia1"])
    backend = _bwrap.BubblewrapBackend(gpus=GpuSelection(count=-1))
    arguments = backend.gpu_arguments(("1",))
    assert arguments[arguments.index("CUDA_VISIBLE_DEVICES") + 1] == "1"
    assert "/dev/nvidia0" in arguments  # the nodes are there; CUDA sees the one it is given


def test_a_gpu_batch_places_every_run_and_defaults_to_one_worker_per_slot(task, tmp_path):
    limits = task.spec.limits.model_copy(update={"gpu": True, "runs_per_gpu": 2})
    gpu_task = dataclasses.replace(task, spec=task.spec.model_copy(update={"limits": limits}))
    placed: list[tuple[str, ...]] = []

    class Placed(LocalBackend):
        def run(self, job: SandboxJob) -> SandboxResult:
            placed.append(job.limits.gpu_devices)
            return super().run(job)

    submissions = [Submission(f"student{i}", EXAMPLES / "weak") for i in range(6)]
    result = grade(
        submissions,
        gpu_task,
        backend=Placed(),
        gpus=GpuSelection(device_ids=("0", "1")),
        out=tmp_path / "out",
    )
    assert [e.status for e in result.evaluations] == ["graded"] * 6
    # six students, and the reference (run once per batch to flag copies of it)
    assert len(placed) == 7 and set(placed) <= {("0",), ("1",)}
    assert default_workers(GpuPlacement(Recorder(), ["0", "1"], runs_per_device=2)) == 4


def test_a_task_can_let_runs_share_a_gpu(task):
    assert task.spec.limits.runs_per_gpu == 1
    with pytest.raises(ValueError, match="runs_per_gpu"):
        task.spec.limits.model_validate({**task.spec.limits.model_dump(), "runs_per_gpu": 0})


def test_gpu_placement_keeps_the_run_key_of_the_backend(tmp_path):
    from grader.journeys import sandbox_identity

    class Docker(Recorder):
        name = "docker"
        image_id = "sha256:abc"

    assert sandbox_identity(GpuPlacement(Docker(), ["0"])) == "docker:sha256:abc"


def test_a_dask_worker_places_its_runs_on_its_own_gpus(task, monkeypatch):
    from grader import cluster

    limits = task.spec.limits.model_copy(update={"gpu": True, "runs_per_gpu": 2})
    gpu_task = dataclasses.replace(task, spec=task.spec.model_copy(update={"limits": limits}))
    monkeypatch.setattr(cluster, "load_task", lambda reference: gpu_task)
    setup = cluster.WorkerSetup(
        task="gpu-task", data_dir=None, backend="local", unsafe_local=True,
        gpus=GpuSelection(device_ids=("0", "1")),
    )  # fmt: skip
    _, backend, _ = cluster._prepared(setup)
    assert isinstance(backend, GpuPlacement) and backend.slots == 4
