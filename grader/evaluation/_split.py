"""A split prepared for grading: its labels stay on the host, its inputs go where a sandbox
can read them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader._resources import answer_folders
from grader.data import Dataset, load_dataset
from grader.kinds import input_kind, output_kind
from grader.tasks import Task


@dataclass(frozen=True)
class PreparedSplit:
    """A split ready to grade: labels on the host, inputs in a folder for the sandbox."""

    task: Task
    name: str
    case_ids: tuple[str, ...]
    labels: np.ndarray
    input_dir: Path
    #: The file of ``input_dir`` the input kind wrote the inputs to.
    inputs_file: str
    labels_hidden: bool
    data_sha256: str
    split_sha256: str
    masked_paths: tuple[Path, ...] = ()
    #: The split's per-case subgroup attributes (host only, like the labels).
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    #: Each case's voxel size in mm (volume inputs only).
    spacings: np.ndarray | None = None

    @property
    def n_cases(self) -> int:
        return len(self.case_ids)


def prepare_split(
    task: Task,
    split: str,
    *,
    data_dir: Path | None,
    workdir: Path,
    dataset: Dataset | None = None,
) -> PreparedSplit:
    """Load ``split`` of ``task`` (from ``dataset`` when given: a student bundle's) and
    write its inputs, never its labels, under ``workdir``."""
    manifest = task.split_manifest()
    spec = task.spec
    if dataset is None:
        dataset = load_dataset(spec.dataset.loader, spec.dataset.params, data_dir)
    case_ids = manifest.case_ids[split]
    rows = dataset.rows(case_ids)
    needed = [*spec.subgroups, *([spec.cluster_key] if spec.cluster_key else [])]
    attributes = {name: dataset.attribute(name)[rows] for name in needed}
    group_key = spec.split.group_key  # a self-check lists its worst-predicted groups
    if group_key is not None and group_key in dataset.attributes:
        attributes.setdefault(group_key, dataset.attribute(group_key)[rows])
    input_dir = workdir / f"inputs-{task.id}-{split}"
    input_dir.mkdir(parents=True, exist_ok=False)
    spacings = None if dataset.spacings is None else dataset.spacings[rows]
    inputs = input_kind(spec.inputs.kind)
    inputs_file = inputs.write_inputs(dataset, rows, input_dir)
    sandbox_manifest = {
        "task": spec.id,
        "task_version": spec.version,
        "split": split,
        "input": {
            "kind": spec.inputs.kind,
            "layout": inputs.layout,
            "file": inputs_file,
            "feature_names": list(dataset.feature_names),
        },
        "output": {"kind": spec.output.kind, **output_kind(spec.output.kind).harness_manifest()},
        "batch_size": spec.output.batch_size,
    }
    (input_dir / "manifest.json").write_text(json.dumps(sandbox_manifest, indent=1))
    for path in (input_dir / inputs_file, input_dir / "manifest.json"):
        path.chmod(0o444)
    return PreparedSplit(
        task=task,
        name=split,
        case_ids=tuple(case_ids),
        labels=dataset.labels[rows],
        input_dir=input_dir,
        inputs_file=inputs_file,
        labels_hidden=split == "test",
        data_sha256=dataset.sha256,
        split_sha256=manifest.sha256(split),
        masked_paths=(*dataset.source_paths, *answer_folders()),
        attributes=attributes,
        spacings=spacings,
    )
