"""The Docker backend's container configuration, GPU requests and cleanup (real engine).

GPU containers cannot start on a machine without the NVIDIA runtime, so these tests check
what can be checked here: the request is in HostConfig, and starting it fails with a
one-line explanation instead of a traceback.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import pytest

from grader.evaluation import evaluate
from grader.tasks import load_task
from sandbox import GpuSelection, SandboxJob, SandboxLimits, SandboxUnavailableError, get_backend
from sandbox._docker import INSIDE_CHANNEL, LABEL, NO_NVIDIA_RUNTIME
from sandbox._identity import sandbox_identity
from tests.conftest import EXAMPLES, TASK_ID, task_with_cpu_time


@pytest.fixture(scope="module")
def docker_backend():
    try:
        backend = get_backend("docker")
    except SandboxUnavailableError as error:
        pytest.skip(f"docker backend unavailable here: {error}")
    yield backend
    backend.close()


def job(tmp_path, validation_split, *, gpu: bool = False) -> SandboxJob:
    output = tmp_path / "output"
    output.mkdir()
    return SandboxJob(
        submission_dir=EXAMPLES / "weak",
        input_dir=validation_split.input_dir,
        output_dir=output,
        limits=SandboxLimits(wall_time_s=20, memory_mb=768, cpus=1.5, gpu=gpu),
        nonce=secrets.token_hex(16),
    )


def test_every_container_is_hardened(docker_backend, tmp_path, validation_split):
    channel = tmp_path / "channel.sock"
    channel.touch()
    container = docker_backend.create_container(job(tmp_path, validation_split), channel)
    try:
        host = container.attrs["HostConfig"]
        config = container.attrs["Config"]
        assert host["NetworkMode"] == "none"
        assert host["CapDrop"] == ["ALL"]
        assert host["SecurityOpt"] == ["no-new-privileges"]
        assert host["ReadonlyRootfs"] is True
        assert host["Memory"] == host["MemorySwap"] == 768 * 2**20
        assert host["PidsLimit"] == 256
        assert host["NanoCpus"] == 1_500_000_000
        assert {"Name": "core", "Soft": 0, "Hard": 0} in host["Ulimits"]
        assert host["LogConfig"]["Config"]["max-size"]
        assert "/tmp" in host["Tmpfs"] and "size=256m" in host["Tmpfs"]["/tmp"]
        assert "/output" in host["Tmpfs"] and "size=256m" in host["Tmpfs"]["/output"]
        identity = sandbox_identity()
        assert config["User"] == f"{identity.uid}:{identity.gid}" and identity.uid != 0
        mounts = {m["Target"]: m for m in host["Mounts"]}
        assert mounts["/submission"]["ReadOnly"] and mounts["/inputs"]["ReadOnly"]
        assert mounts["/opt/medgrade"]["ReadOnly"]
        # The host's output folder is never mounted: the report comes over the channel.
        assert set(mounts) == {"/submission", "/inputs", "/opt/medgrade", INSIDE_CHANNEL}
        assert not host.get("DeviceRequests")
        assert config["Labels"][LABEL] == "1"
    finally:
        container.remove(force=True)


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (GpuSelection(count=-1), {"Count": -1, "DeviceIDs": None}),
        (GpuSelection(count=2), {"Count": 2, "DeviceIDs": None}),
        (GpuSelection(device_ids=("0", "3")), {"Count": 0, "DeviceIDs": ["0", "3"]}),
    ],
    ids=["all", "count", "device-ids"],
)
def test_a_gpu_run_carries_its_device_request_and_shared_memory(
    docker_backend, tmp_path, validation_split, selection, expected
):
    docker_backend.gpus = selection
    channel = tmp_path / "channel.sock"
    channel.touch()
    try:
        container = docker_backend.create_container(
            job(tmp_path, validation_split, gpu=True), channel
        )
        try:
            host = container.attrs["HostConfig"]
            (request,) = host["DeviceRequests"]
            assert request["Capabilities"] == [["gpu"]]
            assert request["Count"] == expected["Count"]
            assert (request["DeviceIDs"] or None) == expected["DeviceIDs"]
            assert host["ShmSize"] == 2**30
        finally:
            container.remove(force=True)
    finally:
        docker_backend.gpus = None


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="this machine has NVIDIA devices")
def test_without_an_nvidia_runtime_a_gpu_run_is_a_one_line_explanation(
    docker_backend, tmp_path, validation_split, task
):
    if docker_backend.has_nvidia_runtime():
        pytest.skip("this Docker engine has the NVIDIA runtime")
    with pytest.raises(SandboxUnavailableError, match="no NVIDIA runtime"):
        get_backend("docker", gpus=GpuSelection(count=-1))
    # Even a backend that skipped the check fails the run with the same sentence.
    docker_backend.gpus = GpuSelection(count=-1)
    try:
        with pytest.raises(SandboxUnavailableError) as caught:
            docker_backend.run(job(tmp_path, validation_split, gpu=True))
        assert str(caught.value) == NO_NVIDIA_RUNTIME
    finally:
        docker_backend.gpus = None
    assert docker_backend.client.containers.list(all=True, filters={"label": LABEL}) == []

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grader",
            "check",
            str(EXAMPLES / "weak"),
            "--task",
            TASK_ID,
            "--backend",
            "docker",
            "--gpus",
            "all",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "no NVIDIA runtime" in done.stderr and "Traceback" not in done.stderr


def test_the_image_id_is_recorded_with_every_grade(docker_backend, validation_split):
    evaluation = evaluate(
        EXAMPLES / "weak", student_id="s", prepared=validation_split, backend=docker_backend
    )
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.run.details["image_id"].startswith("sha256:")
    assert evaluation.run.record["environment"]["versions"]["python"]


def test_containers_of_a_killed_grader_are_removed_by_the_next_one(
    docker_backend, tmp_path, validation_split
):
    from sandbox._docker import OWNER_LABEL

    stale = docker_backend.client.containers.create(
        docker_backend.image_name,
        command=["true"],
        labels={LABEL: "1", OWNER_LABEL: f"{os.uname().nodename}:999999"},
    )
    fresh = get_backend("docker")
    fresh.close()
    assert stale.id not in {c.id for c in docker_backend.client.containers.list(all=True)}


def test_a_container_ends_at_its_limit_even_when_its_grader_is_killed(docker_backend, tmp_path):
    """The supervisor, the container's pid 1, ends a run at the task's limits (its CPU time,
    at worst its hang guard): a grader killed with SIGKILL cannot leave a submission running
    past them."""
    task = task_with_cpu_time(tmp_path, 4)  # the spinner uses up whatever it is given
    spinner = tmp_path / "spinner"
    spinner.mkdir()
    (spinner / "predict.py").write_text(
        "def load_model(a):\n    while True:\n        pass\ndef predict(m, x):\n    return x\n"
    )
    checker = subprocess.Popen(
        [sys.executable, "-m", "grader", "check", str(spinner), "--task", str(task),
         "--backend", "docker", "--out", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = docker_backend.client
    deadline = time.monotonic() + 60
    running: list = []
    while not running and time.monotonic() < deadline:
        running = client.containers.list(filters={"label": LABEL, "status": "running"})
        time.sleep(0.2)
    assert running, "the check never started its container"
    checker.kill()
    checker.wait()
    container = running[0]
    try:
        hang_guard = load_task(task).spec.limits.wall_time_s
        container.wait(timeout=hang_guard + 15)
        container.reload()
        assert container.status == "exited"
        started = _docker_time(container.attrs["State"]["StartedAt"])
        finished = _docker_time(container.attrs["State"]["FinishedAt"])
        assert finished - started < hang_guard + 5
    finally:
        container.remove(force=True)


def _docker_time(text: str) -> float:
    """Seconds since the epoch of Docker's RFC 3339 timestamp (nanoseconds dropped)."""
    import datetime as dt

    stamp, _, rest = text.partition(".")
    fraction = rest.rstrip("Z").split("+")[0][:6]
    moment = dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC)
    return moment.timestamp() + (float(f"0.{fraction}") if fraction else 0.0)
