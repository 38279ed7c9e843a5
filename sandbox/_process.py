"""Starting a process group, bounding its logs and killing it on time (shared by backends)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO


class TailBuffer:
    """Keeps the last ``limit`` bytes of a stream and counts what it dropped."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0
        self._chunks: deque[bytes] = deque()
        self._size = 0

    def feed(self, stream: IO[bytes]) -> None:
        for chunk in iter(lambda: stream.read(65536), b""):
            self._chunks.append(chunk)
            self._size += len(chunk)
            while self._size - len(self._chunks[0]) >= self.limit:
                self._size -= len(self._chunks[0])
                self.dropped += len(self._chunks.popleft())
        stream.close()

    def text(self) -> str:
        data = b"".join(self._chunks)
        excess = max(0, len(data) - self.limit)
        self.dropped += excess
        return data[excess:].decode("utf-8", errors="replace")


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int | None
    signal: int | None
    timed_out: bool
    wall_time_s: float
    peak_memory_mb: float | None
    stdout_tail: str
    stderr_tail: str
    log_bytes_dropped: int


def run_process_group(
    command: Sequence[str],
    *,
    stdin_data: bytes,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    max_log_bytes: int,
) -> ProcessOutcome:
    """Run ``command`` in a new session; on timeout or at the end, SIGKILL the whole group.

    ``os.wait4`` gives the child's own peak RSS, which ``Popen.wait`` would discard.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        start_new_session=True,
        close_fds=True,
    )
    stdout, stderr = TailBuffer(max_log_bytes // 2), TailBuffer(max_log_bytes // 2)
    readers = [
        threading.Thread(target=buffer.feed, args=(stream,), daemon=True)
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
        assert process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            process.stdin.write(stdin_data)
            process.stdin.close()
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
        # Whatever the submission left behind in its process group dies with it.
        kill_group(process.pid)
    wall_time = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)
    exit_code = process.returncode if process.returncode >= 0 else None
    return ProcessOutcome(
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
