"""Shared fixtures: the bundled task, prepared splits and submissions written on the fly."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from grader.evaluation import Evaluation, PreparedSplit, evaluate, prepare_split, sandbox_limits
from grader.submission import content_sha256
from grader.tasks import Task, load_task
from sandbox import (
    LocalBackend,
    SandboxBackend,
    SandboxJob,
    SandboxUnavailableError,
    ScriptedBackend,
    ScriptedRun,
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


def task_with_cpu_time(folder: Path, seconds: float) -> Path:
    """The bundled task with another CPU-time limit, as a course's own task folder."""
    task = folder / TASK_ID
    shutil.copytree(REPO / "tasks" / TASK_ID, task)
    spec = yaml.safe_load((task / "task.yaml").read_text())
    spec["limits"]["cpu_time_s"] = seconds
    shutil.copy(REPO / "rubrics" / f"{TASK_ID}.yaml", task / "rubric.yaml")
    spec["rubric"] = "rubric.yaml"
    (task / "task.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return task


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


class Recording:
    """A :class:`~sandbox.ScriptedBackend` handler that runs each distinct job once in a
    real backend and answers every later one with that run's report (new nonce and all).

    A job is the same when its submission's files, its inputs' files, its limits, its seed
    and whether predict runs twice are: then a sandbox would report the same, save for
    timings.  Tests of batches, stores, reports and exports use it so that grading one
    class many times starts a sandbox once per submission in the whole session.
    """

    def __init__(self, backend: SandboxBackend) -> None:
        self.backend = backend
        self.recorded: dict[tuple[object, ...], ScriptedRun] = {}
        self._lock = threading.Lock()

    def __call__(self, job: SandboxJob) -> ScriptedRun:
        key = (
            content_sha256(job.submission_dir),
            content_sha256(job.input_dir),
            job.limits,
            job.seed,
            job.repeat_predict,
        )
        with self._lock:
            if key not in self.recorded:
                self.recorded[key] = self._record(job)
            return self.recorded[key]

    def _record(self, job: SandboxJob) -> ScriptedRun:
        with tempfile.TemporaryDirectory(prefix="medgrade-recording-") as scratch:
            output = Path(scratch)
            result = self.backend.run(dataclasses.replace(job, output_dir=output))
            if (output / "run.json").is_file():
                return ScriptedRun.from_output(output, result)
        seen = {"exit_code": result.exit_code, "signal": result.signal}
        seen |= {"timed_out": result.timed_out, "oom_killed": result.oom_killed}
        return ScriptedRun(record=None, report=False, result=seen | {"started": result.started})


_RECORDING = Recording(LocalBackend())


def replaying() -> ScriptedBackend:
    """A backend that runs nothing twice in this session (the examples are known code, so the
    unisolated local backend records them; isolation has its own tests)."""
    return ScriptedBackend(_RECORDING)
