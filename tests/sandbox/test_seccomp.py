"""The seccomp program, run instruction by instruction by a classic-BPF interpreter here.

The adversarial tests show the filter inside real sandboxes; this one checks every system
call number of both tables, the foreign ABIs and an unknown architecture, independently of
what the kernel's own defaults (unprivileged bpf off, no x32) would refuse anyway.
"""

from __future__ import annotations

import errno
import struct

import pytest

from sandbox._seccomp import _TABLES, DENIED, filter_program

ALLOW, ERRNO = 0x7FFF0000, 0x00050000


def run(program: bytes, nr: int, arch: int) -> int:
    """The verdict of ``program`` for ``struct seccomp_data {nr, arch, ...}``."""
    instructions = [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]
    data = struct.pack("=iI", nr, arch) + bytes(56)
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = instructions[pc]
        if code == 0x20:  # ld [k]
            accumulator = struct.unpack_from("=I", data, k)[0]
            pc += 1
        elif code in (0x15, 0x35):  # jeq / jge #k
            taken = accumulator == k if code == 0x15 else accumulator >= k
            pc += 1 + (jt if taken else jf)
        elif code == 0x06:  # ret #k
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


@pytest.mark.parametrize("machine", sorted(_TABLES))
def test_every_denied_call_is_refused_and_every_other_allowed(machine):
    arch, foreign, numbers = _TABLES[machine]
    program = filter_program(machine)
    denied = {numbers[name] for name in DENIED if name in numbers}
    assert {"keyctl", "add_key", "request_key", "bpf", "perf_event_open"} <= set(numbers)
    for nr in range(1000):
        verdict = run(program, nr, arch)
        assert verdict == (ERRNO | errno.EPERM if nr in denied else ALLOW), nr
    if foreign is not None:
        for nr in (0, 39, 250, 321):
            assert run(program, foreign | nr, arch) == ERRNO | errno.ENOSYS
    assert run(program, numbers["keyctl"], 0x40000003) == ERRNO | errno.ENOSYS  # i386


def test_an_unknown_machine_has_no_filter_rather_than_a_wrong_one():
    from sandbox import SandboxUnavailableError

    with pytest.raises(SandboxUnavailableError, match="no seccomp filter for riscv64"):
        filter_program("riscv64")
