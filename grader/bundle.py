"""A self-check from the student bundle alone: no dataset download, no test label.

``medgrade task export-student`` writes ``medgrade-bundle.json`` beside the public splits;
``medgrade check`` finds it (in the submission's folder or above, or the working folder or
above) and reads the validation split, labels included, from the bundle instead of the
dataset: a student needs nothing else on their machine.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from grader.data import Dataset
from grader.errors import MedgradeError
from grader.tasks import Task
from grader.tasks._student import BUNDLE_MANIFEST


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
