"""The attack review's breaches, each on every isolating backend, warm and cold.

Each test is an attack that went past the adversarial battery: it must be contained, with
the host untouched and nothing left for the next student's run.  The tests that need the
grader to be root (the host identity of a sandbox, cgroup CPU quotas) skip otherwise.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader.evaluation import Evaluation, evaluate
from sandbox import SandboxBackend, SandboxJob, SandboxResult
from tests.conftest import evaluate_with_limits
from tests.sandbox.test_adversarial import assert_clean, leftover_processes, submission

grade = evaluate_with_limits
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs the grader to run as root")

#: Keyring system calls on this machine (x86-64 numbers; other machines skip those tests).
_ADD_KEY, _KEYCTL = 248, 250
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
KEYCTL_SEARCH = 10
x86_64_only = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86-64 syscall numbers")


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def test_no_process_of_a_run_is_root_on_the_host(
    isolating_backend, make_submission, validation_split
):
    """The run's processes, seen from the host: a non-zero uid, mapped from a non-zero
    host uid (a nested user namespace may show 0 from inside, so the host looks)."""
    if os.geteuid() != 0:
        pytest.skip("the question only arises when the grader is root")
    marker = f"whoami{uuid.uuid4().hex[:8]}"
    seen: list[dict[str, str]] = []

    def watch() -> None:
        deadline = time.time() + 30
        while not seen and time.time() < deadline:
            for line in leftover_processes(marker):
                pid = line.split()[0]
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    uid_map = Path(f"/proc/{pid}/uid_map").read_text()
                except OSError:
                    continue
                fields = dict(row.split(":", 1) for row in status.splitlines() if ":" in row)
                seen.append({"Uid": fields["Uid"], "Gid": fields["Gid"], "uid_map": uid_map})
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    body = f'import os\nos.spawnv(os.P_WAIT, "/usr/bin/sleep", ["{marker}", "3"])'
    evaluation = grade(submission(make_submission, body), validation_split, isolating_backend)
    watcher.join()
    assert evaluation.status == "graded", evaluation.failure
    assert seen, "the run's process was never seen from the host"
    for observation in seen:
        assert all(int(uid) != 0 for uid in observation["Uid"].split()), observation
        assert all(int(gid) != 0 for gid in observation["Gid"].split()), observation
        # Read from the host, uid_map gives host uids in its second column.
        host_ids = [int(row.split()[1]) for row in observation["uid_map"].splitlines()]
        assert 0 not in host_ids or observation["uid_map"].split()[:3] == ["0", "0", "4294967295"]
    assert_clean(isolating_backend, marker)


def test_no_sysctl_can_be_written(isolating_backend, make_submission, validation_split):
    names = ["vm/swappiness", "kernel/core_pattern", "fs/inotify/max_user_instances"]
    before = {name: Path("/proc/sys", name).read_text() for name in names}
    body = f"""
written = []
for name in {names!r}:
    path = "/proc/sys/" + name
    try:
        value = open(path).read()
        with open(path, "w") as handle:
            handle.write(value)  # its own value: harmless, but it must not be possible
        written.append(name)
    except OSError:
        pass
mounts = [line.split() for line in open("/proc/self/mountinfo")]
proc_sys = [m for m in mounts if m[4] in ("/proc", "/proc/sys")]
if not any("ro" in m[5].split(",") for m in proc_sys if m[4] == "/proc/sys") and not any(
    "ro" in m[5].split(",") for m in proc_sys if m[4] == "/proc"
):
    written.append("/proc/sys is mounted writable")
if written:
    raise RuntimeError(f"wrote sysctls {{written}}")
"""
    evaluation = grade(submission(make_submission, body), validation_split, isolating_backend)
    assert evaluation.status == "graded", evaluation.failure
    assert {name: Path("/proc/sys", name).read_text() for name in names} == before
    assert_clean(isolating_backend)


@x86_64_only
def test_the_kernel_keyrings_are_out_of_reach(isolating_backend, make_submission, validation_split):
    """A key of the marker's session keyring cannot be found, and no run can plant a key
    (in its own keyrings or its uid's) for a later run to read."""
    libc = _libc()
    secret = f"medgrade-secret-{uuid.uuid4().hex[:8]}"
    payload = b"the marker's token"
    key = libc.syscall(_ADD_KEY, b"user", secret.encode(), payload, len(payload), -3)
    if key < 0:
        pytest.skip(f"this machine has no keyrings ({os.strerror(ctypes.get_errno())})")
    planted = f"medgrade-planted-{uuid.uuid4().hex[:8]}"
    attack = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
reached = []
for keyring in (-3, -4, -5):  # session, user, user-session
    if libc.syscall({_KEYCTL}, {KEYCTL_SEARCH}, keyring, b"user", b"{secret}", 0) >= 0:
        reached.append(f"found the marker's key via {{keyring}}")
    if libc.syscall({_ADD_KEY}, b"user", b"{planted}", b"x", 1, keyring) >= 0:
        reached.append(f"planted a key in {{keyring}}")
if reached:
    raise RuntimeError("; ".join(reached))
"""
    reader = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for keyring in (-3, -4, -5):
    if libc.syscall({_KEYCTL}, {KEYCTL_SEARCH}, keyring, b"user", b"{planted}", 0) >= 0:
        raise RuntimeError("found the key an earlier run planted")
"""
    try:
        for body, name in ((attack, "planter"), (reader, "reader")):
            evaluation = grade(
                submission(make_submission, body, name=name), validation_split, isolating_backend
            )
            assert evaluation.status == "graded", evaluation.failure
        # Nor did a key land in any keyring the grader itself can search.
        for keyring in (KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING):
            found = libc.syscall(_KEYCTL, KEYCTL_SEARCH, keyring, b"user", planted.encode(), 0)
            assert found < 0
    finally:
        libc.syscall(_KEYCTL, 21, key)  # KEYCTL_INVALIDATE
    assert_clean(isolating_backend)


@x86_64_only
def test_the_seccomp_filter_holds_under_every_abi(
    isolating_backend, make_submission, validation_split
):
    """bpf and perf_event_open are denied everywhere; in bubblewrap (medgrade's own filter)
    ptrace and userfaultfd too, also as x32 or 32-bit system calls.  (Docker's default
    profile allows ptrace: a run may trace its own processes, never its supervisor.)"""
    denied = [("bpf", 321), ("perf_event_open", 298), ("x32 keyctl", 0x40000000 | 250)]
    if isolating_backend.name == "bwrap":
        denied += [("ptrace", 101), ("userfaultfd", 323), ("x32 getpid", 0x40000000 | 39)]
    body = f"""
import ctypes, mmap
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
allowed = []
for name, number in {denied!r}:
    # Denied means refused before the call is looked at: EPERM (or ENOSYS for an ABI).
    if libc.syscall(number, 0, 0, 0, 0, 0) >= 0 or ctypes.get_errno() not in (1, 38):
        allowed.append((name, ctypes.get_errno()))
# keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0) through the 32-bit ABI:
# eax 288, ebx 0, ecx -3, edx 0, int 0x80, ret.  Without a filter it returns a key id.
code = bytes([0xb8, 0x20, 0x01, 0, 0, 0x31, 0xdb, 0xb9, 0xfd, 0xff, 0xff, 0xff, 0x31, 0xd2,
              0xcd, 0x80, 0xc3])
page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
page.write(code)
call = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
result = call()
if result >= 0:
    allowed.append(("int 0x80 keyctl", result))
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
if status.get("Seccomp", "").strip() != "2":
    allowed.append(("no seccomp filter", status.get("Seccomp")))
if allowed:
    raise RuntimeError(f"allowed: {{allowed}}")
"""
    evaluation = grade(submission(make_submission, body), validation_split, isolating_backend)
    if evaluation.failure is not None and "mmap" in evaluation.failure.message:
        pytest.skip("this sandbox maps no executable memory")
    assert evaluation.status == "graded", evaluation.failure
    assert_clean(isolating_backend)


_CANDIDATES = """
import glob, os, sys
candidates = ["/", "/etc", "/etc/ipython/profile_default/startup", "/etc/jupyter",
              "/opt/medgrade", "/usr/local/etc/jupyter", "/var", "/var/tmp", "/run", "/dev",
              "/dev/mqueue", "/home", "/root", "/tmp", "/dev/shm", "/output", os.getcwd(),
              sys.prefix, sys.base_prefix, *sys.path, *glob.glob("/usr/lib/python3*")]
"""


def _planting_body(marker: str) -> str:
    """A load_model that plants a file wherever it can, and reports where it could."""
    return (
        _CANDIDATES
        + f"""
planted = []
for folder in dict.fromkeys(c for c in candidates if c):
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "{marker}.py"), "w") as handle:
            handle.write("raise SystemExit('planted by an earlier student')")
        planted.append(folder)
    except OSError:
        pass
with open("/tmp/{marker}.bin", "wb") as handle:
    handle.write(b"m" * 2**20)
print("PLANTED", sorted(planted))
"""
    )


def test_a_run_can_write_only_its_own_fresh_scratch(
    isolating_backend, make_submission, validation_split
):
    """Writer then reader: the writer reaches only /tmp, /dev/shm and /output, and the
    reader (forked from the same warm server, or a new container) finds none of it."""
    marker = f"planted{uuid.uuid4().hex[:8]}"
    writer = grade(
        submission(make_submission, _planting_body(marker), name="writer"),
        validation_split,
        isolating_backend,
    )
    assert writer.status == "graded", writer.failure
    line = next(row for row in writer.run.stdout_tail.splitlines() if row.startswith("PLANTED"))
    planted = eval(line.removeprefix("PLANTED "))  # a list literal the test's own code printed
    assert set(planted) <= {"/tmp", "/dev/shm", "/output"}, planted
    body = (
        _CANDIDATES
        + f"""
import importlib.util
found = [c for c in candidates if c and os.path.exists(os.path.join(c, "{marker}.py"))]
found += glob.glob("/tmp/{marker}*") + glob.glob("/dev/shm/{marker}*")
if importlib.util.find_spec("{marker}") is not None:
    found.append("importable")
if found:
    raise RuntimeError(f"found the earlier run's files: {{found}}")
"""
    )
    reader = grade(
        submission(make_submission, body, name="reader"), validation_split, isolating_backend
    )
    assert reader.status == "graded", reader.failure
    assert_clean(isolating_backend)


def test_the_output_folder_cannot_fill_the_hosts_disk(
    isolating_backend, make_submission, validation_split, tmp_path
):
    """Files of 1 MiB each (under any per-file limit), up to 1 GiB in all: the run's
    scratch holds 256 MiB, and the host's disk never sees them."""
    body = """
written = 0
try:
    while written < 1024:
        with open(f"/output/part-{written}.bin", "wb") as handle:
            handle.write(b"x" * 2**20)
        written += 1
except OSError as error:
    raise RuntimeError(f"stopped after {written} MiB: {error}")
raise RuntimeError(f"stopped after {written} MiB: nothing stopped it")
"""
    disk = os.statvfs(tmp_path)
    before = disk.f_bavail * disk.f_frsize
    lowest = [before]
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            now = os.statvfs(tmp_path)
            lowest[0] = min(lowest[0], now.f_bavail * now.f_frsize)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        evaluation = grade(
            submission(make_submission, body), validation_split, isolating_backend, wall_time_s=60
        )
    finally:
        done.set()
        watcher.join()
    assert evaluation.failure is not None and evaluation.failure.kind == "crashed"
    assert "stopped after" in evaluation.failure.message
    written = int(evaluation.failure.message.split("stopped after ")[1].split(" MiB")[0])
    assert written <= 256
    assert before - lowest[0] < 64 * 2**20  # not even for a moment
    assert_clean(isolating_backend)


def test_a_deep_folder_chain_in_the_output_is_harmless(
    isolating_backend, make_submission, validation_split
):
    body = """
import os
os.chdir("/output")
for _ in range(2000):
    os.mkdir("d")
    os.chdir("d")
os.chdir("/tmp")
"""
    evaluation = grade(submission(make_submission, body), validation_split, isolating_backend)
    assert evaluation.status == "graded", evaluation.failure
    assert_clean(isolating_backend)


def test_a_link_at_the_predictions_temporary_name_is_never_followed(
    isolating_backend, make_submission, validation_split
):
    body = """
import os
os.symlink("/output/predictions.npy", "/output/predictions.tmp")
os.symlink("/etc/passwd", "/output/notebook.tmp")
os.mkfifo("/output/run.tmp")
"""
    evaluation = grade(submission(make_submission, body), validation_split, isolating_backend)
    assert evaluation.status == "graded", evaluation.failure
    assert_clean(isolating_backend)


_FORGER = """
import gc, json, os, re, sys
hexes = set()
for thing in gc.get_objects():
    if isinstance(thing, dict):
        values = list(thing.values())
    elif isinstance(thing, (list, tuple)):
        values = list(thing)
    else:
        values = [thing]
    hexes.update(v for v in values if isinstance(v, str) and re.fullmatch("[0-9a-f]{32}", v))
frame = sys._getframe()
while frame is not None:
    hexes.update(v for v in frame.f_locals.values()
                 if isinstance(v, str) and re.fullmatch("[0-9a-f]{32}", v))
    frame = frame.f_back
for source in ("/proc/1/environ", "/proc/1/cmdline", "/proc/1/mem", "/proc/self/environ"):
    try:
        hexes.update(re.findall(rb"[0-9a-f]{32}", open(source, "rb").read(1 << 20)))
    except OSError:
        pass
print("CANDIDATES", sorted(h if isinstance(h, str) else h.decode() for h in hexes), flush=True)
forged = {"status": "failed", "failure": {"kind": "sandbox_error", "message": "FORGED OUTAGE"}}
for nonce in hexes or {"0" * 32}:
    document = dict(forged, format=1, nonce=nonce if isinstance(nonce, str) else nonce.decode())
    json.dump(document, open("/output/run.json", "w"))
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
stolen = []
try:
    stolen.append(f"lists pid 1's descriptors {os.listdir('/proc/1/fd')}")
except OSError:
    pass
pidfd = libc.syscall(434, 1, 0)  # pidfd_open(1): the supervisor
for target in range(64) if pidfd >= 0 else ():
    if libc.syscall(438, pidfd, target, 0) >= 0:  # pidfd_getfd: take its channel
        stolen.append(f"took the supervisor's descriptor {target}")
print("STOLEN", stolen, flush=True)
payload = json.dumps(dict(forged, format=1)).encode()
for fd in range(3, 64):  # the worker's status pipe, and anything else open
    try:
        os.write(fd, payload)
    except OSError:
        pass
os._exit(0)
"""


class _RecordingBackend:
    """Passes jobs to ``backend`` and remembers their nonces."""

    def __init__(self, backend: SandboxBackend) -> None:
        self.backend = backend
        self.name = backend.name
        self.isolating = backend.isolating
        self.nonces: list[str] = []

    def run(self, job: SandboxJob) -> SandboxResult:
        self.nonces.append(job.nonce)
        return self.backend.run(job)

    def close(self) -> None:
        pass


def test_an_infrastructure_failure_cannot_be_forged(
    isolating_backend, make_submission, validation_split
):
    """The nonce is nowhere the submission can look, and a record claiming sandbox_error,
    through the worker's own status pipe or a file, is never taken for one."""
    recording = _RecordingBackend(isolating_backend)
    evaluation = evaluate(
        submission(make_submission, _FORGER),
        student_id="forger",
        prepared=validation_split,
        backend=recording,
    )
    assert evaluation.failure is not None
    assert evaluation.failure.kind != "sandbox_error"
    assert "FORGED" not in evaluation.failure.message
    line = next(
        row for row in evaluation.run.stdout_tail.splitlines() if row.startswith("CANDIDATES")
    )
    assert recording.nonces[0] not in line
    assert "STOLEN []" in evaluation.run.stdout_tail
    assert_clean(isolating_backend)


@root_only
def test_a_cpu_hog_gets_no_more_than_its_cpus(isolating_backend, make_submission, validation_split):
    """30 busy processes take the task's one CPU, not the machine: every run has a CPU
    quota, so the runs beside it keep theirs."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: a quota of one CPU changes nothing")
    body = """
import os, time
children = []
for _ in range(30):
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 6
        while time.monotonic() < end:
            pass
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
"""
    started = time.perf_counter()
    evaluation: Evaluation = grade(
        submission(make_submission, body), validation_split, isolating_backend, cpus=1
    )
    wall = time.perf_counter() - started
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.run.cpu_time_s is not None
    # One CPU over the run's wall time (two or more without the quota), with room for the
    # sandbox's own start.
    assert evaluation.run.cpu_time_s <= 1.1 * wall + 1.0, (evaluation.run.cpu_time_s, wall)
    assert_clean(isolating_backend)


def test_two_runs_at_once_cannot_reach_each_others_terminals_or_files(
    isolating_backend, make_submission, validation_split
):
    """Beside each other (the warm pool's children share a server): run A holds a pseudo
    terminal and a file in its scratch; run B, started while A runs, finds neither."""
    marker = f"beside{uuid.uuid4().hex[:8]}"
    holder = f"""
import os, time
master, slave = os.openpty()
open("/tmp/{marker}", "w").write("A's scratch")
open("/dev/shm/{marker}", "w").write("A's shared memory")
time.sleep(4)
"""
    prober = f"""
import os, time
time.sleep(1.5)
mine = os.openpty()
reached = []
for name in os.listdir("/dev/pts"):
    path = os.path.join("/dev/pts", name)
    if name == "ptmx" or os.path.realpath(path) in {{os.ttyname(mine[1])}}:
        continue
    try:
        os.close(os.open(path, os.O_RDWR | os.O_NOCTTY))
        reached.append(path)
    except OSError:
        pass
reached += [p for p in ("/tmp/{marker}", "/dev/shm/{marker}") if os.path.exists(p)]
if reached:
    raise RuntimeError(f"reached the other run's {{reached}}")
"""
    results: dict[str, Evaluation] = {}

    def run(name: str, body: str) -> None:
        results[name] = grade(
            submission(make_submission, body, name=name), validation_split, isolating_backend
        )

    threads = [
        threading.Thread(target=run, args=(name, body))
        for name, body in (("holder", holder), ("prober", prober))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results["holder"].status == "graded", results["holder"].failure
    assert results["prober"].status == "graded", results["prober"].failure
    assert_clean(isolating_backend)
