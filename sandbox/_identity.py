"""Who student code runs as on the host: never root.

A grader running as root (as it must for per-run cgroups) starts every bubblewrap sandbox
through :mod:`sandbox.launch`, which drops to the **sandbox identity** before bubblewrap
runs, so the uid 65534 a submission sees inside maps to this unprivileged host uid, never
to 0: the kernel checks sysctls, keyrings and per-user limits against that uid.  Docker
containers run as the same identity.  A grader that is not root runs bubblewrap as itself.

The identity is ``MEDGRADE_SANDBOX_UID``/``MEDGRADE_SANDBOX_GID`` (default 1900000000, in
the range systemd leaves unused and above every default subordinate-uid range): a number
no account on the machine may use, since any process of that uid could signal or trace the
sandboxes.  ``medgrade doctor`` checks the passwd, group and subuid files for it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SANDBOX_ID = 1_900_000_000


@dataclass(frozen=True)
class SandboxIdentity:
    uid: int
    gid: int

    @property
    def docker_user(self) -> str:
        return f"{self.uid}:{self.gid}"


def sandbox_identity() -> SandboxIdentity:
    """The configured sandbox identity (see the module docstring)."""
    uid = _id_from_environment("MEDGRADE_SANDBOX_UID", DEFAULT_SANDBOX_ID)
    gid = _id_from_environment("MEDGRADE_SANDBOX_GID", uid)
    return SandboxIdentity(uid, gid)


def _id_from_environment(variable: str, default: int) -> int:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    if not text.isdigit() or not 0 < int(text) < 2**32 - 1:
        raise ValueError(
            f"{variable} must be a positive uid or gid number other than 0; got {text!r}"
        )
    return int(text)


def identity_conflicts(identity: SandboxIdentity, etc: Path = Path("/etc")) -> list[str]:
    """Where this machine already uses the identity's numbers (an empty list when nowhere):
    accounts and groups as the name service knows them (LDAP, sssd...), and subordinate
    id ranges."""
    conflicts = []
    with contextlib.suppress(KeyError):
        account = pwd.getpwuid(identity.uid).pw_name
        conflicts.append(f"the account {account} has uid {identity.uid}")
    with contextlib.suppress(KeyError):
        group = grp.getgrgid(identity.gid).gr_name
        conflicts.append(f"the group {group} has gid {identity.gid}")
    for name, number in (("subuid", identity.uid), ("subgid", identity.gid)):
        try:
            lines = (etc / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            fields = line.split(":")
            with contextlib.suppress(ValueError, IndexError):
                first, count = int(fields[1]), int(fields[2])
                if first <= number < first + count:
                    last = first + count - 1
                    conflicts.append(f"/etc/{name}: {fields[0]} owns {first}-{last}")
    return conflicts


def checked_identity() -> SandboxIdentity:
    """The sandbox identity, refused (as the backend being unavailable) when the machine
    already uses its numbers: any process of that uid could signal or trace the sandboxes."""
    from sandbox._backend import SandboxUnavailableError

    try:
        identity = sandbox_identity()
    except ValueError as error:
        raise SandboxUnavailableError(str(error)) from None
    conflicts = identity_conflicts(identity)
    if conflicts:
        raise SandboxUnavailableError(
            f"the sandbox identity (uid {identity.uid}) is in use on this machine ("
            + "; ".join(conflicts)
            + "): set MEDGRADE_SANDBOX_UID and MEDGRADE_SANDBOX_GID to numbers no account uses"
        )
    return identity


def grant_traversal(root: Path, folder: Path, identity: SandboxIdentity) -> None:
    """Let the sandbox identity reach ``folder`` below ``root`` (both folders the grader
    made): each folder on the way that others may not enter gets the identity's group with
    search permission only, so no one else gains any access.  Only root needs this."""
    root = root.resolve()
    current = folder.resolve()
    chain = []
    while current != root and current.is_relative_to(root):
        chain.append(current.parent)
        current = current.parent
    for directory in chain:
        status = directory.stat()
        if status.st_mode & 0o001:
            continue  # anyone may search it already (/tmp, say)
        if status.st_gid != identity.gid:
            os.chown(directory, -1, identity.gid)
        if not status.st_mode & 0o010:
            os.chmod(directory, (status.st_mode & 0o7777) | 0o010)
