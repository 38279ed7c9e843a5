"""The ``docker`` backend: one hardened, throw-away container per run (docker SDK).

Every container: no network, the unprivileged sandbox identity (:mod:`sandbox._identity`,
never root), all capabilities dropped, no-new-privileges, Docker's default seccomp
profile (the backend refuses an engine without seccomp), a read-only root file system
with size-limited tmpfs scratch folders (``/tmp``, and ``/output``, from which the
supervisor collects the report), memory limit equal to the memory+swap limit, a pids
limit, a CPU quota, no core dumps and a bounded log.  The submission, the inputs and
medgrade's in-sandbox code are mounted read-only, plus the run's report socket; nothing
else of the host is visible (the grading image holds the task's packages, never data).
The supervisor, the container's pid 1, ends the run at its wall-time limit even if the
grader is gone; the host kills it a little later should it not.  Every container is
removed at the end of its run, when the backend is closed, and, for containers left by a
grader that was killed, when the next backend starts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sandbox._backend import (
    CODE_DIR,
    HOST_GRACE_S,
    INSIDE_CODE_DIR,
    INSIDE_OUTPUT,
    INSIDE_SUPERVISOR,
    GpuSelection,
    SandboxJob,
    SandboxResult,
    SandboxUnavailableError,
    register_backend,
    supervisor_arguments,
)
from sandbox._channel import ListeningChannel
from sandbox._identity import checked_identity
from sandbox._process import minimal_environment
from sandbox.wire import OUTPUT_SCRATCH_MB

DEFAULT_IMAGE = "medgrade/grading:cpu"
INSIDE_CHANNEL = "/run/medgrade/channel.sock"
LABEL = "org.medgrade.run"
OWNER_LABEL = "org.medgrade.owner"
SCRATCH_MB = 256
PIDS_MAX = 256
LOG_MAX_BYTES = 1024 * 1024
NO_NVIDIA_RUNTIME = (
    "this Docker engine has no NVIDIA runtime, so the container cannot be given a GPU: install "
    "the NVIDIA Container Toolkit (nvidia-ctk runtime configure --runtime=docker) or grade "
    "without --gpus"
)


def _client() -> Any:
    try:
        import docker
    except ImportError:  # pragma: no cover - docker is a dependency of medgrade
        raise SandboxUnavailableError("the docker Python package is not installed") from None
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as error:
        raise SandboxUnavailableError(
            f"no Docker engine answers at {os.environ.get('DOCKER_HOST', 'the default socket')} ({error})"
        ) from None
    return client


def image_exists(tag: str) -> bool:
    """Whether the Docker engine (if one answers) has the image ``tag``."""
    try:
        _client().images.get(tag)
    except Exception:
        return False
    return True


class DockerBackend:
    name = "docker"
    isolating = True

    def __init__(self, image: str | None = None, *, gpus: GpuSelection | None = None) -> None:
        self.client = _client()
        self.image_name = image or os.environ.get("MEDGRADE_DOCKER_IMAGE", DEFAULT_IMAGE)
        try:
            self.image = self.client.images.get(self.image_name)
        except Exception:
            raise SandboxUnavailableError(
                f"the grading image {self.image_name!r} is not on this Docker engine; build it with "
                "'medgrade image build'"
            ) from None
        self.gpus = gpus
        info = self.client.info()
        if not _seccomp_enforced(info.get("SecurityOptions") or []):
            raise SandboxUnavailableError(
                "this Docker engine runs containers without a seccomp profile, which medgrade "
                "relies on to deny the kernel keyrings, bpf and perf_event_open to submissions: "
                "use an engine built with seccomp and its default (or a stricter) profile"
            )
        if gpus is not None and "nvidia" not in (info.get("Runtimes") or {}):
            raise SandboxUnavailableError(NO_NVIDIA_RUNTIME)
        self.identity = checked_identity()
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._live: set[str] = set()
        self._lock = threading.Lock()
        remove_orphaned_containers(self.client)

    @property
    def image_id(self) -> str:
        return str(self.image.id)

    def has_nvidia_runtime(self) -> bool:
        return "nvidia" in (self.client.info().get("Runtimes") or {})

    def create_container(self, job: SandboxJob, channel_socket: Path) -> Any:
        """Create (not start) the container for ``job``, reporting on ``channel_socket``."""
        from docker.types import LogConfig, Mount, Ulimit

        limits = job.limits
        use_gpu = limits.gpu and self.gpus is not None
        env = minimal_environment(home=Path("/tmp"), cpus=limits.cpus)
        env.pop("PATH")  # the image's PATH leads to its Python
        command = [
            "python3",
            "-I",
            "-B",
            INSIDE_SUPERVISOR,
            *supervisor_arguments(
                job,
                channel=INSIDE_CHANNEL,
                apply_memory_rlimit=False,  # the container's memory cgroup is exact
            ),
        ]
        user = self.identity.docker_user
        owner = f"uid={self.identity.uid},gid={self.identity.gid}"
        options: dict[str, Any] = {}
        if use_gpu:
            assert self.gpus is not None
            options["device_requests"] = [_device_request(self.gpus.for_run(limits.gpu_devices))]
            options["shm_size"] = "1g"  # PyTorch data loaders share tensors through /dev/shm
        return self.client.containers.create(
            self.image_name,
            command=command,
            user=user,
            network_mode="none",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={
                "/tmp": f"rw,size={SCRATCH_MB}m,{owner},mode=1777",
                INSIDE_OUTPUT: f"rw,size={OUTPUT_SCRATCH_MB}m,{owner},mode=0700",
            },
            mem_limit=f"{limits.memory_mb}m",
            memswap_limit=f"{limits.memory_mb}m",
            pids_limit=PIDS_MAX,
            nano_cpus=int(limits.cpus * 1e9),
            ulimits=[Ulimit(name="core", soft=0, hard=0)],
            log_config=LogConfig(
                type="json-file", config={"max-size": str(LOG_MAX_BYTES), "max-file": "1"}
            ),
            mounts=[
                Mount("/submission", str(job.submission_dir), type="bind", read_only=True),
                Mount("/inputs", str(job.input_dir), type="bind", read_only=True),
                Mount(INSIDE_CODE_DIR, str(CODE_DIR), type="bind", read_only=True),
                Mount(INSIDE_CHANNEL, str(channel_socket), type="bind", read_only=False),
            ],
            working_dir="/tmp",
            environment=env,
            # The supervisor must be pid 1 (an engine configured with "init": true would
            # put docker-init there), so that kill(-1) ends every process of the run.
            init=False,
            labels={LABEL: "1", OWNER_LABEL: self.owner},
            **options,
        )

    def run(self, job: SandboxJob) -> SandboxResult:
        import docker.errors
        import requests

        folder = Path(tempfile.mkdtemp(prefix="medgrade-channel-"))
        channel = ListeningChannel(job.output_dir, job.nonce, folder=folder, uid=self.identity.uid)
        try:
            container = self.create_container(job, channel.path)
            with self._lock:
                self._live.add(container.id)
            channel.start()
            start = time.perf_counter()
            timed_out = False
            try:
                try:
                    container.start()
                except docker.errors.APIError as error:
                    if "could not select device driver" in str(error):
                        raise SandboxUnavailableError(NO_NVIDIA_RUNTIME) from None
                    raise
                try:
                    status = container.wait(timeout=job.limits.wall_time_s + HOST_GRACE_S)
                except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                    timed_out = True
                    with contextlib.suppress(docker.errors.APIError):
                        container.kill()
                    status = container.wait(timeout=30)
                wall_time = time.perf_counter() - start
                channel.finish()
                container.reload()
                state = container.attrs["State"]
                stdout = container.logs(stdout=True, stderr=False)
                stderr = container.logs(stdout=False, stderr=True)
            finally:
                self._remove(container.id)
        finally:
            channel.close()
            shutil.rmtree(folder, ignore_errors=True)
        keep = job.limits.max_log_bytes // 2
        exit_code = int(status.get("StatusCode", -1))
        return SandboxResult(
            backend=self.name,
            exit_code=None if timed_out else exit_code,
            signal=9 if timed_out or exit_code == 137 else None,
            timed_out=timed_out,
            wall_time_s=wall_time,
            peak_memory_mb=None,  # the container's cgroup is gone once it exits
            stdout_tail=stdout[-keep:].decode("utf-8", "replace"),
            stderr_tail=stderr[-keep:].decode("utf-8", "replace"),
            log_bytes_dropped=max(0, len(stdout) - keep) + max(0, len(stderr) - keep),
            oom_killed=bool(state.get("OOMKilled")),
            report_error=channel.error,
            started=channel.started,
            details={
                "image": self.image_name,
                "image_id": self.image_id,
                "host_uid": str(self.identity.uid),
            },
        )

    def _remove(self, container_id: str) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            self.client.containers.get(container_id).remove(force=True)
        with self._lock:
            self._live.discard(container_id)

    def close(self) -> None:
        """Remove every container this backend still has (e.g. after Ctrl-C)."""
        with self._lock:
            live = list(self._live)
        for container_id in live:
            self._remove(container_id)


def _seccomp_enforced(security_options: list[str]) -> bool:
    """Whether ``docker info``'s SecurityOptions (``name=seccomp,profile=default``) give
    containers a seccomp profile (anything but ``unconfined``)."""
    for option in security_options:
        fields = dict(part.partition("=")[::2] for part in option.split(","))
        if fields.get("name") == "seccomp":
            return fields.get("profile", "default") != "unconfined"
    return False


def _device_request(gpus: GpuSelection) -> Any:
    from docker.types import DeviceRequest

    if gpus.device_ids:
        return DeviceRequest(device_ids=list(gpus.device_ids), capabilities=[["gpu"]])
    return DeviceRequest(count=gpus.count if gpus.count is not None else -1, capabilities=[["gpu"]])


def remove_orphaned_containers(client: Any) -> int:
    """Remove containers of medgrade graders on this host that are no longer running."""
    removed = 0
    host = socket.gethostname()
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner = container.labels.get(OWNER_LABEL, "")
        owner_host, _, pid = owner.rpartition(":")
        if owner_host == host and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(Exception):
                container.remove(force=True)
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


register_backend("docker", DockerBackend)
