"""Datasets and the deterministic, recorded splits a task grades on."""

from grader.data._dataset import Dataset, load_dataset, loader_names
from grader.data._split import SPLIT_NAMES, SplitManifest, make_split

__all__ = ["SPLIT_NAMES", "Dataset", "SplitManifest", "load_dataset", "loader_names", "make_split"]
