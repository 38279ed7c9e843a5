"""Shared fixtures: the bundled task, prepared splits and submissions written on the fly."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.evaluation import Evaluation, PreparedSplit, evaluate, prepare_split, sandbox_limits
from grader.tasks import Task, load_task
from sandbox import (
    LocalBackend,
    SandboxBackend,
    SandboxUnavailableError,
    WarmBubblewrap,
    get_backend,
    warm,
)

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "submissions"
#: The real datasets: $MEDGRADE_DATA, else the shared folder beside the repository; tests
#: that need one skip where it is absent.
_DATA_CANDIDATES = [os.environ.get("MEDGRADE_DATA"), str(REPO.parent / "shared" / "data")]
DATA = next((Path(c) for c in _DATA_CANDIDATES if c and Path(c).is_dir()), None)
TASK_ID = "breast-cancer-wdbc"


def medgrade(
    *arguments: str, cwd: Path | None = None, **environment: str
) -> subprocess.CompletedProcess[str]:
    """Run the ``medgrade`` command line in this interpreter, as a user would; ``environment``
    adds variables."""
    return subprocess.run(
        [sys.executable, "-m", "grader", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env={**os.environ, **environment},
    )


@pytest.fixture(scope="session")
def task() -> Task:
    return load_task(TASK_ID)


@pytest.fixture(scope="session")
def validation_split(task: Task, tmp_path_factory: pytest.TempPathFactory) -> PreparedSplit:
    return prepare_split(
        task, "validation", data_dir=None, workdir=tmp_path_factory.mktemp("inputs")
    )


@pytest.fixture(scope="session")
def test_split(task: Task, tmp_path_factory: pytest.TempPathFactory) -> PreparedSplit:
    return prepare_split(task, "test", data_dir=None, workdir=tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="session")
def backend() -> LocalBackend:
    return LocalBackend()


@pytest.fixture(scope="module", params=["bwrap", "bwrap-warm", "docker"])
def isolating_backend(request: pytest.FixtureRequest) -> Iterator[SandboxBackend]:
    """Each isolating backend in turn; skipped with the reason where it cannot run.

    ``bwrap-warm`` is bubblewrap's warm pool, serving every job under the temporary folder
    (where the tests' submissions, inputs and outputs are).
    """
    name = request.param.removesuffix("-warm")
    try:
        backend = get_backend(name)
    except SandboxUnavailableError as error:
        pytest.skip(f"{name} backend unavailable here: {error}")
    if request.param.endswith("-warm"):
        backend = warm_pool(backend)
    yield backend
    backend.close()
    if isinstance(backend, WarmBubblewrap):
        assert backend.failure is None, backend.failure
        assert backend.cold_runs == 0, "a job fell back to a cold sandbox"


def warm_pool(backend: SandboxBackend) -> WarmBubblewrap:
    """``backend``'s warm pool for every job under the temporary folder."""
    pool = warm(
        backend,
        root=Path(tempfile.gettempdir()),
        limits=sandbox_limits(load_task(TASK_ID)),
    )
    assert isinstance(pool, WarmBubblewrap)
    pool.start()  # ready before the first job, so that every job forks from it
    return pool


def evaluate_with_limits(
    folder: Path, split: PreparedSplit, backend: SandboxBackend, **limits: float
) -> Evaluation:
    """Run ``folder`` on ``split``, overriding some of the task's limits."""
    if limits:
        spec = split.task.spec
        task = dataclasses.replace(
            split.task,
            spec=spec.model_copy(update={"limits": spec.limits.model_copy(update=limits)}),
        )
        split = dataclasses.replace(split, task=task)
    return evaluate(folder, student_id="attacker", prepared=split, backend=backend)


@pytest.fixture
def make_submission(tmp_path: Path) -> Callable[..., Path]:
    """Write a submission folder from a predict.py source (dedented) and extra files."""

    def make(source: str | None, name: str = "student", **files: str) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        if source is not None:
            (folder / "predict.py").write_text(textwrap.dedent(source))
        for filename, content in files.items():
            (folder / filename).write_text(textwrap.dedent(content))
        return folder

    return make


#: The hog's processes end by themselves after this long, should the test be killed.
HOG_LIFETIME_S = 1800


@contextlib.contextmanager
def cpu_hog() -> Iterator[int]:
    """One busy process per core (and one more) for as long as the block runs; yields how many."""
    busy = (
        f"import time\nend = time.monotonic() + {HOG_LIFETIME_S}\n"
        "while time.monotonic() < end:\n    sum(range(10000))\n"
    )
    hogs = [
        subprocess.Popen([sys.executable, "-c", busy])
        for _ in range(len(os.sched_getaffinity(0)) + 1)
    ]
    try:
        yield len(hogs)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()
