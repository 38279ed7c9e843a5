"""The checks a spec can only pass with its data at hand: the attributes it names exist.

``task show``, ``task split`` and ``task validate`` run them first, so that a misspelled
``group_key`` or subgroup is reported against the file and field in a second, not after the
reference has been trained and run.
"""

from __future__ import annotations

from pathlib import Path

from grader.data import Dataset, SplitManifest, load_dataset, make_split
from grader.errors import SpecError
from grader.suggest import suggest
from grader.tasks._catalog import Task


def load_task_dataset(task: Task, data_dir: Path | None) -> Dataset:
    """The task's dataset, after checking every attribute the spec names against it."""
    spec = task.spec
    dataset = load_dataset(spec.dataset.loader, spec.dataset.params, data_dir)
    check_against_data(task, dataset)
    return dataset


def check_against_data(task: Task, dataset: Dataset) -> None:
    spec = task.spec
    named = [
        ("split.group_key", spec.split.group_key),
        ("cluster_key", spec.cluster_key),
        *((f"subgroups[{i}]", name) for i, name in enumerate(spec.subgroups)),
    ]
    have = sorted(dataset.attributes)
    problems = [
        f"{field}: the dataset has no attribute {value!r}{suggest(value, have)}; "
        f"it has: {', '.join(have) or 'none'}"
        for field, value in named
        if value is not None and value not in dataset.attributes
    ]
    if spec.reference.path is not None and not task.reference_dir().is_dir():
        problems.append(f"reference.path: no folder {task.reference_dir()}")
    if problems:
        raise SpecError(task.spec_path, problems)


def recompute_split(task: Task, data_dir: Path | None) -> SplitManifest:
    """The split the spec gives on this machine's data (for a task on ``cases: recorded``,
    on the cases its manifest records)."""
    spec = task.spec
    dataset = load_task_dataset(task, data_dir)
    if spec.dataset.cases == "recorded" and task.manifest_path.is_file():
        recorded = task.split_manifest().case_ids.values()
        dataset = dataset.subset([case for ids in recorded for case in ids])
    return make_split(dataset, spec.split)
