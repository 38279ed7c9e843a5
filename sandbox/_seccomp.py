"""The seccomp filter of bubblewrap sandboxes: system calls no submission needs.

Denied (``EPERM``) in every bubblewrap sandbox, cold and warm: the kernel keyrings (not
namespaced: a key planted by one run, or the marker's own, would be readable by another),
``perf_event_open`` and ``bpf`` (kernel attack surface, and host-wide observation),
``ptrace`` and ``process_vm_readv``/``writev`` (no run may look into another process,
the supervisor included), ``userfaultfd`` and io_uring (the usual ingredients of kernel
exploits), and what only an administrator does (modules, kexec, reboot, swap, accounting,
quotas, the kernel log, raw I/O ports, file handles).  System calls of another ABI (32-bit
``int 0x80`` on x86-64, or x32) are refused as a whole (``ENOSYS``), so the numbers below
cannot be reached under another name.  Docker runs keep Docker's own default profile, an
allow-list that denies the keyrings, ``bpf``, ``perf_event_open`` and the administrator's
calls too, but allows ``ptrace`` and ``process_vm_*`` (a run may trace its own processes;
its supervisor is non-dumpable) and, before Engine 25, io_uring.

The filter is written as classic BPF here rather than through libseccomp: libseccomp's
own Python bindings are not on PyPI, its ctypes wrapper there (pyseccomp) has had no
release since 2021, and a deny-list with an architecture check is a few dozen
instructions, checked system call by system call by the adversarial tests.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

from sandbox._backend import SandboxUnavailableError

#: Denied system calls by name, as the kernel's syscall tables number them.
DENIED = (
    "keyctl", "add_key", "request_key", "perf_event_open", "bpf", "ptrace",
    "process_vm_readv", "process_vm_writev", "userfaultfd", "io_uring_setup",
    "io_uring_enter", "io_uring_register", "kexec_load", "kexec_file_load", "init_module",
    "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl",
    "lookup_dcookie", "open_by_handle_at", "name_to_handle_at", "syslog", "fanotify_init",
    "iopl", "ioperm",
)  # fmt: skip

#: ``uname -m`` -> (AUDIT_ARCH_*, the first number of a foreign ABI or None, numbers).
_TABLES: dict[str, tuple[int, int | None, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        0x40000000,  # x32 system calls are the x86-64 numbers with this bit set
        {
            "keyctl": 250, "add_key": 248, "request_key": 249, "perf_event_open": 298,
            "bpf": 321, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
            "userfaultfd": 323, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "kexec_load": 246, "kexec_file_load": 320,
            "init_module": 175, "finit_module": 313, "delete_module": 176, "reboot": 169,
            "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179,
            "lookup_dcookie": 212, "open_by_handle_at": 304, "name_to_handle_at": 303,
            "syslog": 103, "fanotify_init": 300, "iopl": 172, "ioperm": 173,
        },
    ),
    "aarch64": (
        0xC00000B7,
        None,
        {
            "keyctl": 219, "add_key": 217, "request_key": 218, "perf_event_open": 241,
            "bpf": 280, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
            "userfaultfd": 282, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427, "kexec_load": 104, "kexec_file_load": 294,
            "init_module": 105, "finit_module": 273, "delete_module": 106, "reboot": 142,
            "swapon": 224, "swapoff": 225, "acct": 89, "quotactl": 60, "lookup_dcookie": 18,
            "open_by_handle_at": 265, "name_to_handle_at": 264, "syslog": 116,
            "fanotify_init": 262,
        },
    ),
}  # fmt: skip

_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_AT_LEAST = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
#: Offsets in ``struct seccomp_data``.
_NUMBER, _ARCH = 0, 4


def filter_program(machine: str | None = None) -> bytes:
    """The filter as the kernel takes it (``struct sock_filter[]``), for ``machine``
    (default: this one's)."""
    machine = machine or platform.machine()
    try:
        arch, foreign, numbers = _TABLES[machine]
    except KeyError:
        raise SandboxUnavailableError(
            f"medgrade has no seccomp filter for {machine} machines; supported: "
            + ", ".join(sorted(_TABLES))
        ) from None
    denied = sorted({numbers[name] for name in DENIED if name in numbers})
    # Layout: check the ABI, load the number, one comparison per denied call, then the
    # three verdicts.  Jump offsets count instructions after the jump.
    head = 3 + (foreign is not None)
    allow_at = head + len(denied)
    deny_at, refuse_at = allow_at + 1, allow_at + 2
    program = [
        (_LOAD_WORD, 0, 0, _ARCH),
        (_JUMP_EQUAL, 0, refuse_at - 2, arch),
        (_LOAD_WORD, 0, 0, _NUMBER),
    ]
    if foreign is not None:
        program.append((_JUMP_AT_LEAST, refuse_at - 4, 0, foreign))
    for index, number in enumerate(denied):
        program.append((_JUMP_EQUAL, deny_at - (head + index) - 1, 0, number))
    program += [
        (_RETURN, 0, 0, _ALLOW),
        (_RETURN, 0, 0, _ERRNO | errno.EPERM),
        (_RETURN, 0, 0, _ERRNO | errno.ENOSYS),
    ]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in program)


def filter_pipe() -> int:
    """A pipe's read end holding the filter, for bubblewrap's ``--seccomp FD``."""
    program = filter_program()
    read, write = os.pipe()
    try:
        os.write(write, program)  # a few hundred bytes: far below a pipe's buffer
    finally:
        os.close(write)
    return read
