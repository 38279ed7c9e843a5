"""The running batch's hold on its output folder, and the clean-up after a batch that was killed.

A marker's batch is crash-safe: before anything else, the new batch removes what a killed one
left in the same output folder (its scratch folder, half-written files and any sandbox
process still running), from the lease file the killed batch held.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from grader._fs import remove_tree
from grader.errors import MedgradeError
from grader.output import PARTIAL_SUFFIX, OutputFolder, write_text_atomically

SCRATCH_PREFIX = "medgrade-grade-"


class _Lease:
    """The running batch's claim on an output folder: what a killed batch left is cleaned
    up by the next one from the lease file."""

    def __init__(self, out: Path) -> None:
        self.path = OutputFolder(out).lease

    def hold(self, scratch: Path) -> None:
        write_text_atomically(self.path, json.dumps({"pid": os.getpid(), "scratch": str(scratch)}))

    def release(self) -> None:
        self.path.unlink(missing_ok=True)

    def left_by_killed_batch(self) -> dict[str, object] | None:
        try:
            lease = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return lease if isinstance(lease, dict) else {}


@contextlib.contextmanager
def exclusive_output(out: Path, on_note: Callable[[str], None] | None) -> Iterator[_Lease]:
    """Hold ``out`` for one batch; first clean up after a batch that was killed there."""
    lease = _Lease(out)
    with OutputFolder(out).lock.open("a") as lock:
        _lock(lock, out, lease)
        _clean_up_killed_batch(out, lease, on_note)
        try:
            yield lease
        finally:
            shutil.rmtree(OutputFolder(out).partial, ignore_errors=True)
            lease.release()


def _lock(lock: IO[str], out: Path, lease: _Lease) -> None:
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = (lease.left_by_killed_batch() or {}).get("pid", "unknown")
        raise MedgradeError(
            f"another medgrade grade (pid {holder}) is writing to {out}; let it finish or stop "
            "it, then run this command again"
        ) from None


def _clean_up_killed_batch(out: Path, lease: _Lease, on_note: Callable[[str], None] | None) -> None:
    shutil.rmtree(OutputFolder(out).partial, ignore_errors=True)
    for partial in out.glob(f".*{PARTIAL_SUFFIX}"):
        partial.unlink(missing_ok=True)
    previous = lease.left_by_killed_batch()
    if previous is None:
        return
    scratch = previous.get("scratch")
    stopped = 0
    # The lease file is only a hint: never act on a path that is not a batch's scratch folder.
    if isinstance(scratch, str) and Path(scratch).name.startswith(SCRATCH_PREFIX):
        folder = Path(scratch)
        stopped = _stop_leftover_processes(folder)
        if folder.is_dir() and not folder.is_symlink():
            remove_tree(folder)
    lease.release()
    if on_note is not None:
        processes = f" and stopped {stopped} sandbox process(es) it left" if stopped else ""
        on_note(
            f"the previous medgrade grade into {out} (pid {previous.get('pid', 'unknown')}) was "
            f"interrupted; removed its scratch files{processes}, resuming"
        )


def _stop_leftover_processes(scratch: Path) -> int:
    """SIGKILL what a killed batch left running; returns how many processes.

    A bwrap sandbox dies with its grader (--die-with-parent) and docker containers of a dead
    grader are removed when the next docker backend starts, but a local-backend run lives on
    in its own session.  Its processes are found by their command line, which names a folder
    inside the batch's scratch folder (the inputs), then with them every process in the
    sessions they lead and every descendant.
    """
    processes = _process_table()
    if not processes:
        return 0
    needle = os.fsencode(scratch) + b"/"
    named = {pid for pid, (_, _, cmdline) in processes.items() if needle in cmdline}
    sessions = {pid for pid in named if processes[pid][1] == pid}
    targets = named | {pid for pid, (_, session, _) in processes.items() if session in sessions}
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in processes.items():
        children.setdefault(parent, []).append(pid)
    pending = list(targets)
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in targets:
                targets.add(child)
                pending.append(child)
    protected = {os.getpid()}
    ancestor = os.getppid()
    while ancestor > 0 and ancestor not in protected:
        protected.add(ancestor)
        ancestor = processes.get(ancestor, (0, 0, b""))[0]
    targets -= protected
    for pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_running(pid) for pid in targets):
        time.sleep(0.05)
    return len(targets)


def _process_table() -> dict[int, tuple[int, int, bytes]]:
    """Every process's parent, session and command line (Linux /proc; empty elsewhere)."""
    table: dict[int, tuple[int, int, bytes]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return table
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat_fields(entry / "stat")
            table[int(entry.name)] = (
                int(fields[1]),
                int(fields[3]),
                (entry / "cmdline").read_bytes(),
            )
        except (OSError, ValueError, IndexError):  # gone meanwhile, or not ours to read
            continue
    return table


def _stat_fields(path: Path) -> list[str]:
    """/proc/PID/stat after "pid (comm) ", whose comm may hold anything: state, ppid, pgrp,
    session, ..."""
    stat = path.read_text()
    return stat[stat.rindex(")") + 2 :].split()


def _running(pid: int) -> bool:
    try:
        return _stat_fields(Path(f"/proc/{pid}/stat"))[0] != "Z"
    except (OSError, ValueError, IndexError):
        return False
