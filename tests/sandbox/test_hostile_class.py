"""A hostile student among honest ones changes no one else's marks, warm and cold.

The hostile students go first (the class is graded in name order), so whatever they leave
would meet the honest ones: an IPython startup file and shadow modules wherever they can
write, keys in every keyring, a search for classmates' files, a scratch filled to the
brim, and a CPU hog running beside the next submission.  The honest students' gradebook
rows must equal those of the same class graded without them.
"""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import pytest

from grader import journeys
from grader.output import OutputFolder
from sandbox import BubblewrapBackend, DockerBackend, SandboxUnavailableError
from tests.conftest import EXAMPLES, TASK_ID

HONEST = ("good", "weak", "notebook", "crashes", "wrong-shape")

_PREDICT_HALF = """

def predict(model, inputs):
    import numpy as np
    return np.full(len(inputs), 0.5)
"""

HOSTILE = {
    # Sabotage for the students who come next: code that runs at every kernel's start,
    # and modules that shadow what submissions import.
    "aa-planter": """
import glob, os, sys
sabotage = "import sys\\nsys.modules['numpy'] = None\\n"
for folder in ["/etc/ipython/profile_default/startup", "/usr/local/etc/ipython/profile_default/startup",
               *sys.path, "/opt/medgrade", "/tmp", "/dev/shm"]:
    for name in ("00-medgrade.py", "json.py", "pickle.py", "sitecustomize.py"):
        try:
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, name), "w") as handle:
                handle.write(sabotage)
        except OSError:
            pass
""",
    # Keys in every keyring the run can name, for a later run to find.
    "ab-keys": """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for keyring in (-3, -4, -5):
    libc.syscall(248, b"user", b"medgrade-class-key", b"x", 1, keyring)
""",
    # Classmates' files: weights, notebooks, predictions.
    "ac-thief": """
import glob
found = []
for pattern in ("/pool/**/*", "/tmp/**/*", "/output/**/*", "/run/**/*", "/dev/shm/**/*",
                "/proc/*/root/*/*.ipynb", "/*/*.pt", "/*/*.ipynb"):
    found += [p for p in glob.glob(pattern, recursive=True) if p.endswith((".pt", ".ipynb", ".json"))]
print("THIEF FOUND", sorted(found), flush=True)
""",
    # Every scratch byte it may have, left behind if it could be.
    "ad-filler": """
for path in ("/tmp/fill", "/dev/shm/fill", "/output/fill"):
    try:
        with open(path, "wb") as handle:
            while True:
                handle.write(b"x" * 2**20)
    except OSError:
        pass
""",
    # Busy processes beside whoever is graded next.
    "ae-hog": """
import os, time
for _ in range(16):
    if os.fork() == 0:
        end = time.monotonic() + 4
        while time.monotonic() < end:
            pass
        os._exit(0)
time.sleep(4)
""",
}


def _class(folder: Path, *, hostile: bool) -> Path:
    folder.mkdir(parents=True)
    for name in HONEST:
        shutil.copytree(
            EXAMPLES / name, folder / name, ignore=shutil.ignore_patterns("__pycache__")
        )
    with zipfile.ZipFile(folder / "alice.zip", "w") as archive:
        for path in (EXAMPLES / "weak").iterdir():
            if path.is_file():
                archive.write(path, path.name)
    if hostile:
        for name, body in HOSTILE.items():
            (folder / name).mkdir()
            indented = "\n".join("    " + line for line in body.strip().splitlines())
            (folder / name / "predict.py").write_text(
                f"def load_model(artifacts_dir):\n{indented}\n    return None\n{_PREDICT_HALF}"
            )
    return folder


def _rows(out: Path) -> dict[str, dict[str, str]]:
    with OutputFolder(out).gradebook.open(newline="") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _backend(name: str) -> str:
    try:
        (BubblewrapBackend if name == "bwrap" else DockerBackend)().close()
    except SandboxUnavailableError as error:
        pytest.skip(f"{name} backend unavailable here: {error}")
    return name


@pytest.fixture(scope="module")
def honest_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    base = tmp_path_factory.mktemp("honest")
    out = base / "out"
    journeys.grade(
        _class(base / "class", hostile=False),
        TASK_ID,
        backend=_backend("bwrap"),
        out=out,
        workers=2,
    )
    return _rows(out)


@pytest.mark.parametrize(
    ("backend", "warm_pool"),
    [("bwrap", True), ("bwrap", False), ("docker", False)],
    ids=["bwrap-warm", "bwrap-cold", "docker"],
)
def test_a_hostile_student_changes_no_honest_students_marks(
    tmp_path, honest_rows, backend, warm_pool
):
    out = tmp_path / "out"
    submissions = _class(tmp_path / "class", hostile=True)
    assert len(list(submissions.iterdir())) >= journeys.WARM_POOL_MIN_SUBMISSIONS
    notes: list[str] = []
    result = journeys.grade(
        submissions,
        TASK_ID,
        backend=_backend(backend),
        out=out,
        workers=2,
        warm_pool=warm_pool,
        on_note=notes.append,
    )
    if warm_pool:
        assert not any("warm" in note and "could not" in note for note in notes), notes
        warm_runs = [e for e in result.evaluations if e.run and e.run.details.get("warm")]
        assert len(warm_runs) == len(result.evaluations)
    rows = _rows(out)
    for student, expected in honest_rows.items():
        assert rows[student] == expected, student
    # Nothing of a classmate's (nor the reference's weights, installed with medgrade).
    thief = next(e for e in result.evaluations if e.student_id == "ac-thief")
    found = thief.run.stdout_tail.split("THIEF FOUND", 1)[1]
    assert not any(name in found for name in ("model.pt", "weights.json", "breast_cancer.ipynb"))
    assert all(rows[name]["status"] in {"graded", "failed"} for name in HOSTILE)
