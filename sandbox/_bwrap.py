"""The ``bwrap`` backend: bubblewrap namespaces for Linux machines without Docker.

Each run gets new user, pid, network, ipc, uts and cgroup namespaces (no network at all),
a root file system made of read-only binds of /usr and the Python installation only, the
submission and inputs read-only, one writable output folder, a size-limited tmpfs scratch,
uid 65534 when launched as root, and no capabilities.  Limits: rlimits set by the harness
(CPU time, file size, open files, no core dumps; address space only for CPU runs, since it
breaks CUDA) and, when launched as root, a cgroup with memory and pids limits whose
processes are all killed at the end of the run.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from pathlib import Path

from sandbox._backend import (
    HARNESS_PATH,
    GpuSelection,
    SandboxJob,
    SandboxResult,
    SandboxUnavailableError,
    harness_arguments,
    register_backend,
)
from sandbox._cgroups import create_run_cgroup
from sandbox._process import kill_live_groups, minimal_environment, run_process_group

NOBODY = "65534"
SCRATCH_MB = 256
PIDS_MAX = 256
_INSIDE_HARNESS = "/opt/medgrade/harness.py"


def nvidia_device_nodes() -> list[str]:
    return sorted(glob.glob("/dev/nvidia*") + glob.glob("/dev/dri/renderD*"))


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

    @staticmethod
    @cache
    def unavailable_reason() -> str | None:
        """Why this backend cannot run here, or None when it can (probed once)."""
        if sys.platform != "linux":
            return "bubblewrap needs Linux"
        executable = shutil.which("bwrap")
        if executable is None:
            return "bubblewrap is not installed (apt-get install bubblewrap)"
        probe = [
            executable, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--ro-bind", "/usr", "/usr", *_root_symlinks(), "--proc", "/proc", "--dev", "/dev",
            "/usr/bin/true",
        ]  # fmt: skip
        done = subprocess.run(probe, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
        if done.returncode != 0:
            return f"bubblewrap cannot create namespaces here: {done.stderr.strip()}"
        return None

    def run(self, job: SandboxJob) -> SandboxResult:
        limits = job.limits
        cgroup = (
            create_run_cgroup(memory_mb=limits.memory_mb, pids_max=PIDS_MAX)
            if os.geteuid() == 0
            else None
        )
        inner = [
            self.python,
            "-I",
            _INSIDE_HARNESS,
            *harness_arguments(
                submission_dir="/submission",
                input_dir="/inputs",
                output_dir="/output",
                limits=limits,
                # With a memory cgroup the limit is exact; without one, fall back to RLIMIT_AS.
                apply_memory_rlimit=cgroup is None,
            ),
        ]
        command = [self.executable, *self.arguments(job), *inner]
        if cgroup is not None:
            # Join the cgroups before bwrap starts, so that nothing escapes the limits.
            joins = " && ".join(f'echo $$ > "{path}"' for path in cgroup.procs_files)
            command = ["/bin/sh", "-c", f'{joins} && exec "$@"', "medgrade-sandbox", *command]
        home = Path(job.output_dir).parent
        peak, oom = None, False
        try:
            result = run_process_group(
                command,
                stdin_data=(job.nonce + "\n").encode(),
                env=minimal_environment(
                    home=home, cpus=limits.cpus, extra={"HOME": "/tmp", "TMPDIR": "/tmp"}
                ),
                cwd=home,
                timeout_s=limits.wall_time_s,
                max_log_bytes=limits.max_log_bytes,
                backend=self.name,
            )
        finally:
            if cgroup is not None:
                peak = cgroup.peak_memory_mb()
                oom = cgroup.oom_killed()
                cgroup.kill_all()
                cgroup.remove()
        details = {
            "python": self.python,
            "cgroup": f"v{cgroup.version}" if cgroup else "none (not root)",
        }
        return replace(
            result,
            peak_memory_mb=peak if peak is not None else result.peak_memory_mb,
            oom_killed=oom,
            details=details,
        )

    def close(self) -> None:
        """Kill every run still going (the grader is being stopped)."""
        kill_live_groups()

    def arguments(self, job: SandboxJob) -> list[str]:
        """bwrap's options for ``job`` (everything before the command)."""
        arguments = [
            "--disable-userns",
            *self.common_arguments(cpus=job.limits.cpus),
            "--ro-bind",
            str(job.submission_dir),
            "/submission",
            "--ro-bind",
            str(job.input_dir),
            "/inputs",
            "--bind",
            str(job.output_dir),
            "/output",
            "--ro-bind",
            str(HARNESS_PATH),
            _INSIDE_HARNESS,
        ]
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
        return arguments + self.identity_arguments()

    def common_arguments(self, *, cpus: float) -> list[str]:
        """What every sandbox of this backend has: namespaces, the environment, and a root
        of read-only system and Python binds with a scratch ``/tmp``."""
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
            "--dev",
            "/dev",
            "--size",
            str(SCRATCH_MB * 2**20),
            "--tmpfs",
            "/tmp",
            # After the scratch tmpfs: an environment under /tmp (a CI venv) stays visible.
            *[part for root in python_roots(self.python) for part in ("--ro-bind", root, root)],
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
    def identity_arguments() -> list[str]:
        """Who the sandbox runs as (nobody, when launched as root) and where it starts."""
        return (["--uid", NOBODY, "--gid", NOBODY] if os.geteuid() == 0 else []) + [
            "--chdir",
            "/tmp",
        ]


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
