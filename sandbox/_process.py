"""Starting a process group, bounding its logs and killing it on time (shared by backends)."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from sandbox._backend import SandboxResult


class TailBuffer:
    """Keeps the last ``limit`` bytes of a stream and counts what it dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def feed(self, stream: IO[bytes], stop: threading.Event) -> None:
        """Read until end of file, or, once ``stop`` is set, until the pipe is drained.

        A process that escaped the run's process group may hold the pipe open for ever;
        after ``stop`` the reader takes what is already buffered and leaves.
        """
        descriptor = stream.fileno()
        drain_until: float | None = None
        try:
            while True:
                if stop.is_set() and drain_until is None:
                    drain_until = time.monotonic() + 1.0
                if drain_until is not None and time.monotonic() > drain_until:
                    break  # something outside the run keeps writing
                ready, _, _ = select.select([descriptor], [], [], 0.1)
                if not ready:
                    if drain_until is not None:
                        break
                    continue
                chunk = os.read(descriptor, 65536)
                if not chunk:
                    break
                self._append(chunk)
        finally:
            stream.close()

    def _append(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._size += len(chunk)
        while self._size - len(self._chunks[0]) >= self.limit:
            self._size -= len(self._chunks[0])
            self.dropped += len(self._chunks.popleft())

    def text(self) -> str:
        data = b"".join(self._chunks)
        excess = max(0, len(data) - self.limit)
        self.dropped += excess
        return data[excess:].decode("utf-8", errors="replace")


_LIVE_GROUPS: set[int] = set()
_LIVE_LOCK = threading.Lock()


def kill_live_groups() -> None:
    """SIGKILL every sandbox process group still running (the grader is being stopped)."""
    with _LIVE_LOCK:
        groups = list(_LIVE_GROUPS)
    for group in groups:
        kill_group(group)


def run_process_group(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    max_log_bytes: int,
    backend: str,
    pass_fds: Sequence[int] = (),
    started: Callable[[], None] | None = None,
) -> SandboxResult:
    """Run ``command`` in a new session; on timeout or at the end, SIGKILL the whole group.

    ``pass_fds`` stay open in the command (its report channel, say); ``started`` is called
    once it runs.  ``os.wait4`` gives the child's own peak RSS, which ``Popen.wait`` would
    discard.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
        pass_fds=tuple(pass_fds),
    )
    if started is not None:
        started()
    with _LIVE_LOCK:
        _LIVE_GROUPS.add(process.pid)
    stdout, stderr = TailBuffer(max_log_bytes // 2), TailBuffer(max_log_bytes // 2)
    finished = threading.Event()
    readers = [
        threading.Thread(target=buffer.feed, args=(stream, finished), daemon=True)
        for buffer, stream in ((stdout, process.stdout), (stderr, process.stderr))
    ]
    for reader in readers:
        reader.start()
    timed_out = threading.Event()

    def kill_on_timeout() -> None:
        timed_out.set()
        kill_group(process.pid)

    timer = threading.Timer(timeout_s, kill_on_timeout)
    timer.start()
    try:
        # Wait without reaping: until the leader is reaped its pid (the group id) cannot be
        # reused, so the kills below can never hit another run's processes.
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
    finally:
        timer.cancel()
        # Whatever the submission left behind in its process group dies with it.
        kill_group(process.pid)
        with _LIVE_LOCK:
            _LIVE_GROUPS.discard(process.pid)
    _, status, usage = os.wait4(process.pid, 0)
    wall_time = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    finished.set()
    for reader in readers:
        reader.join()
    exit_code = process.returncode if process.returncode >= 0 else None
    return SandboxResult(
        backend=backend,
        exit_code=exit_code,
        signal=-process.returncode if process.returncode < 0 else None,
        timed_out=timed_out.is_set(),
        wall_time_s=wall_time,
        peak_memory_mb=usage.ru_maxrss / 1024,
        stdout_tail=stdout.text(),
        stderr_tail=stderr.text(),
        log_bytes_dropped=stdout.dropped + stderr.dropped,
    )


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def minimal_environment(
    *, home: Path, cpus: float, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a submission sees: nothing of the host's beyond PATH."""
    threads = str(max(1, int(cpus)))
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "TMPDIR": str(home),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        # glibc gives each thread a 64 MiB arena; under an address-space limit that
        # exhausts memory long before the data does.
        "MALLOC_ARENA_MAX": "2",
        "MPLCONFIGDIR": str(home),
    }
    env.update(extra or {})
    return env
