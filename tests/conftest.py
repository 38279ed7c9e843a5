"""Shared fixtures: the bundled task, prepared splits and submissions written on the fly."""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from grader.evaluation import Evaluation, PreparedSplit, evaluate, prepare_split
from grader.tasks import Task, load_task
from sandbox import LocalBackend, SandboxBackend, SandboxUnavailableError, get_backend

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "submissions"
TASK_ID = "breast-cancer-wdbc"


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


@pytest.fixture(scope="module", params=["bwrap", "docker"])
def isolating_backend(request: pytest.FixtureRequest) -> Iterator[SandboxBackend]:
    """Each isolating backend in turn; skipped with the reason where it cannot run."""
    try:
        backend = get_backend(request.param)
    except SandboxUnavailableError as error:
        pytest.skip(f"{request.param} backend unavailable here: {error}")
    yield backend
    backend.close()


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
