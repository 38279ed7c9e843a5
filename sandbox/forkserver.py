"""medgrade's in-sandbox fork server: warm, single-use sandboxes for a batch.

Runs as the command of one long-lived bubblewrap sandbox (:mod:`sandbox._warm` starts it).
It imports the heavy libraries once (numpy, torch, scikit-learn...), then forks one child
per submission.  Student code never runs in the server itself, and a child serves exactly
one submission, so nothing of one student's run can reach another's; what the children
share is the server's memory as it was before any of them ran, copy-on-write.

The server holds ``CAP_SYS_ADMIN`` and ``CAP_SETPCAP``, in its sandbox's own user namespace
only, to build each child's namespaces and mounts; it also sees the machine's ``/proc``,
read-only, at ``HOST_PROC`` (the kernel mounts a new proc in a user namespace only where a
fully visible one exists).  Each child isolates itself before the harness runs the
submission:

- new mount, pid, network, IPC and UTS namespaces inside the server's sandbox;
- its own submission, inputs and output folders bound at ``/submission`` (read-only),
  ``/inputs`` (read-only) and ``/output``; the batch's scratch tree they come from, seen by
  the server at ``/pool``, hidden under an empty read-only tmpfs;
- a fresh ``/tmp`` and ``/dev/shm``, a read-only ``/proc`` of its own pid namespace (it is
  pid 1 there, so the kernel kills every process it leaves when it ends), and no user
  namespaces (the server's sandbox allows none);
- files holding the task's labels masked, GPUs it was not given masked;
- every capability dropped (bounding set included) and ``no_new_privs`` set.

The protocol on the control socket (``SOCK_SEQPACKET``, one JSON document per message):
the host sends ``run`` (with the run's stdin, stdout and stderr pipes as attached file
descriptors), then ``go`` once it has placed the child in the run's cgroup, and ``kill`` on a
timeout; the server answers ``ready`` once, then ``forked`` (the child's pid in the
server's pid namespace) and ``exited`` (its wait status and peak RSS) for each run.
Closing the socket stops the server and kills every child.

Like the harness, this uses only the standard library (ctypes for the system calls that
``os`` lacks in Python 3.11) and imports nothing from medgrade.

Usage: python -I forkserver.py --control-fd N --preload JSON
"""

from __future__ import annotations

import argparse
import array
import contextlib
import ctypes
import importlib
import json
import os
import platform
import selectors
import signal
import socket
import sys
from typing import Any

#: Where the host's batch scratch tree is bound in the server's sandbox.
POOL = "/pool"
HOST_PROC = "/run/medgrade-proc"
MAX_MESSAGE = 1 << 20
SCRATCH_SIZE = "256m"

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_RELATIME = 1 << 21

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# statvfs f_flag bits, mapped to the mount flags a remount must keep (a user namespace may
# not clear flags it inherited locked).
_KEPT_FLAGS = {
    os.ST_NOSUID: MS_NOSUID,
    os.ST_NODEV: MS_NODEV,
    os.ST_NOEXEC: MS_NOEXEC,
    os.ST_NOATIME: MS_NOATIME,
    os.ST_NODIRATIME: MS_NODIRATIME,
    os.ST_RELATIME: MS_RELATIME,
}

_libc = ctypes.CDLL(None, use_errno=True)
#: (second view, original path) of folders under /tmp the Python environment needs, which a
#: child's fresh /tmp would hide: each child binds them back.
_KEPT: list[tuple[str, str]] = []


class IsolationError(RuntimeError):
    """A child could not isolate itself; it exits without running the submission."""


def main() -> None:
    parser = argparse.ArgumentParser(description="medgrade in-sandbox fork server")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--preload", default="[]")
    parser.add_argument("--kept", default="[]")
    arguments = parser.parse_args()
    _KEPT[:] = [tuple(pair) for pair in json.loads(arguments.kept)]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness  # noqa: F401 - imported once here, so every child starts with it

    preloaded, missing = _preload(json.loads(arguments.preload))
    with socket.socket(fileno=arguments.control_fd) as control:
        _send(control, {"op": "ready", "preloaded": preloaded, "missing": missing})
        _serve(control)


def _preload(names: list[str]) -> tuple[list[str], dict[str, str]]:
    preloaded, missing = [], {}
    for name in names:
        try:
            importlib.import_module(name)
            preloaded.append(name)
        except Exception as error:  # not installed in this environment: runs import it cold
            missing[name] = f"{type(error).__name__}: {error}"[:200]
    return preloaded, missing


class _Child:
    def __init__(self, run_id: str, pid: int, go_fd: int) -> None:
        self.run_id = run_id
        self.pid = pid
        self.go_fd = go_fd
        self.pidfd = os.pidfd_open(pid)


def _serve(control: socket.socket) -> None:
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    children: dict[str, _Child] = {}
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj is control:
                    message, fds = _receive(control)
                    if message is None:
                        return  # the host closed the socket: the batch is over
                    child = _handle(control, message, fds, children)
                    if child is not None:
                        children[child.run_id] = child
                        selector.register(child.pidfd, selectors.EVENT_READ, child)
                else:
                    child = key.data
                    selector.unregister(child.pidfd)
                    os.close(child.pidfd)
                    _close_quietly(child.go_fd)
                    children.pop(child.run_id, None)
                    _, status, usage = os.wait4(child.pid, 0)
                    _send(
                        control,
                        {
                            "op": "exited",
                            "id": child.run_id,
                            "status": status,
                            "maxrss_kb": usage.ru_maxrss,
                        },
                    )
    finally:
        for child in children.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)


def _handle(
    control: socket.socket, message: dict[str, Any], fds: list[int], children: dict[str, _Child]
) -> _Child | None:
    op, run_id = message.get("op"), message.get("id", "")
    if op == "run":
        try:
            return _fork(control, message, fds)
        except OSError as error:
            _send(control, {"op": "error", "id": run_id, "message": f"fork failed: {error}"})
            return None
        finally:
            for fd in fds:
                _close_quietly(fd)
    child = children.get(run_id)
    if child is None:
        return None
    if op == "go":
        with contextlib.suppress(OSError):
            os.write(child.go_fd, b"g")
    elif op == "kill":
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
    return None


def _fork(control: socket.socket, message: dict[str, Any], fds: list[int]) -> _Child:
    if len(fds) != 3:
        raise OSError(f"a run needs stdin, stdout and stderr descriptors, got {len(fds)}")
    go_read, go_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(go_write)
            for target, fd in enumerate((*fds, go_read)):
                os.dup2(fd, target)
            os.closerange(4, os.sysconf("SC_OPEN_MAX"))
            _run_child(message)
        except BaseException as error:  # report and leave, whatever it was
            with contextlib.suppress(Exception):
                os.write(2, f"medgrade sandbox: {error}\n".encode())
        os._exit(120)
    os.close(go_read)
    _send(control, {"op": "forked", "id": message["id"], "pid": pid})
    return _Child(message["id"], pid, go_write)


def _run_child(message: dict[str, Any]) -> None:
    """Wait for the host's go, isolate, then run the harness in a grandchild that is pid 1
    of a new pid namespace; exit with its status."""
    server = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:
        os._exit(121)
    if os.read(3, 1) != b"g":
        os._exit(122)  # the host gave up on this run before it started
    os.close(3)
    # The server's sandbox lends it CAP_SYS_ADMIN (in its own user namespace, which allows
    # no nested ones) for exactly this; the run gives it up before any submission code.
    _check(
        _libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS),
        "unshare",
    )
    pid = os.fork()
    if pid == 0:
        try:
            _isolate(message)
            os.environ.clear()
            os.environ.update(message["env"])
            _reseed()
            import harness

            sys.argv = ["harness.py", *message["argv"]]
            harness.main()
        except BaseException as error:
            with contextlib.suppress(Exception):
                os.write(2, f"medgrade sandbox: {error}\n".encode())
        os._exit(120)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 123)


def _isolate(message: dict[str, Any]) -> None:
    """Pid 1 of the run's namespaces: build its view of the file system, then give up every
    privilege the namespaces lent it."""
    parent = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(121)
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for source, target, mode in message["binds"]:
        _bind(os.path.join(POOL, source), target, read_only=mode == "ro")
    for scratch in ("/tmp", "/dev/shm"):
        _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={SCRATCH_SIZE},mode=1777")
    for view, original in _KEPT:
        os.makedirs(original, exist_ok=True)
        _bind(view, original, read_only=True)
        # The second view shows the environment unmasked: it goes like /pool.
        _mount(
            "tmpfs", view, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0"
        )
    # Last, over every other mount: a label file inside an environment under /tmp would
    # otherwise come back with the environment's binds above.
    for path in message["masked"]:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
        elif os.path.exists(path):
            _bind("/dev/null", path, read_only=True)
    # The kernel mounts a proc in a user namespace only where a fully visible one is
    # mounted already, and read-only if that one is; bwrap's /proc has covers, so the
    # server's sandbox carries the machine's /proc, read-only, at HOST_PROC for this mount.
    _mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for hidden in (POOL, HOST_PROC):
        _mount(
            "tmpfs", hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0"
        )
    host = b"medgrade-sandbox"
    _check(_libc.sethostname(host, len(host)), "sethostname")
    os.chdir("/tmp")
    _drop_privileges()


def _bind(source: str, target: str, *, read_only: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)
    kept = os.statvfs(target).f_flag
    for bit, flag in _KEPT_FLAGS.items():
        if kept & bit:
            flags |= flag
    _mount(None, target, None, flags)


def _drop_privileges() -> None:
    last = int(open("/proc/sys/kernel/cap_last_cap").read())  # noqa: SIM115
    for capability in range(last + 1):
        _check(_prctl(PR_CAPBSET_DROP, capability), f"dropping capability {capability}")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")


def _reseed() -> None:
    """Children of one server would otherwise share numpy's global random state."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _prctl(option: int, argument: int = 0) -> int:
    return _libc.prctl(option, ctypes.c_ulong(argument), 0, 0, 0)


def _mount(
    source: str | None, target: str, kind: str | None, flags: int, data: str | None = None
) -> None:
    result = _libc.mount(
        None if source is None else source.encode(),
        target.encode(),
        None if kind is None else kind.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    )
    _check(result, f"mount {kind or source or ''} on {target}")


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(error)}")
    return result


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _receive(control: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    fds = array.array("i")
    data, ancillary, _, _ = control.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(8 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if not data:
        return None, list(fds)
    return json.loads(data), list(fds)


def _close_quietly(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


if __name__ == "__main__":
    if platform.system() != "Linux":
        raise SystemExit("the fork server needs Linux namespaces")
    main()
