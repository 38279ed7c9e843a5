"""medgrade's in-sandbox fork server: warm, single-use sandboxes for a batch.

Runs as the command of one long-lived bubblewrap sandbox (:mod:`sandbox._warm` starts it).
It imports the heavy libraries once (numpy, torch, scikit-learn...), then forks one child
per submission.  Student code never runs in the server itself, and a child serves exactly
one submission, so nothing of one student's run can reach another's; what the children
share is the server's memory as it was before any of them ran, copy-on-write, and a root
file system that is read-only for the server too (nothing writes bytecode: ``-B``).

The server holds ``CAP_SYS_ADMIN`` and ``CAP_SETPCAP``, in its sandbox's own user namespace
only, to build each child's namespaces and mounts; it also sees the machine's ``/proc``,
read-only, at ``HOST_PROC`` (the kernel mounts a new proc in a user namespace only where a
fully visible one exists).  Each child isolates itself before the supervisor starts:

- new mount, pid, network, IPC and UTS namespaces inside the server's sandbox;
- its own submission and inputs bound read-only at ``/submission`` and ``/inputs``; the
  batch's scratch tree they come from, seen by the server at ``/pool``, hidden under an
  empty read-only tmpfs;
- everything it inherits read-only (the root, ``/dev``, the Python installation, medgrade's
  code), and fresh, size-limited ``/tmp``, ``/dev/shm`` and ``/output``: the only places
  it can write, gone when it ends; a ``/dev/pts`` of its own; a read-only ``/proc`` of its own pid namespace (its
  supervisor is pid 1 there, so the kernel kills every process it leaves when it ends),
  and no user namespaces (the server's sandbox allows none);
- files holding the task's labels masked, GPUs it was not given masked;
- a fresh anonymous session keyring, every capability dropped (bounding set included),
  ``no_new_privs`` set, and the seccomp filter the host gave the server installed.

The protocol on the control socket (``SOCK_SEQPACKET``, one JSON document per message):
the host sends ``run`` (with the run's stdout and stderr pipes and its report channel as
attached file descriptors), then ``go`` once it has placed the child in the run's cgroup,
and ``kill`` past the run's deadline; the server answers ``ready`` once, then ``forked``
(the child's pid in the server's pid namespace) and ``exited`` (its wait status and peak
RSS) for each run.  Closing the socket stops the server and kills every child.

Like the harness, this uses only the standard library (ctypes for the system calls that
``os`` lacks in Python 3.11) and imports nothing from medgrade but its in-sandbox siblings,
by path.

Usage: python -I -B forkserver.py --control-fd N --preload JSON --kept JSON --seccomp HEX
"""

from __future__ import annotations

import argparse
import array
import contextlib
import ctypes
import importlib
import importlib.util
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
#: Second views of folders under /tmp that the Python environment needs (see _KEPT).
KEPT_VIEWS = "/run/medgrade-kept"
MAX_MESSAGE = 1 << 20
SCRATCH_SIZE = "256m"
OUTPUT_SIZE = "256m"
#: The descriptors a run's child is given: its stdout, stderr, the go pipe, its channel.
GO_FD, CHANNEL_FD = 3, 4

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
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_MODE_FILTER = 2
KEYCTL_JOIN_SESSION_KEYRING = 1
_KEYCTL = {"x86_64": 250, "aarch64": 219}
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
#: The seccomp filter (``struct sock_filter[]``) every child installs.
_SECCOMP: list[bytes] = []


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


class IsolationError(RuntimeError):
    """A child could not isolate itself; it exits without running the submission."""


def main() -> None:
    parser = argparse.ArgumentParser(description="medgrade in-sandbox fork server")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--preload", default="[]")
    parser.add_argument("--kept", default="[]")
    parser.add_argument("--seccomp", required=True)
    arguments = parser.parse_args()
    _KEPT[:] = [tuple(pair) for pair in json.loads(arguments.kept)]
    _SECCOMP[:] = [bytes.fromhex(arguments.seccomp)]
    _load_supervisor()  # once here, so that every child starts with it (and the harness)
    preloaded, missing = _preload(json.loads(arguments.preload))
    with socket.socket(fileno=arguments.control_fd) as control:
        _send(control, {"op": "ready", "preloaded": preloaded, "missing": missing})
        _serve(control)


def _load_supervisor() -> Any:
    """The supervisor's module, imported by path from this file's (read-only) folder; it
    imports the harness and the wire the same way."""
    if "medgrade_supervisor" not in sys.modules:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py")
        spec = importlib.util.spec_from_file_location("medgrade_supervisor", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["medgrade_supervisor"] = module
        spec.loader.exec_module(module)
    return sys.modules["medgrade_supervisor"]


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
        raise OSError(f"a run needs stdout, stderr and channel descriptors, got {len(fds)}")
    go_read, go_write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            os.close(go_write)
            null = os.open(os.devnull, os.O_RDONLY)
            stdout, stderr, channel = fds
            for target, fd in ((0, null), (1, stdout), (2, stderr), (GO_FD, go_read)):
                os.dup2(fd, target)
            os.dup2(channel, CHANNEL_FD)
            os.closerange(CHANNEL_FD + 1, os.sysconf("SC_OPEN_MAX"))
            _run_child(message)
        except BaseException as error:  # report and leave, whatever it was
            with contextlib.suppress(Exception):
                os.write(2, f"medgrade sandbox: {error}\n".encode())
        os._exit(120)
    os.close(go_read)
    _send(control, {"op": "forked", "id": message["id"], "pid": pid})
    return _Child(message["id"], pid, go_write)


def _run_child(message: dict[str, Any]) -> None:
    """Wait for the host's go, isolate, then run the supervisor in a grandchild that is
    pid 1 of a new pid namespace; exit with its status."""
    server = os.getppid()
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != server:
        os._exit(121)
    if os.read(GO_FD, 1) != b"g":
        os._exit(122)  # the host gave up on this run before it started
    os.close(GO_FD)
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
            _load_supervisor().main(message["argv"])
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
    for source, target in message["binds"]:
        _bind(os.path.join(POOL, source), target, read_only=True)
    _own_devices()
    for scratch, size in (
        ("/tmp", SCRATCH_SIZE),
        ("/dev/shm", SCRATCH_SIZE),
        ("/output", OUTPUT_SIZE),
    ):
        _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
    for view, original in _KEPT:
        os.makedirs(original, exist_ok=True)
        _bind(view, original, read_only=True)
    # Last, over every other mount: a label file inside an environment under /tmp would
    # otherwise come back with the environment's binds above.
    _mask(message["masked"])
    # The kernel mounts a proc in a user namespace only where a fully visible one is
    # mounted already, and read-only if that one is; bwrap's /proc has covers, so the
    # server's sandbox carries the machine's /proc, read-only, at HOST_PROC for this mount.
    _mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    # The second views show the environment unmasked: they go like /pool.
    _hide(POOL, HOST_PROC, KEPT_VIEWS)
    host = b"medgrade-sandbox"
    _check(_libc.sethostname(host, len(host)), "sethostname")
    os.chdir("/tmp")
    _join_new_session_keyring()
    _drop_privileges()


def _own_devices() -> None:
    # The server's /dev is a tmpfs every child would share: read-only here, with a /dev/shm
    # of the run's own.  The root and every other inherited mount are read-only already.
    _remount("/dev", MS_RDONLY)
    # The server's devpts is one instance for every child: a run could open another's
    # terminal.  Each child gets a devpts of its own.
    _mount(
        "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"
    )
    if not os.path.islink("/dev/ptmx"):  # bubblewrap's /dev links it to pts/ptmx already
        _mount("/dev/pts/ptmx", "/dev/ptmx", None, MS_BIND)


def _mask(paths: list[str]) -> None:
    """Cover each path: a folder with an empty read-only tmpfs, a file with /dev/null."""
    for path in paths:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
        elif os.path.exists(path):
            _bind("/dev/null", path, read_only=True)


def _hide(*folders: str) -> None:
    """Cover each folder with an empty tmpfs nobody may enter."""
    for folder in folders:
        if os.path.isdir(folder):
            _mount(
                "tmpfs",
                folder,
                "tmpfs",
                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "size=4k,mode=0",
            )


def _bind(source: str, target: str, *, read_only: bool) -> None:
    _mount(source, target, None, MS_BIND | MS_REC)
    _remount(target, MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0))


def _remount(target: str, flags: int) -> None:
    """Remount the mount at ``target`` with ``flags`` and the ones it must keep."""
    kept = os.statvfs(target).f_flag
    for bit, flag in _KEPT_FLAGS.items():
        if kept & bit:
            flags |= flag
    _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)


def _join_new_session_keyring() -> None:
    """An anonymous session keyring of the run's own (the filter then denies keyrings)."""
    number = _KEYCTL.get(platform.machine())
    if number is None:
        raise IsolationError(f"no keyctl system call number for {platform.machine()}")
    _check(_libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None), "joining a new keyring")


def _drop_privileges() -> None:
    last = int(open("/proc/sys/kernel/cap_last_cap").read())  # noqa: SIM115
    for capability in range(last + 1):
        _check(_prctl(PR_CAPBSET_DROP, capability), f"dropping capability {capability}")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    program = ctypes.create_string_buffer(_SECCOMP[0], len(_SECCOMP[0]))
    filter_program = _SockFprog(len(_SECCOMP[0]) // 8, ctypes.cast(program, ctypes.c_void_p))
    _check(
        _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(filter_program), 0, 0),
        "installing the seccomp filter",
    )


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
