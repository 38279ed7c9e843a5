"""The student bundle: the folder a course hands out for a task, and a self-check from it.

``medgrade task export-student`` (:func:`export_student_bundle`) writes the task
description and contract, the public splits with their labels, a starter ``predict.py``
that already follows the contract, the self-check command, and ``medgrade-bundle.json``.
The test split's labels are never written; its inputs only when the task makes them
public (``split.public_test_inputs``).

``medgrade check`` finds the bundle (:func:`find_bundle`: in the submission's folder or
above, or the working folder or above) and reads the validation split, labels included,
from it instead of the dataset (:func:`bundle_dataset`): a student needs nothing else on
their machine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grader.data import Dataset, load_dataset, save_volume_archive
from grader.environment import declared_environment, describe
from grader.errors import MedgradeError
from grader.kinds import output_kind
from grader.rubric import AutomaticCriterion
from grader.submission import SUBMISSION_CONTRACT
from grader.tasks import PUBLIC_SPLITS, Task

#: What ``medgrade check`` looks for to self-check from the bundle alone: the task, and where
#: the public splits are (:func:`find_bundle` reads it).
BUNDLE_MANIFEST = "medgrade-bundle.json"


def export_student_bundle(task: Task, out: Path, *, data_dir: Path | None = None) -> list[Path]:
    """Write the student bundle of ``task`` into the new folder ``out``; return its files."""
    if out.exists() and any(out.iterdir()):
        raise MedgradeError(f"{out} is not empty; choose a new folder for the student bundle")
    spec = task.spec
    dataset = load_dataset(spec.dataset.loader, spec.dataset.params, data_dir)
    manifest = task.split_manifest()
    (out / "data").mkdir(parents=True, exist_ok=True)
    written = []
    # What the self-check reports by: subgroups, the patient of each case, and the groups of a
    # grouped split (its worst-predicted ones are listed).
    attributes = [
        *spec.subgroups,
        *dict.fromkeys(key for key in (spec.cluster_key, spec.split.group_key) if key),
    ]
    for split in PUBLIC_SPLITS:
        rows = dataset.rows(manifest.case_ids[split])
        path = out / "data" / f"{split}.npz"
        _save_split(
            dataset, rows, path, manifest.case_ids[split], with_labels=True, attributes=attributes
        )
        written.append(path)
    bundle = out / BUNDLE_MANIFEST
    bundle.write_text(
        json.dumps(
            {
                "task": spec.id,
                "task_version": spec.version,
                "splits": {split: f"data/{split}.npz" for split in PUBLIC_SPLITS},
                "split_sha256": {split: manifest.sha256(split) for split in PUBLIC_SPLITS},
                "feature_names": list(dataset.feature_names),
                "volumetric": dataset.volumetric,
            },
            indent=1,
        )
    )
    written.append(bundle)
    if spec.split.public_test_inputs:
        rows = dataset.rows(manifest.case_ids["test"])
        path = out / "data" / "test_inputs.npz"
        _save_split(dataset, rows, path, manifest.case_ids["test"], with_labels=False)
        written.append(path)
    starter = out / "starter" / "predict.py"
    starter.parent.mkdir()
    inputs = spec.inputs.description.strip().rstrip(".").replace("\n", " ")
    train_labels = dataset.labels[dataset.rows(manifest.case_ids["train"])]
    kind = output_kind(spec.output.kind)
    null = kind.null_model(spec.output, train_labels)
    text = kind.starter(spec.output, spec.id, inputs, null)
    starter.write_text(text)
    written.append(starter)
    readme = out / "README.md"
    sizes = {split: len(ids) for split, ids in manifest.case_ids.items()}
    readme.write_text(_readme(task, sizes, dataset.feature_names))
    written.append(readme)
    return written


def _save_split(
    dataset: Dataset,
    rows: np.ndarray,
    path: Path,
    case_ids: list[str],
    *,
    with_labels: bool,
    attributes: Sequence[str] = (),
) -> None:
    labels = dataset.labels[rows] if with_labels else None
    extra = {f"attribute_{name}": dataset.attribute(name)[rows] for name in attributes}
    if dataset.volumetric:
        assert dataset.spacings is not None
        save_volume_archive(
            path,
            dataset.features[rows],
            dataset.spacings[rows],
            labels=labels,
            case_ids=case_ids,
            extra=extra,
        )
        return
    arrays = {"inputs": dataset.features[rows], "case_ids": np.asarray(case_ids), **extra}
    np.savez_compressed(path, **arrays, **({"labels": labels} if with_labels else {}))


def _readme(task: Task, sizes: dict[str, int], feature_names: Sequence[str]) -> str:
    spec = task.spec
    criteria = [
        f"| {criterion.title} | {criterion.points:g} | {_how_marked(criterion)} |"
        for criterion in task.rubric.criteria
    ]
    penalties = [
        f"| {penalty.title} | -{penalty.points:g} | CPU time over {penalty.cpu_time_over_s:g} s |"
        for penalty in task.rubric.penalties
    ]
    test_inputs = (
        "`data/test_inputs.npz` holds the test inputs (no labels)."
        if spec.split.public_test_inputs
        else "The test split is not included: your submission meets it only when it is graded."
    )
    contents = output_kind(spec.output.kind).bundle_labels(spec.output)
    columns = (
        "\n\nThe input columns, in order: " + ", ".join(f"`{name}`" for name in feature_names) + "."
        if spec.inputs.kind == "table" and feature_names
        else ""
    )
    limits = spec.limits
    return f"""# {spec.title}

Task `{spec.id}`, version {spec.version}.

{spec.description.strip()}

## Data

`data/train.npz` ({sizes["train"]} cases) and `data/validation.npz` ({sizes["validation"]} cases)
each hold {contents} and `case_ids`. {test_inputs}
The marker grades on {sizes["test"]} held-out test cases whose labels you never see.

- Inputs ({spec.inputs.kind}): {spec.inputs.description.strip()}{columns}
- Output: {spec.output.describe()}
- Dataset: {spec.dataset.citation.strip()}
- Licence: {spec.dataset.licence}

## What to submit

{SUBMISSION_CONTRACT}

`starter/predict.py` follows the contract already (it predicts the training prevalence);
replace its model with yours. Limits: {limits.cpu_time_s:g} s of CPU time for all of your
code's processes together (a run that hangs is stopped after {limits.wall_time_s:g} s),
{limits.memory_mb} MiB of memory, {limits.cpus:g} CPU core(s), no network, and at most
{limits.submission_mb} MiB for the whole submission, weights included. Python's, numpy's
and torch's random generators are seeded before your code runs.

## Packages

Your code runs with these packages and no others (the marker's sandbox has exactly these,
whichever machine grades): {describe(declared_environment(task))}.

## How it is marked

| criterion | points | how |
|---|---|---|
{chr(10).join(criteria + penalties)}

## Check before you submit

Install medgrade (`pip install medgrade`; on a machine without an NVIDIA GPU install PyTorch's
CPU build first), then, in this folder:

```bash
medgrade env build {spec.id}    # once: the packages above, as the marker has them
medgrade check starter/ --task {spec.id}
```

or, from your notebook, `from grader import check; check("{spec.id}")`. It reads the validation
split from this folder (nothing is downloaded), runs your submission as the marker will, and
writes the report the marker sees, computed on the validation split. It also calls predict
twice and tells you if the outputs differ.
"""


def _how_marked(criterion: AutomaticCriterion | object) -> str:
    if not isinstance(criterion, AutomaticCriterion):
        return "marked by hand"
    scale = criterion.scale
    if hasattr(scale, "floor"):
        return (
            f"`{criterion.metric}`: 0 points at {scale.floor:g}, full points at {scale.target:g}, "
            "linear between"
        )
    bands = ", ".join(f"{band.points:g} at {band.at:g}" for band in scale.bands)
    return f"`{criterion.metric}`: {bands}"


def find_bundle(task: Task, *starts: Path) -> Path | None:
    """The folder of a bundle of ``task`` at or above one of ``starts``, or None."""
    for start in starts:
        folder = start.resolve()
        for candidate in (folder, *folder.parents):
            manifest = candidate / BUNDLE_MANIFEST
            if manifest.is_file():
                try:
                    document = json.loads(manifest.read_text())
                except (OSError, ValueError):
                    continue
                if isinstance(document, dict) and document.get("task") == task.id:
                    return candidate
    return None


def bundle_dataset(task: Task, bundle: Path, split: str = "validation") -> Dataset:
    """``split`` of the bundle at ``bundle`` as a :class:`Dataset` (its cases only)."""
    manifest = bundle / BUNDLE_MANIFEST
    document = json.loads(manifest.read_text())
    if document.get("task_version") != task.spec.version:
        raise MedgradeError(
            f"{manifest} is for version {document.get('task_version')} of {task.id}; this "
            f"medgrade grades version {task.spec.version}: get the course's current bundle"
        )
    path = bundle / document["splits"][split]
    with np.load(path, allow_pickle=False) as archive:
        names = archive.files
        case_ids = archive["case_ids"].astype(str)
        attributes = {
            name.removeprefix("attribute_"): archive[name]
            for name in names
            if name.startswith("attribute_")
        }
        if document.get("volumetric"):
            count = len(case_ids)
            features = np.empty(count, dtype=object)
            labels = np.empty(count, dtype=object)
            for i in range(count):
                features[i], labels[i] = archive[f"image_{i:05d}"], archive[f"label_{i:05d}"]
            spacings = archive["spacings_mm"]
        else:
            features, labels, spacings = archive["inputs"], archive["labels"], None
    return Dataset(
        name=f"{task.id} bundle",
        case_ids=case_ids,
        features=features,
        feature_names=tuple(document.get("feature_names", ())),
        labels=labels,
        attributes=attributes,
        source_paths=(path,),
        spacings=spacings,
    )
