"""CPU time of processes, read from ``/proc`` (an in-sandbox module: standard library only).

Each process's ``stat`` holds its user and system time and that of the children it has
reaped, in clock ticks; the supervisor and the notebook runner both count a run's CPU time
from it, so that a run's limit is the CPU its code used, whatever the machine's load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ProcessTime:
    pid: int
    parent: int
    group: int
    #: Its own CPU time and that of the children it reaped, in seconds.
    seconds: float


def process_times() -> list[ProcessTime]:
    """Every process this one can see, with its CPU time."""
    tick = os.sysconf("SC_CLK_TCK")
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                # After "pid (name)": state ppid pgrp ... utime(12) stime(13) cutime cstime
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        seconds = sum(int(value) for value in fields[11:15]) / tick
        found.append(ProcessTime(int(entry), int(fields[1]), int(fields[2]), seconds))
    return found


def tree_seconds(root: int, times: list[ProcessTime] | None = None) -> float:
    """The CPU time of ``root`` and every live descendant of it."""
    times = process_times() if times is None else times
    children: dict[int, list[ProcessTime]] = {}
    for process in times:
        children.setdefault(process.parent, []).append(process)
    total, pending = 0.0, [p for p in times if p.pid == root]
    while pending:
        process = pending.pop()
        total += process.seconds
        pending += children.get(process.pid, [])
    return total
