"""Starting a bubblewrap sandbox as nobody the host trusts: medgrade's launcher.

The grader runs this, as the grader's own user, in front of ``bwrap``.  In this order it:

1. joins the run's cgroups (so that nothing the run starts escapes its limits);
2. joins a fresh anonymous session keyring (the marker's own keys stay out of reach);
3. when root: makes a private mount namespace and mounts, under ``stage``, each folder
   the sandbox binds, so that bubblewrap can reach them once unprivileged (the folders
   may lie under root-only folders, such as ``/root``); nothing changes for the host;
4. when given an identity: drops every group, gid and uid to it;
5. executes the command (bubblewrap) in place of itself.

It uses only the standard library, so ``python -I -S -B launch.py`` starts in a few
milliseconds.

Usage: python -I -S -B launch.py SPEC_JSON -- COMMAND...
SPEC_JSON: {"cgroup_procs": [path...], "stage": path|null, "binds": [[source, name]...],
            "uid": int|null, "gid": int|null}
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import sys

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
KEYCTL_JOIN_SESSION_KEYRING = 1
_KEYCTL = {"x86_64": 250, "aarch64": 219}

_libc = ctypes.CDLL(None, use_errno=True)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: launch.py SPEC_JSON -- COMMAND...")
    spec = json.loads(argv[0])
    command = argv[2:]
    for procs in spec.get("cgroup_procs", []):
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    _new_session_keyring()
    if spec.get("stage"):
        _stage(spec["stage"], spec.get("binds", []))
    if spec.get("uid") is not None:
        uid, gid = int(spec["uid"]), int(spec["gid"])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
            raise SystemExit("medgrade launcher: could not drop to the sandbox identity")
    os.execv(command[0], command)


def _new_session_keyring() -> None:
    number = _KEYCTL.get(platform.machine())
    if number is None or _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) < 0:
        raise SystemExit("medgrade launcher: could not join a new session keyring")


def _stage(stage: str, binds: list[list[str]]) -> None:
    """Mount each ``[source, name]`` at ``stage/name`` in a mount namespace of our own."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for source, name in binds:
        target = os.path.join(stage, name)
        if os.path.isdir(source):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(source, target, None, MS_BIND | MS_REC)


def _mount(source: str | None, target: str, kind: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            None if source is None else source.encode(),
            target.encode(),
            None if kind is None else kind.encode(),
            ctypes.c_ulong(flags),
            data.encode() or None,
        ),
        f"mount {source or kind} on {target}",
    )


def _check(result: int, what: str) -> None:
    if result < 0:
        raise SystemExit(f"medgrade launcher: {what}: {os.strerror(ctypes.get_errno())}")


if __name__ == "__main__":
    main(sys.argv[1:])
