"""Datasets and the deterministic, recorded splits a task grades on."""

from grader.data import _actg175, _medmnist, _mitbih, _msd  # noqa: F401 - they register loaders
from grader.data._dataset import (
    Dataset,
    load_dataset,
    loader_names,
    resolve_data_dir,
    save_volume_archive,
)
from grader.data._split import SPLIT_NAMES, SplitManifest, make_split

__all__ = [
    "SPLIT_NAMES",
    "Dataset",
    "SplitManifest",
    "load_dataset",
    "loader_names",
    "make_split",
    "resolve_data_dir",
    "save_volume_archive",
]
