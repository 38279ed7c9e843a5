"""The labelled splits students may train on (train and validation, never test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data import load_dataset
from grader.tasks._catalog import Task

PUBLIC_SPLITS = ("train", "validation")


def public_split(
    task: Task, split: str, *, data_dir: Path | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels of a public split of ``task``, in the recorded case order."""
    if split not in PUBLIC_SPLITS:
        raise ValueError(f"split must be one of {PUBLIC_SPLITS}; the {split!r} labels are hidden")
    spec = task.spec
    dataset = load_dataset(spec.dataset.loader, spec.dataset.params, data_dir)
    rows = dataset.rows(task.split_manifest().case_ids[split])
    return dataset.features[rows], dataset.labels[rows]
