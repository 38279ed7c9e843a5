"""Warm bubblewrap sandboxes for a batch: one fork server, a fresh fork per submission.

A cold bwrap run spends most of its time starting Python and importing numpy and torch
(about 1.5 s of a 1.6 s run for the breast-cancer reference on 2 cores).  A
:class:`WarmBubblewrap` starts one bubblewrap sandbox per batch whose command is
:mod:`sandbox.forkserver`: it imports those libraries once and forks a child per
submission, which isolates itself in namespaces of its own before any submission code runs
(see the fork server's docstring for what each child gets).  Every child is used once.

The server's sandbox sees the batch's scratch folder (``root``) at ``/pool``, read-only;
each job's submission and inputs must lie inside it, and the child binds only its own
(when the grader is root, the folders on the way get the sandbox identity's group, with
search permission only, so that the unprivileged server can reach them).  A job that does
not fit the pool (folders elsewhere, other limits, a GPU run on a pool without GPUs) runs
cold, and so does every job once the server has failed: the pool never changes what a run
sees, only how fast it starts.  When launched as root each run still gets its own cgroup
(memory, pids and CPU limits, peak memory, CPU time, OOM kills, a kill of everything at
the end): the child is moved into it before it is let go.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from sandbox._backend import (
    HOST_GRACE_S,
    INSIDE_CODE_DIR,
    INSIDE_OUTPUT,
    PRELOADED,
    SandboxBackend,
    SandboxJob,
    SandboxLimits,
    SandboxResult,
    supervisor_arguments,
)
from sandbox._bwrap import (
    PIDS_MAX,
    BubblewrapBackend,
    Sources,
    launcher_command,
    nvidia_device_nodes,
    python_roots,
)
from sandbox._cgroups import RunCgroup, create_run_cgroup
from sandbox._channel import ReportChannel
from sandbox._identity import grant_traversal
from sandbox._process import TailBuffer, minimal_environment
from sandbox._seccomp import filter_program

_POOL = "/pool"
_HOST_PROC = "/run/medgrade-proc"
_KEPT_VIEWS = "/run/medgrade-kept"
#: The descriptor a child's supervisor finds its channel on (see the fork server).
_CHANNEL_FD = 4

_START_TIMEOUT_S = 300.0
_KILL_GRACE_S = 10.0


class WarmPoolError(RuntimeError):
    """The fork server could not start or stopped answering; runs go cold."""


class SandboxClosedError(RuntimeError):
    """A run was asked of, or cut short by, a pool that its owner has closed."""


@dataclass
class _PendingRun:
    messages: Queue[dict[str, Any]] = field(default_factory=Queue)


class WarmBubblewrap:
    """A :class:`~sandbox.BubblewrapBackend` whose runs fork from a warm server.

    ``root`` is the folder every job's submission, inputs and output lie in (a batch's
    scratch folder); ``limits`` are the ones the batch's runs have (CPU count and GPU use
    shape the server's environment).  The server starts on :meth:`start` or the first
    run; runs wait until it is ready.
    """

    name = "bwrap"
    isolating = True

    def __init__(
        self,
        cold: BubblewrapBackend,
        *,
        root: Path,
        limits: SandboxLimits,
        preload: Sequence[str] = PRELOADED,
    ) -> None:
        self.cold = cold
        self.root = Path(root).resolve()
        self.limits = limits
        self.preload = tuple(preload)
        #: Why the pool gave up, once it has (every later run is cold).
        self.failure: str | None = None
        #: What the server imported, and what it could not.
        self.preloaded: tuple[str, ...] = ()
        self.missing: dict[str, str] = {}
        #: How many runs forked from the server, and how many started cold.
        self.warm_runs = 0
        self.cold_runs = 0
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._pending: dict[str, _PendingRun] = {}
        self._stderr = TailBuffer(16 * 1024)
        self._closed = False
        self._starter: threading.Thread | None = None
        self._ready = threading.Event()
        #: Set once the server is ready or has failed to start.
        self._settled = threading.Event()

    def run(self, job: SandboxJob) -> SandboxResult:
        folders = self._pool_folders(job)
        if folders is not None:
            # Waiting (not counted in the run's time) rather than running cold meanwhile:
            # cold runs beside a starting server on a loaded machine can take long enough
            # to draw a rubric's run-time penalty that a warm run never would.
            self.start(wait=True)
        if folders is not None and self._ready.is_set():
            try:
                result = self._run_warm(job, folders)
                with self._count_lock:
                    self.warm_runs += 1
                return result
            except WarmPoolError as error:
                self._fail(str(error))
        if self._closed:
            # Closed (the batch was interrupted): the run that lost its server has no
            # result, and none starts cold in its place.
            raise SandboxClosedError("the sandbox pool was closed before this run finished")
        with self._count_lock:
            self.cold_runs += 1
        return self.cold.run(job)

    def start(self, *, wait: bool = True) -> None:
        """Start the server, once; ``wait`` blocks until it is ready or has failed (runs
        wait for it; :func:`warm`'s caller may start it early, while it prepares)."""
        with self._lock:
            if self._starter is None and self.failure is None and not self._closed:
                self._starter = threading.Thread(target=self._launch_or_fail, daemon=True)
                self._starter.start()
            starter = self._starter
        if wait and starter is not None:
            self._settled.wait()

    def close(self) -> None:
        """Stop the server (which kills its children) and any cold run still going."""
        with self._lock:
            self._closed = True
            self._stop_server()
            starter = self._starter
        if starter is not None:
            starter.join()
        self.cold.close()

    # -- the server ---------------------------------------------------------------------

    def _launch_or_fail(self) -> None:
        try:
            self._launch()
        except (OSError, WarmPoolError) as error:
            with self._lock:
                self._stop_server()
                if not self._closed:
                    self.failure = f"the warm sandbox pool could not start: {error}"
        finally:
            self._settled.set()

    def _launch(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # A child's fresh /tmp would hide an environment that lives under /tmp (a CI venv):
        # the server keeps a second view of it, which each child binds back in place.
        kept = [
            (f"{_KEPT_VIEWS}/{index}", root)
            for index, root in enumerate(python_roots(self.cold.python))
            if root == "/tmp" or root.startswith("/tmp/")
        ]
        sources = Sources(self.cold.stage)
        bwrap = [
            self.cold.executable,
            *self.cold.common_arguments(cpus=self.limits.cpus, sources=sources),
            "--dir", "/submission", "--dir", "/inputs", "--dir", INSIDE_OUTPUT,
            "--ro-bind", sources(self.root), _POOL,
            # Lent to the server so that each child can make its own namespaces and
            # mounts; children drop every capability before the supervisor starts.
            "--ro-bind", "/proc", _HOST_PROC,
            "--disable-userns", "--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_SETPCAP",
            *[part for view, root in kept for part in ("--ro-bind", sources(root), view)],
            *(self.cold.gpu_arguments() if self.limits.gpu else []),
            *self.cold.closing_arguments(),
            self.cold.python, "-I", "-B", f"{INSIDE_CODE_DIR}/forkserver.py",
            "--control-fd", str(theirs.fileno()),
            "--preload", json.dumps(self.preload),
            "--kept", json.dumps(kept),
            "--seccomp", filter_program().hex(),
        ]  # fmt: skip
        command = launcher_command(
            bwrap, identity=self.cold.identity, stage=self.cold.stage, binds=sources.binds
        )
        try:
            server = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=minimal_environment(home=self.root, cpus=self.limits.cpus),
                cwd=self.root,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        with self._lock:
            self._server, self._control = server, ours
            if self._closed:  # closed while this was starting
                self._stop_server()
                raise WarmPoolError("the pool was closed")
        stderr = server.stderr
        assert stderr is not None
        threading.Thread(
            target=self._stderr.feed, args=(stderr, threading.Event()), daemon=True
        ).start()
        ours.settimeout(_START_TIMEOUT_S)
        try:
            ready = _receive(ours)
        except (TimeoutError, OSError) as error:
            raise WarmPoolError(f"no answer from the fork server ({error})") from None
        if ready is None or ready.get("op") != "ready":
            time.sleep(0.2)
            raise WarmPoolError(
                f"the fork server stopped before it was ready: {self._stderr.text()[-800:]}"
            )
        ours.settimeout(None)
        self.preloaded = tuple(ready.get("preloaded", ()))
        self.missing = dict(ready.get("missing", {}))
        self._ready.set()
        self._settled.set()
        # This thread stays for the server's life: bwrap's --die-with-parent fires when the
        # thread that started it ends, not the process.
        self._dispatch(ours)

    def _dispatch(self, control: socket.socket) -> None:
        """Route the server's messages to the runs waiting for them."""
        while True:
            try:
                message = _receive(control)
            except OSError:
                message = None
            if message is None:
                break
            pending = self._pending.get(message.get("id", ""))
            if pending is not None:
                pending.messages.put(message)
        # The server is gone: every run still waiting hears so.
        for pending in list(self._pending.values()):
            pending.messages.put({"op": "lost"})

    def _stop_server(self) -> None:
        self._ready.clear()
        if self._control is not None:
            with contextlib.suppress(OSError):
                self._control.shutdown(socket.SHUT_RDWR)
            self._control.close()
        if self._server is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._server.pid, signal.SIGKILL)
            self._server.wait()
        self._server = None
        self._control = None

    def _fail(self, reason: str) -> None:
        with self._lock:
            if self.failure is None:
                self.failure = f"the warm sandbox pool stopped: {reason}"
            self._stop_server()

    def _send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        control = self._control
        if control is None:
            raise WarmPoolError("the fork server is not running")
        payload = json.dumps(message).encode()
        ancillary = (
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
        )
        try:
            with self._send_lock:
                control.sendmsg([payload], ancillary)
        except OSError as error:
            raise WarmPoolError(f"the fork server is gone ({error})") from None

    # -- one run ------------------------------------------------------------------------

    def _pool_folders(self, job: SandboxJob) -> list[tuple[str, str]] | None:
        """The job's binds relative to the pool, or None when it must run cold."""
        limits = job.limits
        if limits.cpus != self.limits.cpus or (limits.gpu and not self.limits.gpu):
            return None
        binds = []
        for folder, target in ((job.submission_dir, "/submission"), (job.input_dir, "/inputs")):
            resolved = Path(folder).resolve()
            if not resolved.is_relative_to(self.root) or resolved == self.root:
                return None
            binds.append((str(resolved.relative_to(self.root)), target))
        return binds

    def _run_warm(self, job: SandboxJob, binds: list[tuple[str, str]]) -> SandboxResult:
        limits = job.limits
        run_id = uuid.uuid4().hex
        pending = _PendingRun()
        self._pending[run_id] = pending
        if self.cold.identity is not None:
            for folder in (job.submission_dir, job.input_dir):
                grant_traversal(self.root, Path(folder), self.cold.identity)
        channel = ReportChannel(job.output_dir, job.nonce)
        logs = _RunLogs(limits.max_log_bytes)
        cgroup: RunCgroup | None = None
        try:
            if os.geteuid() == 0:
                cgroup = create_run_cgroup(
                    memory_mb=limits.memory_mb, pids_max=PIDS_MAX, cpus=limits.cpus
                )
            message = {
                "op": "run",
                "id": run_id,
                "argv": supervisor_arguments(
                    job, channel=_CHANNEL_FD, apply_memory_rlimit=cgroup is None
                ),
                "env": self._run_environment(limits),
                "binds": binds,
                "masked": self._masked_paths(job),
            }
            try:
                self._send(message, (*logs.sandbox_fds, channel.sandbox_fd))
            finally:
                logs.handed_over()
                channel.handed_over()
            forked = self._await_fork(pending, run_id)
            if cgroup is not None:
                self._enter_cgroup(cgroup, forked["pid"])
            started = time.perf_counter()
            channel.start()
            self._send({"op": "go", "id": run_id})
            exited, timed_out = self._await_exit(pending, run_id, limits.wall_time_s)
            wall_time = time.perf_counter() - started
        finally:
            self._pending.pop(run_id, None)
            channel.finish()
            peak, oom, cpu = None, False, None
            if cgroup is not None:
                peak, oom, cpu = cgroup.peak_memory_mb(), cgroup.oom_killed(), cgroup.cpu_time_s()
                cgroup.kill_all()
                cgroup.remove()
            logs.finish()
        code = os.waitstatus_to_exitcode(exited["status"])
        return SandboxResult(
            backend=self.name,
            exit_code=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            timed_out=timed_out,
            wall_time_s=wall_time,
            peak_memory_mb=peak if peak is not None else exited["maxrss_kb"] / 1024,
            stdout_tail=logs.stdout.text(),
            stderr_tail=logs.stderr.text(),
            log_bytes_dropped=logs.stdout.dropped + logs.stderr.dropped,
            oom_killed=oom,
            cpu_time_s=cpu,
            report_error=channel.error,
            started=channel.started,
            details=self.cold.details(cgroup) | {"warm": "forked from a warm server"},
        )

    def _run_environment(self, limits: SandboxLimits) -> dict[str, str]:
        env = minimal_environment(home=Path("/tmp"), cpus=limits.cpus)
        if limits.gpu and self.cold.gpus is not None:
            visible = self.cold.gpus.for_run(limits.gpu_devices).cuda_visible_devices()
            if visible is not None:
                env["CUDA_VISIBLE_DEVICES"] = visible
        return env

    def _masked_paths(self, job: SandboxJob) -> list[str]:
        masked = [str(p) for p in job.masked_paths]
        if not job.limits.gpu and self.limits.gpu:
            # The pool's sandboxes see the GPUs; a run that may not use them does not.
            masked += nvidia_device_nodes()
        return masked

    def _await_fork(self, pending: _PendingRun, run_id: str) -> dict[str, Any]:
        try:
            forked = self._wait(pending, ("forked", "error"), timeout_s=60.0)
        except TimeoutError:
            self._send({"op": "kill", "id": run_id})
            raise WarmPoolError("the fork server did not fork a run within 60 s") from None
        if forked["op"] == "error":
            raise WarmPoolError(forked.get("message", "the fork server could not fork"))
        return forked

    def _enter_cgroup(self, cgroup: RunCgroup, namespace_pid: int) -> None:
        """Move the forked run, still waiting for its go, into its own cgroup."""
        host_pid = _host_pid(namespace_pid, self._server_pid())
        if host_pid is None:
            raise WarmPoolError("could not find the forked run among this machine's processes")
        for procs in cgroup.procs_files:
            procs.write_text(str(host_pid))

    def _await_exit(
        self, pending: _PendingRun, run_id: str, wall_time_s: float
    ) -> tuple[dict[str, Any], bool]:
        """The run's exit message, and whether it had to be killed for its wall time."""
        try:
            return self._wait(pending, ("exited",), timeout_s=wall_time_s + HOST_GRACE_S), False
        except TimeoutError:
            self._send({"op": "kill", "id": run_id})
        try:
            return self._wait(pending, ("exited",), timeout_s=_KILL_GRACE_S), True
        except TimeoutError:
            raise WarmPoolError("a timed-out run could not be killed") from None

    def _wait(
        self, pending: _PendingRun, ops: tuple[str, ...], *, timeout_s: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                message = pending.messages.get(timeout=remaining)
            except Empty:
                raise TimeoutError from None
            if message["op"] == "lost":
                raise WarmPoolError(
                    f"the fork server stopped: {self._stderr.text()[-800:] or 'no message'}"
                )
            if message["op"] in ops:
                return message

    def _server_pid(self) -> int:
        assert self._server is not None
        return self._server.pid


class _RunLogs:
    """A run's stdout and stderr: two pipes whose sandbox ends go to the fork server, read
    on the host into bounded tails."""

    def __init__(self, max_log_bytes: int) -> None:
        self.stdout = TailBuffer(max_log_bytes // 2)
        self.stderr = TailBuffer(max_log_bytes // 2)
        self._finished = threading.Event()
        self.sandbox_fds: tuple[int, ...] = ()
        self._readers: list[threading.Thread] = []
        for buffer in (self.stdout, self.stderr):
            read_fd, write_fd = os.pipe()
            self.sandbox_fds += (write_fd,)
            reader = threading.Thread(
                target=buffer.feed, args=(os.fdopen(read_fd, "rb"), self._finished), daemon=True
            )
            reader.start()
            self._readers.append(reader)

    def handed_over(self) -> None:
        """The fork server holds its copies: ours close, so the readers see the run's end."""
        for fd in self.sandbox_fds:
            os.close(fd)
        self.sandbox_fds = ()

    def finish(self) -> None:
        self.handed_over()
        self._finished.set()
        for reader in self._readers:
            reader.join()


def _receive(control: socket.socket) -> dict[str, Any] | None:
    data = control.recv(1 << 20)
    return json.loads(data) if data else None


def _host_pid(namespace_pid: int, ancestor: int) -> int | None:
    """The pid, as this machine sees it, of the descendant of ``ancestor`` that is
    ``namespace_pid`` in the sandbox's pid namespace (``/proc/<pid>/status`` NSpid)."""
    parents: dict[int, int] = {}
    candidates = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields.get("PPid", "0"))
        nspids = fields.get("NSpid", "").split()
        if len(nspids) >= 2 and int(nspids[-1]) == namespace_pid:
            candidates.append(pid)
    for pid in candidates:
        seen, current = 0, pid
        while current > 1 and seen < 64:
            current = parents.get(current, 0)
            if current == ancestor:
                return pid
            seen += 1
    return None


def warm(backend: SandboxBackend, *, root: Path, limits: SandboxLimits) -> SandboxBackend:
    """``backend`` with warm sandboxes for jobs under ``root`` when it is bubblewrap;
    any other backend is returned as it is."""
    if isinstance(backend, BubblewrapBackend):
        return WarmBubblewrap(backend, root=root, limits=limits)
    return backend
