"""Shared fixtures: the bundled task, prepared splits and submissions written on the fly."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from grader.evaluation import PreparedSplit, prepare_split
from grader.tasks import Task, load_task
from sandbox import LocalBackend

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
