"""medgrade's in-sandbox supervisor: the entry point of every sandbox run.

The supervisor never runs submission code.  It forks a *worker*, which runs the harness
(:mod:`harness`: import the submission, ``load_model``, ``predict``, or the notebook) and
writes what it produced into the sandbox's own scratch ``/output``; the supervisor waits
for it (killing it at the run's deadline, so that a run never outlives its limit even if
the grader is gone), then kills every process the run left, collects the files a report
may carry, and sends the report over the run's channel (:mod:`wire`).

What student code cannot reach: the channel (the worker closes its copy before anything
else, and a Docker channel's listener is closed before the go arrives), the nonce (it is
read from the channel only after every submission process is gone), and the supervisor's
memory and descriptors (it makes itself non-dumpable at once, so no process of the same
uid may ptrace it or open its ``/proc`` entries).  In a sandbox it is pid 1 of the run's
pid namespace, which its processes cannot kill; ``kill(-1)`` then ends all of them.

What the worker says of itself (status, failure, timings) is passed on as untrusted; what
the supervisor saw (how the worker ended, whether it ran out of time, the CPU time of
every process of the run) it reports beside it.

Like the harness, this uses only the standard library and imports nothing from medgrade
(its siblings are imported by path from its own, read-only, folder).

Usage: python -I -B supervisor.py (--channel-fd N | --channel-path PATH) --deadline-s S
       --submission DIR --inputs DIR --output DIR [--rlimits JSON] [--notebook-limits JSON]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import json
import os
import resource
import selectors
import signal
import socket
import stat
import sys
import time
from types import ModuleType
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PR_SET_DUMPABLE = 4
#: How long the supervisor waits for the processes it killed to be gone.
_REAP_S = 2.0
#: How often the supervisor reads the run's CPU time.
_CPU_SAMPLE_S = 0.05
_IGNORED_SIGNALS = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
    signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM,
)  # fmt: skip


def sibling(name: str) -> ModuleType:
    """Another of medgrade's in-sandbox modules, imported by path from this file's folder
    (read-only in every sandbox), so that nothing on ``sys.path`` can stand in for it."""
    qualified = f"medgrade_{name}"
    if qualified not in sys.modules:
        spec = importlib.util.spec_from_file_location(qualified, os.path.join(HERE, f"{name}.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[qualified] = module
        spec.loader.exec_module(module)
    return sys.modules[qualified]


wire = sibling("wire")
cputime = sibling("cputime")
startup = sibling("startup")
harness = sibling("harness")
notebook = sibling("notebook")


def main(argv: list[str] | None = None) -> None:
    arguments = _parse_arguments(argv)
    channel = _open_channel(arguments)
    wire.receive_go(channel)
    started = time.monotonic()
    packages = installed_packages()
    status_read, status_write = os.pipe()
    go_read, go_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    worker = os.fork()
    if worker == 0:
        _work(arguments, channel, status_write, go_read, closing=(status_read, go_write))
    os.close(status_write)
    os.close(go_read)
    # Before the worker may start: from now on no process of this uid can ptrace this one
    # or read its memory, descriptors or environment through /proc.
    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    # As pid 1 the supervisor gets only the signals it handles: it handles none.
    for number in _IGNORED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    os.write(go_write, b"g")
    clock = _RunClock(worker, limit_s=arguments.cpu_limit_s)
    try:
        observed, status = _supervise(
            worker, status_read, go_write, clock, deadline=started + arguments.deadline_s
        )
    finally:
        os.close(go_write)
    _end_every_process(worker)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    observed["cpu_s"] = round(max(0.0, usage.ru_utime + usage.ru_stime - clock.baseline), 4)
    observed["maxrss_mb"] = round(usage.ru_maxrss / 1024, 1)
    observed["wall_s"] = round(time.monotonic() - started, 4)
    observed["packages"] = packages
    record, observed["record_error"] = _decode(status)
    nonce = wire.receive_nonce(channel)
    files, skipped = _collect(arguments.output)
    channel.settimeout(120)
    wire.send_report(
        channel,
        {"nonce": nonce, "record": record, "observed": observed, "skipped": skipped},
        files,
    )
    os._exit(0)


def installed_packages() -> list[list[str]]:
    """``[name, version]`` of every distribution on ``sys.path``, from the names of their
    ``.dist-info`` folders (standardised by the wheel spec; a directory listing costs
    under a millisecond where importlib.metadata takes a fifth of a second), read before
    any submission code runs: the environment the run had, as the grader compares it
    with the task's declaration."""
    found: dict[str, str] = {}
    for entry in sys.path:
        if not entry or os.path.realpath(entry) == HERE:
            continue
        try:
            names = sorted(os.listdir(entry))
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name.removesuffix(".dist-info").partition("-")
                found.setdefault(project, version)
    return [[project, version] for project, version in sorted(found.items())]


def _parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="medgrade in-sandbox supervisor")
    channel = parser.add_mutually_exclusive_group(required=True)
    channel.add_argument("--channel-fd", type=int)
    channel.add_argument("--channel-path")
    parser.add_argument("--deadline-s", type=float, required=True)
    parser.add_argument("--cpu-limit-s", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--repeat-predict", action="store_true")
    parser.add_argument("--preload", default="[]")
    parser.add_argument("--submission", required=True)
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--rlimits", default="{}")
    parser.add_argument("--notebook-limits", default="{}")
    return parser.parse_args(argv)


def _open_channel(arguments: argparse.Namespace) -> socket.socket:
    if arguments.channel_fd is not None:
        return socket.socket(fileno=arguments.channel_fd)
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.connect(arguments.channel_path)
    return channel


def _work(
    arguments: argparse.Namespace,
    channel: socket.socket,
    status_write: int,
    go_read: int,
    *,
    closing: tuple[int, ...],
) -> None:
    """The worker: give up everything of the supervisor's, wait for the go, run the
    harness, and say how it went on the status pipe; never returns.

    The status pipe carries one JSON document per line: ``{"start": true}`` once, just
    before the submission's code may run (the CPU clock starts when the supervisor has
    answered it); ``{"progress": ...}`` as the run goes; ``{"record": ...}`` at the end.
    """

    def say(document: dict[str, Any]) -> None:
        data = json.dumps(document, default=str).encode() + b"\n"
        while data:
            data = data[os.write(status_write, data) :]

    def start() -> None:
        say({"start": True})
        os.read(go_read, 1)  # the supervisor has read the clock

    try:
        channel.close()
        for descriptor in closing:
            os.close(descriptor)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin for good
        # Its own process group: where the supervisor is not pid 1 (the local backend)
        # it kills this group at the end.
        os.setpgid(0, 0)
        if os.read(go_read, 1) != b"g":
            os._exit(122)
        record = harness.work(
            submission=arguments.submission,
            inputs=arguments.inputs,
            output=arguments.output,
            rlimits=json.loads(arguments.rlimits),
            notebook_limits=json.loads(arguments.notebook_limits),
            preload=json.loads(arguments.preload),
            seed=arguments.seed,
            repeat_predict=arguments.repeat_predict,
            started=start,
            progress=lambda text: say({"progress": str(text)[: wire.MAX_PROGRESS_CHARS]}),
        )
        say({"record": record})
    except BaseException as error:  # a failure of the harness itself: no report
        with contextlib.suppress(Exception):
            os.write(2, f"medgrade harness: {type(error).__name__}: {error}\n".encode())
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        # At once: a thread or atexit hook left by the submission must not run after the
        # record is written, nor keep the process alive.
        os._exit(0)


class _RunClock:
    """The CPU time of the worker and every process it started, read from ``/proc``:
    the reaped ones' from this process's children's usage, the live ones' (with what they
    reaped themselves) from their ``stat``.  As pid 1 of the run's namespace every process
    but this one is the run's; elsewhere, those of the worker's process group."""

    def __init__(self, worker: int, *, limit_s: float | None) -> None:
        self.worker = worker
        self.limit_s = limit_s
        self.baseline = 0.0
        self.started = False

    def read(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        everyone = os.getpid() == 1
        return (
            usage.ru_utime
            + usage.ru_stime
            + sum(
                process.seconds
                for process in cputime.process_times()
                if process.pid != os.getpid() and (everyone or process.group == self.worker)
            )
        )

    def start(self) -> None:
        self.baseline = self.read()
        self.started = True

    def exceeded(self) -> bool:
        return (
            self.started and self.limit_s is not None and self.read() - self.baseline > self.limit_s
        )


def _supervise(
    worker: int, status_read: int, go_write: int, clock: _RunClock, *, deadline: float
) -> tuple[dict[str, Any], bytes | None]:
    """Wait for the worker, reading its status as it comes; kill it at the deadline or
    when it has used up its CPU time.

    Returns how it ended and its record's bytes: empty when it gave none, None when it
    wrote more than a record may hold.
    """
    pidfd = os.pidfd_open(worker)
    lines = _StatusLines()
    stopped = _watch(worker, pidfd, status_read, go_write, clock, lines, deadline=deadline)
    _, status, _ = os.wait4(worker, 0)
    os.close(pidfd)
    if stopped is None:
        os.set_blocking(status_read, False)
        with contextlib.suppress(OSError):
            while lines.feed(os.read(status_read, 65536)):
                pass
    os.close(status_read)
    observed: dict[str, Any] = {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": stopped == "wall",
        "cpu_exceeded": stopped == "cpu",
        "progress": lines.progress,
    }
    if stopped is not None:
        return observed, b""  # whatever it wrote before the kill is not a record
    return observed, lines.record


def _watch(
    worker: int,
    pidfd: int,
    status_read: int,
    go_write: int,
    clock: _RunClock,
    lines: _StatusLines,
    *,
    deadline: float,
) -> str | None:
    """Read the worker's status until it exits; or kill it, and say why: ``"wall"`` at
    the deadline, ``"cpu"`` once its CPU time is used up."""
    selector = selectors.DefaultSelector()
    selector.register(pidfd, selectors.EVENT_READ)
    selector.register(status_read, selectors.EVENT_READ)
    exited = False
    while not exited:
        remaining = deadline - time.monotonic()
        stopped = "wall" if remaining <= 0 else "cpu" if clock.exceeded() else None
        if stopped is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
            return stopped
        # Every ready descriptor is read, the worker's end among them: its last status
        # lines come in the same wake-up as its exit.
        for key, _ in selector.select(min(remaining, _CPU_SAMPLE_S)):
            if key.fd == pidfd:
                exited = True
            elif not lines.feed(os.read(status_read, 65536)):
                selector.unregister(status_read)
            elif lines.start_pending:
                lines.start_pending = False
                clock.start()
                with contextlib.suppress(OSError):
                    os.write(go_write, b"g")
    return None


class _StatusLines:
    """The worker's status lines, as they arrive: the start, the last progress, the record."""

    def __init__(self) -> None:
        self.buffer = b""
        self.start_pending = False
        self.progress: str | None = None
        self.record: bytes | None = b""
        self._seen_start = False
        self._size = 0

    def feed(self, data: bytes) -> bool:
        """Take ``data``; False once the pipe is done (closed, or over its size)."""
        if not data or self.record is None:
            return False
        self._size += len(data)
        if self._size > wire.MAX_RECORD_BYTES + 64 * 1024:
            self.record = None
            return False
        self.buffer += data
        *complete, self.buffer = self.buffer.split(b"\n")
        for line in complete:
            self._line(line)
        return True

    def _line(self, line: bytes) -> None:
        if line.startswith(b'{"start"') and not self._seen_start:
            self._seen_start = self.start_pending = True
        elif line.startswith(b'{"progress"') and len(line) <= 4 * wire.MAX_PROGRESS_CHARS:
            with contextlib.suppress(ValueError, RecursionError, AttributeError):
                self.progress = str(json.loads(line).get("progress"))[: wire.MAX_PROGRESS_CHARS]
        elif line.startswith(b'{"record"'):
            self.record = line


def _end_every_process(worker: int) -> None:
    """Kill every process the run left and reap them."""
    if os.getpid() == 1:  # the run's own pid namespace: -1 is every process but this one
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)
    else:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(worker, signal.SIGKILL)
    deadline = time.monotonic() + _REAP_S
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def _decode(status: bytes | None) -> tuple[Any, str | None]:
    if status is None:
        return None, f"the worker wrote more than {wire.MAX_RECORD_BYTES} bytes of status"
    if not status:
        return None, None
    try:
        document = json.loads(status)
    except (ValueError, RecursionError) as error:
        return None, f"the worker's status is not JSON ({type(error).__name__})"
    if not isinstance(document, dict):
        return None, "the worker's status is not a JSON object"
    return document.get("record"), None


def _collect(output: str) -> tuple[list[tuple[str, str, int]], list[str]]:
    """The files a report may carry, as the worker left them in ``output``: plain files
    only, never through a link, each within its limit (no other process is left to change
    them before they are sent)."""
    names = [wire.PREDICTIONS, wire.EXECUTED_NOTEBOOK]
    with contextlib.suppress(OSError):
        per_case = os.path.join(output, wire.PER_CASE_DIR)
        if stat.S_ISDIR(os.lstat(per_case).st_mode):
            found = sorted(os.listdir(per_case))[: wire.MAX_PER_CASE_FILES + 1]
            names += [f"{wire.PER_CASE_DIR}/{name}" for name in found]
    files: list[tuple[str, str, int]] = []
    skipped: list[str] = []
    total = 0
    for name in names:
        limit = wire.allowed_file(name)
        if limit is None or len(files) > wire.MAX_PER_CASE_FILES:
            skipped.append(f"{name[:80]}: not a file a report carries")
            continue
        try:
            descriptor = os.open(
                os.path.join(output, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
            )
        except FileNotFoundError:
            continue
        except OSError as error:
            skipped.append(f"{name}: {error.strerror}")
            continue
        status = os.fstat(descriptor)
        os.close(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size > limit:
            skipped.append(f"{name}: not a regular file of at most {limit} bytes")
            continue
        total += status.st_size
        if total > wire.MAX_REPORT_BYTES:
            skipped.append(f"{name}: the report would exceed {wire.MAX_REPORT_BYTES} bytes")
            continue
        files.append((name, os.path.join(output, name), status.st_size))
    return files, skipped


if __name__ == "__main__":
    main()
