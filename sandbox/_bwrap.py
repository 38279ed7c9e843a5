"""The ``bwrap`` backend: bubblewrap namespaces for Linux machines without Docker.

Each run gets new user, pid, network, ipc, uts and cgroup namespaces (no network at all),
a read-only root made of read-only binds of /usr, the Python installation and medgrade's
in-sandbox code only, the submission and inputs read-only, size-limited scratch tmpfs
folders (``/tmp``, ``/dev/shm`` and ``/output``, from which the supervisor collects the
report), a read-only ``/proc``, no capabilities, a seccomp filter
(:mod:`sandbox._seccomp`), and uid 65534, which on the host is the grader's own uid or,
when the grader is root, the unprivileged sandbox identity (:mod:`sandbox._identity`):
never host root.  The supervisor is pid 1 of the run's pid namespace.  Limits: rlimits
set by the harness (CPU time, file size, open files, no core dumps; address space only for
CPU runs, since it breaks CUDA) and, when launched as root, a cgroup with memory, pids and
CPU limits whose processes are all killed at the end of the run.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

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
from sandbox._cgroups import RunCgroup, create_run_cgroup
from sandbox._channel import ReportChannel
from sandbox._identity import SandboxIdentity, checked_identity, sandbox_identity
from sandbox._process import kill_live_groups, minimal_environment, run_process_group
from sandbox._seccomp import filter_pipe
from sandbox.wire import OUTPUT_SCRATCH_MB

NOBODY = "65534"
SCRATCH_MB = 256
PIDS_MAX = 256
LAUNCHER = CODE_DIR / "launch.py"


def nvidia_device_nodes() -> list[str]:
    return sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/dri/renderD*"))


class Sources:
    """The host folders and files a sandbox binds, as bubblewrap will name them.

    Without a stage each is bound from where it is.  With one (the grader is root) each is
    first mounted at ``stage/<n>`` by the launcher, as root, in a mount namespace of its
    own: bubblewrap, running unprivileged, could not reach a folder under ``/root``.
    """

    def __init__(self, stage: Path | None) -> None:
        self.stage = stage
        self.binds: list[list[str]] = []

    def __call__(self, source: Path | str) -> str:
        if self.stage is None:
            return str(source)
        self.binds.append([str(source), str(len(self.binds))])
        return str(self.stage / self.binds[-1][1])


class BubblewrapBackend:
    name = "bwrap"
    isolating = True

    def __init__(
        self,
        python: str | Path = sys.executable,
        *,
        gpus: GpuSelection | None = None,
        executable: str | None = None,
    ) -> None:
        reason = self.unavailable_reason()
        if reason is not None:
            raise SandboxUnavailableError(reason)
        if gpus is not None and not nvidia_device_nodes():
            raise SandboxUnavailableError(
                "GPUs were asked for, but this machine has no /dev/nvidia* devices"
            )
        self.python = str(python)
        self.gpus = gpus
        self.executable = executable or shutil.which("bwrap") or "bwrap"
        #: Who the sandbox is on the host when the grader is root (else the grader itself).
        self.identity: SandboxIdentity | None = checked_identity() if _is_root() else None
        if _is_root():
            _check_run_cgroups()
        # Only a mount point, in the launcher's own mount namespaces: it stays empty here.
        # In /tmp, whatever TMPDIR says: the unprivileged bubblewrap must be able to reach it.
        self.stage = (
            Path(tempfile.mkdtemp(prefix="medgrade-stage-", dir="/tmp")) if _is_root() else None
        )

    @staticmethod
    @cache
    def unavailable_reason() -> str | None:
        """Why this backend cannot run here, or None when it can (probed once, as the
        sandbox identity when root, since that is who starts bubblewrap then)."""
        if sys.platform != "linux":
            return "bubblewrap needs Linux"
        executable = shutil.which("bwrap")
        if executable is None:
            return "bubblewrap is not installed (apt-get install bubblewrap)"
        try:
            identity = sandbox_identity() if _is_root() else None
        except ValueError as error:
            return str(error)
        probe = launcher_command(
            [
                executable, "--unshare-all", "--unshare-user", "--disable-userns",
                "--die-with-parent", "--ro-bind", "/usr", "/usr", *_root_symlinks(),
                "--proc", "/proc", "--dev", "/dev", "/usr/bin/true",
            ],
            identity=identity,
        )  # fmt: skip
        done = subprocess.run(probe, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            who = f" as the sandbox identity (uid {identity.uid})" if identity else ""
            return f"bubblewrap cannot create namespaces here{who}: {done.stderr.strip()}"
        return None

    def run(self, job: SandboxJob) -> SandboxResult:
        limits = job.limits
        cgroup = (
            create_run_cgroup(memory_mb=limits.memory_mb, pids_max=PIDS_MAX, cpus=limits.cpus)
            if _is_root()
            else None
        )
        channel = ReportChannel(job.output_dir, job.nonce)
        seccomp = filter_pipe()
        sources = Sources(self.stage)
        inner = [
            self.python,
            "-I",
            "-B",
            INSIDE_SUPERVISOR,
            *supervisor_arguments(
                job,
                channel=channel.sandbox_fd,
                # With a memory cgroup the limit is exact; without one, fall back to RLIMIT_AS.
                apply_memory_rlimit=cgroup is None,
            ),
        ]
        bwrap = [self.executable, *self.arguments(job, sources, seccomp_fd=seccomp), *inner]
        command = launcher_command(
            bwrap, identity=self.identity, cgroup=cgroup, stage=self.stage, binds=sources.binds
        )
        home = Path(job.output_dir).parent
        peak, oom, cpu = None, False, None

        handed: list[bool] = []

        def started() -> None:
            channel.handed_over()
            os.close(seccomp)
            handed.append(True)

        channel.start()
        try:
            result = run_process_group(
                command,
                env=minimal_environment(
                    home=home, cpus=limits.cpus, extra={"HOME": "/tmp", "TMPDIR": "/tmp"}
                ),
                cwd=home,
                timeout_s=limits.wall_time_s + HOST_GRACE_S,
                max_log_bytes=limits.max_log_bytes,
                backend=self.name,
                pass_fds=(channel.sandbox_fd, seccomp),
                started=started,
            )
        finally:
            if not handed:  # the sandbox never started: nothing holds the filter's pipe
                os.close(seccomp)
            channel.finish()
            if cgroup is not None:
                peak, oom, cpu = cgroup.peak_memory_mb(), cgroup.oom_killed(), cgroup.cpu_time_s()
                cgroup.kill_all()
                cgroup.remove()
        return replace(
            result,
            peak_memory_mb=peak if peak is not None else result.peak_memory_mb,
            oom_killed=oom,
            cpu_time_s=cpu,
            report_error=channel.error,
            started=channel.started,
            details=self.details(cgroup),
        )

    def details(self, cgroup: RunCgroup | None) -> dict[str, str]:
        return {
            "python": self.python,
            "cgroup": f"v{cgroup.version}" if cgroup else "none (not root)",
            "host_uid": str(self.identity.uid if self.identity else os.geteuid()),
        }

    def close(self) -> None:
        """Kill every run still going (the grader is being stopped)."""
        kill_live_groups()
        if self.stage is not None:
            with contextlib.suppress(OSError):
                self.stage.rmdir()

    def arguments(self, job: SandboxJob, sources: Sources, *, seccomp_fd: int) -> list[str]:
        """bwrap's options for ``job`` (everything before the command)."""
        arguments = [
            "--disable-userns",
            "--as-pid-1",
            *self.common_arguments(cpus=job.limits.cpus, sources=sources),
            "--size", str(OUTPUT_SCRATCH_MB * 2**20), "--tmpfs", INSIDE_OUTPUT,
            "--ro-bind", sources(job.submission_dir), "/submission",
            "--ro-bind", sources(job.input_dir), "/inputs",
        ]  # fmt: skip
        # Files that hold the task's labels (e.g. a dataset bundled inside a library) are
        # hidden behind empty mounts, after the binds that would expose them.
        for path in job.masked_paths:
            arguments += (
                ["--tmpfs", str(path)]
                if Path(path).is_dir()
                else ["--ro-bind", "/dev/null", str(path)]
            )
        if job.limits.gpu:
            arguments += self.gpu_arguments(job.limits.gpu_devices)
        return [*arguments, "--seccomp", str(seccomp_fd), *self.closing_arguments()]

    def common_arguments(self, *, cpus: float, sources: Sources) -> list[str]:
        """What every sandbox of this backend has: namespaces, the environment, a root of
        read-only system and Python binds, medgrade's code, scratch ``/tmp`` and
        ``/dev/shm``, and a read-only ``/proc``."""
        env = minimal_environment(home=Path("/tmp"), cpus=cpus)
        return [
            "--unshare-all",
            "--unshare-user",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--clearenv",
            *[part for key, value in sorted(env.items()) for part in ("--setenv", key, value)],
            "--ro-bind",
            "/usr",
            "/usr",
            *_root_symlinks(),
            "--ro-bind-try",
            "/etc/ld.so.cache",
            "/etc/ld.so.cache",
            "--ro-bind-try",
            "/etc/alternatives",
            "/etc/alternatives",
            "--proc",
            "/proc",
            # sysctls, /proc/sys included, can never be written, whoever the run is.
            "--remount-ro",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(SCRATCH_MB * 2**20),
            "--tmpfs",
            "/dev/shm",
            "--remount-ro",
            "/dev",
            "--size",
            str(SCRATCH_MB * 2**20),
            "--tmpfs",
            "/tmp",
            # After the scratch tmpfs: an environment under /tmp (a CI venv) stays visible.
            *[
                part
                for root in python_roots(self.python)
                for part in ("--ro-bind", sources(root), root)
            ],
            "--ro-bind",
            sources(CODE_DIR),
            INSIDE_CODE_DIR,
        ]

    def gpu_arguments(self, devices: tuple[str, ...] = ()) -> list[str]:
        """The GPU device nodes and the selection (``devices``, when a batch placed the run
        on some), when this backend was given GPUs."""
        if self.gpus is None:
            return []
        arguments = [part for node in nvidia_device_nodes() for part in ("--dev-bind", node, node)]
        visible = self.gpus.for_run(devices).cuda_visible_devices()
        if visible is not None:
            arguments += ["--setenv", "CUDA_VISIBLE_DEVICES", visible]
        return arguments

    @staticmethod
    def closing_arguments() -> list[str]:
        """The root made read-only once every mount point is in place, who the sandbox
        runs as (65534, whoever that is on the host), and where it starts."""
        return ["--remount-ro", "/", "--uid", NOBODY, "--gid", NOBODY, "--chdir", "/tmp"]


def launcher_command(
    command: Sequence[str],
    *,
    identity: SandboxIdentity | None,
    cgroup: RunCgroup | None = None,
    stage: Path | None = None,
    binds: Sequence[Sequence[str]] = (),
) -> list[str]:
    """``command`` (bubblewrap) behind medgrade's launcher (:mod:`sandbox.launch`)."""
    spec = {
        "cgroup_procs": [str(path) for path in cgroup.procs_files] if cgroup else [],
        "stage": str(stage) if stage and binds else None,
        "binds": [list(bind) for bind in binds],
        "uid": identity.uid if identity else None,
        "gid": identity.gid if identity else None,
    }
    return [sys.executable, "-I", "-S", "-B", str(LAUNCHER), json.dumps(spec), "--", *command]


def _is_root() -> bool:
    return os.geteuid() == 0


def _check_run_cgroups() -> None:
    """As root every run gets a cgroup with its limits; a machine where none can be made
    would run submissions without memory, pids or CPU limits, so the backend refuses."""
    probe = create_run_cgroup(memory_mb=64, pids_max=PIDS_MAX, cpus=1.0)
    if probe is None:
        raise SandboxUnavailableError(
            "as root, every bubblewrap run gets a cgroup (memory, pids and CPU limits), and "
            "none can be made here (cgroup v1 or v2 with the memory controller, writable under "
            "/sys/fs/cgroup): fix the cgroup mount, or grade as an unprivileged user"
        )
    probe.remove()


def _root_symlinks() -> list[str]:
    """Merged-/usr systems link /bin, /lib... into /usr; others need them bound."""
    arguments: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            arguments += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            arguments += ["--ro-bind", str(path), f"/{name}"]
    return arguments


def python_roots(python: str) -> list[str]:
    """The folders of the Python installation and virtual environment outside /usr: what a
    sandbox binds read-only besides /usr, and nothing else."""
    roots = [p for p in _prefixes(python) if not p.startswith("/usr/") and p != "/usr"]
    return _outermost(roots)


@cache
def _prefixes(python: str) -> list[str]:
    # Asked of the interpreter itself: virtual environments share one real executable, so
    # comparing it with sys.executable cannot tell them apart.
    output = subprocess.run(
        [python, "-I", "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return output.split()


def _outermost(paths: Sequence[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


register_backend("bwrap", BubblewrapBackend)
