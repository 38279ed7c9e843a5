"""Datasets and the deterministic, recorded splits a task grades on."""

from grader.data import (  # noqa: F401 - they register loaders
    _actg175,
    _medmnist,
    _mitbih,
    _msd,
    _pubmedqa,
    _sklearn,
    _table,
    _tox21,
)
from grader.data._dataset import Dataset, resolve_data_dir, save_volume_archive
from grader.data._loaders import (
    ENTRY_POINT_GROUP,
    PluginError,
    check_loader_params,
    describe_loaders,
    load_dataset,
    loader_names,
    register_loader,
)
from grader.data._split import SPLIT_NAMES, SplitManifest, make_split

__all__ = [
    "ENTRY_POINT_GROUP",
    "SPLIT_NAMES",
    "Dataset",
    "PluginError",
    "SplitManifest",
    "check_loader_params",
    "describe_loaders",
    "load_dataset",
    "loader_names",
    "make_split",
    "register_loader",
    "resolve_data_dir",
    "save_volume_archive",
]
