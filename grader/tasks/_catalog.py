"""Finding, loading and cross-checking tasks (spec + rubric + split manifest)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from grader._resources import bundled_dir
from grader._yaml import parse_model, read_yaml_mapping
from grader.data import SplitManifest
from grader.errors import SpecError, TaskNotFoundError
from grader.rubric import AutomaticCriterion, Rubric, load_rubric
from grader.tasks.spec import TaskSpec

SPEC_FILE = "task.yaml"
TASKS_PATH_VARIABLE = "MEDGRADE_TASKS"


@dataclass(frozen=True)
class Task:
    """A validated task: its spec, its rubric and the folder they came from."""

    spec: TaskSpec
    folder: Path
    rubric: Rubric
    rubric_path: Path

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def spec_path(self) -> Path:
        return self.folder / SPEC_FILE

    @property
    def manifest_path(self) -> Path:
        return self.folder / self.spec.split.manifest

    def split_manifest(self) -> SplitManifest:
        return SplitManifest.read(self.manifest_path)

    def reference_dir(self) -> Path:
        """The folder of the reference submission."""
        reference = self.spec.reference
        if reference.path is not None:
            return (self.folder / reference.path).resolve()
        assert reference.package is not None
        found = importlib.util.find_spec(reference.package)
        if found is None or not found.submodule_search_locations:
            raise SpecError(
                self.spec_path,
                [f"reference.package: cannot import package {reference.package!r}"],
            )
        return Path(next(iter(found.submodule_search_locations))).resolve()


def task_search_dirs() -> list[Path]:
    """Folders holding task folders: ``$MEDGRADE_TASKS`` (os.pathsep-separated), then bundled."""
    extra = [Path(p) for p in os.environ.get(TASKS_PATH_VARIABLE, "").split(os.pathsep) if p]
    return [*extra, bundled_dir("tasks")]


def load_task(task: str | Path) -> Task:
    """Load a task by id, by task folder or by path to its ``task.yaml``."""
    path = Path(task)
    if path.suffix in {".yaml", ".yml"} and path.is_file():
        return _load_folder(path.parent, spec_path=path)
    if (path / SPEC_FILE).is_file():
        return _load_folder(path)
    for directory in task_search_dirs():
        if (directory / str(task) / SPEC_FILE).is_file():
            return _load_folder(directory / str(task))
    known = ", ".join(sorted(task_ids())) or "none"
    raise TaskNotFoundError(f"no task {str(task)!r}; installed tasks: {known}")


def task_ids() -> list[str]:
    ids: list[str] = []
    for directory in task_search_dirs():
        if directory.is_dir():
            ids.extend(p.name for p in sorted(directory.iterdir()) if (p / SPEC_FILE).is_file())
    return list(dict.fromkeys(ids))


def _load_folder(folder: Path, spec_path: Path | None = None) -> Task:
    spec_path = spec_path or folder / SPEC_FILE
    spec = parse_model(TaskSpec, read_yaml_mapping(spec_path), spec_path)
    if spec.id != folder.name and spec_path.name == SPEC_FILE:
        raise SpecError(
            spec_path, [f"id: must equal the task folder's name {folder.name!r}; got {spec.id!r}"]
        )
    rubric_path = _rubric_path(spec, folder)
    rubric = load_rubric(rubric_path)
    _check_rubric_against_task(rubric, rubric_path, spec)
    requirements = requirements_path(spec, folder.resolve())
    if requirements is not None and not requirements.is_file():
        raise SpecError(
            spec_path, [f"environment.requirements: no requirements file {requirements}"]
        )
    return Task(spec=spec, folder=folder.resolve(), rubric=rubric, rubric_path=rubric_path)


def requirements_path(spec: TaskSpec, folder: Path) -> Path | None:
    """The requirements file a task's environment names (None: inline or no environment):
    a ``.txt`` path relative to the task folder, else one of medgrade's own environments."""
    environment = spec.environment
    if environment is None or environment.requirements is None:
        return None
    if environment.requirements.endswith(".txt"):
        return (folder / environment.requirements).resolve()
    return bundled_dir("tasks") / ENVIRONMENTS_FOLDER / f"{environment.requirements}.txt"


#: medgrade's own environments, beside its bundled tasks.
ENVIRONMENTS_FOLDER = "environments"


def _rubric_path(spec: TaskSpec, folder: Path) -> Path:
    if spec.rubric.endswith((".yaml", ".yml")):
        return folder / spec.rubric
    return bundled_dir("rubrics") / f"{spec.rubric}.yaml"


def _check_rubric_against_task(rubric: Rubric, rubric_path: Path, spec: TaskSpec) -> None:
    computed = [m.name for m in spec.metrics]
    problems = [
        f"criteria[{i}].metric: the task does not compute {criterion.metric!r}; "
        f"it computes {', '.join(computed)}"
        for i, criterion in enumerate(rubric.criteria)
        if isinstance(criterion, AutomaticCriterion) and criterion.metric not in computed
    ]
    if problems:
        raise SpecError(rubric_path, problems)
