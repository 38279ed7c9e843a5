"""The adversarial battery, run against every isolating backend available here.

Each hostile submission must end as a graded failure of the documented kind, or be
harmless; leave no process or container behind; and leave the host untouched.  Backends
that cannot run on this machine are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO, evaluate_with_limits

grade = evaluate_with_limits


HARMLESS_PREDICT = """

def predict(model, inputs):
    import numpy as np
    return np.full(len(inputs), 0.5)
"""


def submission(make_submission, load_model_body: str, name: str = "attacker") -> Path:
    body = "\n".join("    " + line for line in load_model_body.strip().splitlines())
    return make_submission(
        f"def load_model(artifacts_dir):\n{body}\n    return None\n{HARMLESS_PREDICT}", name=name
    )


def leftover_processes(marker: str) -> list[str]:
    """Processes (on the host, containers included) whose command line shows ``marker``.

    Hostile submissions below exec ``sleep`` with the marker as argv[0], so that what
    they leave behind is visible here.
    """
    done = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if marker in line and "ps -eo" not in line]


def leftover_containers(backend) -> list[str]:
    if backend.name != "docker":
        return []
    from sandbox._docker import LABEL

    return [c.id for c in backend.client.containers.list(all=True, filters={"label": LABEL})]


def assert_clean(backend, marker: str = "") -> None:
    if marker:
        deadline = time.time() + 5
        while leftover_processes(marker) and time.time() < deadline:
            time.sleep(0.2)
        assert leftover_processes(marker) == []
    assert leftover_containers(backend) == []


def test_a_fork_bomb_is_contained(isolating_backend, make_submission, validation_split):
    marker = f"forkbomb{uuid.uuid4().hex[:8]}"
    source = f"""
import os, time
procs = 0
try:
    for _ in range(5000):
        if os.fork() == 0:
            os.execv("/usr/bin/sleep", ["{marker}", "120"])
            os._exit(0)
        procs += 1
except OSError as error:
    raise RuntimeError(f"fork failed after {{procs}} children: {{error}}")
"""
    evaluation = grade(submission(make_submission, source), validation_split, isolating_backend)
    assert evaluation.failure is not None
    assert evaluation.failure.kind == "crashed"
    assert "fork failed after" in evaluation.failure.message
    assert_clean(isolating_backend, marker)


def test_allocating_far_more_memory_than_allowed_is_out_of_memory(
    isolating_backend, make_submission, validation_split
):
    source = "import numpy as np\nblock = np.ones((4 * 1024, 1024, 1024 // 8))  # 4 GiB, touched"
    evaluation = grade(
        submission(make_submission, source), validation_split, isolating_backend, memory_mb=512
    )
    assert evaluation.failure.kind == "out_of_memory"
    assert_clean(isolating_backend)


def test_an_infinite_loop_times_out(isolating_backend, make_submission, validation_split):
    evaluation = grade(
        submission(make_submission, "while True:\n    pass"),
        validation_split,
        isolating_backend,
        cpu_time_s=3,
    )
    assert evaluation.failure.kind == "timeout"
    assert evaluation.run.wall_time_s < 10
    assert_clean(isolating_backend)


def test_filling_the_disk_stays_inside_a_small_scratch(
    isolating_backend, make_submission, validation_split, tmp_path
):
    source = """
import os
written = 0
try:
    with open("/tmp/fill", "wb") as handle:
        while True:
            handle.write(b"x" * 2**20)
            written += 1
except OSError as error:
    raise RuntimeError(f"disk full after {written} MiB: {error}")
"""
    before = os.statvfs(tmp_path).f_bavail
    evaluation = grade(submission(make_submission, source), validation_split, isolating_backend)
    assert evaluation.failure.kind == "crashed"
    assert "disk full after" in evaluation.failure.message
    written = int(evaluation.failure.message.split("disk full after ")[1].split(" MiB")[0])
    assert written <= 256
    assert abs(os.statvfs(tmp_path).f_bavail - before) * os.statvfs(tmp_path).f_frsize < 64 * 2**20
    assert_clean(isolating_backend)


def test_no_network_connection_is_possible(isolating_backend, make_submission, validation_split):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    graded = threading.Event()

    def accept() -> None:
        # Until the run has ended, and once more: a connection it made is queued by then.
        while True:
            ended = graded.is_set()
            with contextlib.suppress(OSError):
                accepted.append(server.accept())
            if ended:
                return

    listener = threading.Thread(target=accept)
    listener.start()
    source = f"""
import socket
reached = []
for host, port in [("127.0.0.1", {port}), ("8.8.8.8", 53), ("1.1.1.1", 443)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        reached.append((host, port))
    except OSError:
        pass
if reached:
    raise RuntimeError(f"reached {{reached}}")
"""
    try:
        evaluation = grade(submission(make_submission, source), validation_split, isolating_backend)
    finally:
        graded.set()
        listener.join()
        server.close()
    assert evaluation.status == "graded", evaluation.failure
    assert accepted == []
    assert_clean(isolating_backend)


@pytest.fixture
def planted_secret():
    """A file in the grader's home directory that no submission may read."""
    secret = Path.home() / f".medgrade-secret-{uuid.uuid4().hex[:8]}"
    secret.write_text("the marker's private key")
    yield secret
    secret.unlink()


def test_files_outside_the_inputs_cannot_be_read(
    isolating_backend, make_submission, validation_split, planted_secret
):
    labels_file = validation_split.masked_paths[0]
    assert labels_file.is_file()  # scikit-learn's copy of the dataset, labels included
    targets = [
        str(labels_file),
        str(REPO / "grader" / "evaluation.py"),
        str(REPO / "tasks" / "breast-cancer-wdbc" / "split.json"),
        str(planted_secret),
        "/etc/shadow",
        "/home",
        str(validation_split.input_dir.parent),
    ]
    source = f"""
import os
readable = []
for path in {targets!r}:
    try:
        if os.path.isdir(path):
            if os.listdir(path):
                readable.append(path)
        else:
            with open(path, "rb") as handle:
                if handle.read(1):
                    readable.append(path)
    except OSError:
        pass
if readable:
    raise RuntimeError(f"could read {{readable}}")
"""
    evaluation = grade(submission(make_submission, source), validation_split, isolating_backend)
    assert evaluation.status == "graded", evaluation.failure
    assert_clean(isolating_backend)


def test_a_daemon_cannot_outlive_the_run(
    isolating_backend, make_submission, validation_split, tmp_path
):
    marker = f"daemon{uuid.uuid4().hex[:8]}"
    source = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/usr/bin/sleep", ["{marker}", "300"])
    os._exit(0)
"""
    evaluation = grade(submission(make_submission, source), validation_split, isolating_backend)
    assert evaluation.status == "graded", evaluation.failure
    assert evaluation.run.wall_time_s < 15
    assert_clean(isolating_backend, marker)


def test_megabytes_of_output_are_capped(isolating_backend, make_submission, validation_split):
    source = "import sys\nfor _ in range(50):\n    sys.stdout.write('y' * 100_000 + '\\n')\nprint('THE END')"
    evaluation = grade(submission(make_submission, source), validation_split, isolating_backend)
    assert evaluation.status == "graded", evaluation.failure
    # Docker's log driver keeps only the last MiB, so its count of dropped bytes is a floor.
    assert evaluation.run.log_bytes_dropped > (
        500_000 if isolating_backend.name == "docker" else 4_000_000
    )
    assert len(evaluation.run.stdout_tail) <= 32 * 1024
    assert evaluation.run.stdout_tail.rstrip().endswith("THE END")
    assert_clean(isolating_backend)


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("import ctypes\nctypes.string_at(0)", "crashed"),
        ("import sys\nsys.exit(0)", "crashed"),
        ("import os\nos._exit(0)", "no_output"),
    ],
    ids=["segfault", "sys-exit", "os-exit"],
)
def test_crashes_and_early_exits_are_failures(
    isolating_backend, make_submission, validation_split, body, kind
):
    evaluation = grade(submission(make_submission, body), validation_split, isolating_backend)
    assert evaluation.failure.kind == kind
    assert_clean(isolating_backend)


def test_predictions_that_smuggle_extra_data_are_refused(
    isolating_backend, make_submission, validation_split
):
    source = (
        "import numpy as np\n"
        "def load_model(artifacts_dir):\n    return None\n"
        "def predict(model, inputs):\n"
        "    open('/output/extra.bin', 'wb').write(b'z' * 1000)\n"
        "    return np.random.default_rng(0).random((len(inputs), 50))\n"
    )
    evaluation = grade(make_submission(source), validation_split, isolating_backend)
    assert evaluation.failure.kind == "wrong_shape"
    assert_clean(isolating_backend)


@pytest.mark.parametrize(
    "attack",
    [
        # a forged record without the nonce, then an exit before the harness writes its own
        "import json, os\njson.dump({'format': 1, 'nonce': 'x' * 32, 'status': 'completed', 'failure': None},"
        " open('/output/run.json', 'w'))\nos._exit(0)",
        # a FIFO where the record should be: the grader must not block on it
        "import os\nos.mkfifo('/output/run.json')\nos._exit(0)",
        # a symlink to an endless device
        "import os\nos.symlink('/dev/zero', '/output/run.json')\nos._exit(0)",
        # the nonce is not readable from stdin, argv, the environment or pid 1
        "import os, sys\nleak = sys.stdin.read() + ' '.join(sys.argv) + str(dict(os.environ))\n"
        "try:\n    leak += open('/proc/1/environ').read() + open('/proc/1/cmdline').read()\nexcept OSError:\n    pass\n"
        "open('/output/leak.txt', 'w').write(leak)",
    ],
    ids=["forged-record", "fifo-record", "symlink-record", "nonce-hunt"],
)
def test_tampering_with_the_run_record_never_passes_for_success(
    isolating_backend, make_submission, validation_split, attack
):
    started = time.perf_counter()
    evaluation = grade(submission(make_submission, attack), validation_split, isolating_backend)
    assert time.perf_counter() - started < 30
    if "leak" in attack:
        assert evaluation.status == "graded"  # harmless: nothing it found was the nonce
    else:
        assert evaluation.failure.kind == "no_output"
    assert_clean(isolating_backend)


def test_ctrl_c_during_a_batch_leaves_no_container_or_process(isolating_backend, tmp_path):
    import shutil
    import signal

    marker = f"sleepy{uuid.uuid4().hex[:8]}"
    submissions = tmp_path / "class"
    for index in range(3):
        folder = submissions / f"student{index}"
        folder.mkdir(parents=True)
        (folder / "predict.py").write_text(
            f"import os\ndef load_model(a):\n    os.execv('/usr/bin/sleep', ['{marker}', '120'])\n"
            "def predict(model, inputs):\n    return None\n"
        )
    shutil.copytree(REPO / "examples" / "submissions" / "weak", submissions / "weak")
    grader_process = subprocess.Popen(
        [sys.executable, "-m", "grader", "grade", str(submissions), "--task", "breast-cancer-wdbc",
         "--backend", isolating_backend.name, "--workers", "2", "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 60
    while not leftover_processes(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert leftover_processes(marker), "the batch never started its sandboxes"
    grader_process.send_signal(signal.SIGINT)
    grader_process.communicate(timeout=60)
    assert grader_process.returncode != 0
    assert_clean(isolating_backend, marker)


def test_the_leftover_check_sees_a_daemon_that_escapes_an_unisolated_run(
    make_submission, validation_split
):
    """Control: without isolation the setsid daemon does survive, so the checks above can fail."""
    from sandbox import LocalBackend

    marker = f"escapee{uuid.uuid4().hex[:8]}"
    source = f"""
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/usr/bin/sleep", ["{marker}", "300"])
    os._exit(0)
"""
    grade(submission(make_submission, source), validation_split, LocalBackend())
    time.sleep(0.5)
    survivors = leftover_processes(marker)
    for line in survivors:
        os.kill(int(line.split()[0]), 9)
    assert survivors, "an unisolated daemon should have survived: the leftover check is blind"
