"""Per-run cgroups: memory, pids and CPU limits, the peak memory, CPU time, OOM kills, and a
kill of the group.

The CPU limit is a quota (the task's ``cpus`` per period), so a run that starts hundreds of
busy processes takes no more of the machine than the task grants it, and the runs beside
it keep theirs.

Works on cgroup v2 and on the v1 "hybrid" layout (v1 controllers plus an empty v2 tree,
whose ``cgroup.kill`` still kills a whole group at once).  Creating cgroups needs root;
without it :func:`create_run_cgroup` returns None and the caller falls back to rlimits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "medgrade"
#: The CPU quota's period (the kernel's default).
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class RunCgroup:
    """The cgroup directories one run's processes join (one per hierarchy)."""

    directories: tuple[Path, ...]
    memory_dir: Path
    pids_dir: Path | None
    kill_dir: Path | None
    version: int
    #: Where the group's CPU time is counted (v1: the cpuacct controller).
    cpu_usage_dir: Path | None = None

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.directories]

    def peak_memory_mb(self) -> float | None:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.peak"
        try:
            return int((self.memory_dir / name).read_text()) / 2**20
        except (OSError, ValueError):
            return None

    def cpu_time_s(self) -> float | None:
        """CPU time used by every process that was in the group, in seconds."""
        if self.cpu_usage_dir is None:
            return None
        try:
            if self.version == 1:
                return int((self.cpu_usage_dir / "cpuacct.usage").read_text()) / 1e9
            for line in (self.cpu_usage_dir / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) / 1e6
        except (OSError, ValueError):
            pass
        return None

    def oom_killed(self) -> bool:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (self.memory_dir / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except (OSError, ValueError):
            pass
        return False

    def kill_all(self) -> None:
        """SIGKILL every process in the group, including ones that left the process group."""
        if self.kill_dir is not None:
            with contextlib.suppress(OSError):
                (self.kill_dir / "cgroup.kill").write_text("1")
        for _ in range(50):
            pids = _read_pids(self.memory_dir / "cgroup.procs")
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        for directory in self.directories:
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # still busy for a moment after the last process died
                    time.sleep(0.02)


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(line) for line in path.read_text().split()]
    except (OSError, ValueError):
        return []


def cgroup_version() -> int | None:
    if (ROOT / "cgroup.controllers").is_file():
        return 2
    if (ROOT / "memory").is_dir():
        return 1
    return None


def create_run_cgroup(*, memory_mb: int, pids_max: int, cpus: float) -> RunCgroup | None:
    """Create this run's cgroup(s) with the limits set, or None when that is not possible."""
    version = cgroup_version()
    name = f"run-{uuid.uuid4().hex[:12]}"
    quota = max(1000, int(cpus * CPU_PERIOD_US))
    try:
        if version == 1:
            return _create_v1(name, memory_mb, pids_max, quota)
        if version == 2:
            return _create_v2(name, memory_mb, pids_max, quota)
    except OSError:
        return None
    return None


def _create_v1(name: str, memory_mb: int, pids_max: int, quota_us: int) -> RunCgroup:
    memory = ROOT / "memory" / PARENT / name
    memory.mkdir(parents=True)
    limit = str(memory_mb * 2**20)
    (memory / "memory.limit_in_bytes").write_text(limit)
    swap = memory / "memory.memsw.limit_in_bytes"
    if swap.exists():  # memory + swap = memory: no swapping past the limit
        swap.write_text(limit)
    directories = [memory]
    pids = ROOT / "pids" / PARENT / name
    pids_dir: Path | None = None
    if (ROOT / "pids").is_dir():
        pids.mkdir(parents=True)
        (pids / "pids.max").write_text(str(pids_max))
        directories.append(pids)
        pids_dir = pids
    # "cpu" and "cpuacct" are one hierarchy on most machines (cpu,cpuacct), two on some.
    cpu_usage_dir: Path | None = None
    for controller in ("cpu", "cpuacct"):
        if not (ROOT / controller).is_dir():
            continue
        group = (ROOT / controller).resolve() / PARENT / name
        if group not in directories:
            group.mkdir(parents=True)
            directories.append(group)
        if (group / "cpu.cfs_quota_us").exists():
            (group / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota_us))
        if (group / "cpuacct.usage").exists():
            cpu_usage_dir = group
    kill_dir: Path | None = None
    unified = ROOT / "unified"
    if (unified / "cgroup.procs").exists():
        kill_dir = unified / PARENT / name
        kill_dir.mkdir(parents=True)
        if not (kill_dir / "cgroup.kill").exists():
            kill_dir.rmdir()
            kill_dir = None
        else:
            directories.append(kill_dir)
    return RunCgroup(tuple(directories), memory, pids_dir, kill_dir, 1, cpu_usage_dir)


def _create_v2(name: str, memory_mb: int, pids_max: int, quota_us: int) -> RunCgroup:
    parent = ROOT / PARENT
    parent.mkdir(exist_ok=True)
    # Controllers must be enabled on the way down; the root may enable them for children.
    # One at a time: a controller that cannot be enabled must not take the others along.
    for directory in (ROOT, parent):
        for controller in ("+memory", "+pids", "+cpu"):
            with contextlib.suppress(OSError):
                (directory / "cgroup.subtree_control").write_text(controller)
    group = parent / name
    group.mkdir()
    (group / "memory.max").write_text(str(memory_mb * 2**20))
    with contextlib.suppress(OSError):
        (group / "memory.swap.max").write_text("0")
    (group / "pids.max").write_text(str(pids_max))
    with contextlib.suppress(OSError):  # without the cpu controller the run is unthrottled
        (group / "cpu.max").write_text(f"{quota_us} {CPU_PERIOD_US}")
    return RunCgroup((group,), group, group, group, 2, group)
