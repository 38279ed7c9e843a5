"""MedMNIST v2 (Yang et al., Scientific Data 2023): 28x28 medical images, official splits.

Reads the official ``<flag>.npz`` files from Zenodo (keys ``train_images``,
``train_labels``, ``val_images``, ...); RGB sets such as RetinaMNIST hold
``(n, 28, 28, 3)`` images, passed on as they are.  ``medgrade data fetch`` downloads them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grader.data._dataset import Dataset
from grader.data._fetch import Download, register_downloads
from grader.data._files import find_data_file
from grader.data._loaders import register_loader
from grader.errors import DataError

ZENODO_RECORD = "https://zenodo.org/records/10519652"
_SPLITS = (("train", "train"), ("val", "validation"), ("test", "test"))


def medmnist_url(flag: str) -> str:
    return f"{ZENODO_RECORD}/files/{flag}.npz?download=1"


@register_downloads("medmnist")
def medmnist_downloads(*, flag: str, positive_labels: list[int] | None = None) -> list[Download]:
    del positive_labels
    return [Download(medmnist_url(flag), f"{flag}/{flag}.npz")]


@register_loader("medmnist")
def load_medmnist(
    *, data_dir: Path | None, flag: str, positive_labels: list[int] | None = None
) -> Dataset:
    """The MedMNIST dataset ``flag`` (e.g. ``breastmnist``) as a binary or multiclass task.

    ``positive_labels`` are the MedMNIST label values that make the positive class (for
    BreastMNIST, 0 = malignant); without them the labels are MedMNIST's own classes
    0..K-1 (RetinaMNIST's diabetic-retinopathy grades 0-4).  Case ids follow the official file's order within each
    split; ``official_split`` is the file's train/val/test.  A copy whose name starts with
    the flag (``pneumoniamnist_reconstructed.npz``) is accepted when the official name is
    absent.
    """
    path = find_data_file(
        data_dir,
        dataset=f"MedMNIST {flag}",
        folder=flag,
        patterns=(f"{flag}.npz", f"{flag}*.npz"),
        get_it=f"Download {flag}.npz from {medmnist_url(flag)} (or run 'medgrade data fetch').",
    )
    try:
        with np.load(path, allow_pickle=False) as archive:
            parts = [
                (archive[f"{key}_images"], archive[f"{key}_labels"].reshape(-1), name)
                for key, name in _SPLITS
            ]
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path} is not a MedMNIST .npz file ({error})") from None
    images = np.concatenate([p[0] for p in parts])
    raw_labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    unknown = sorted(set(positive_labels or []) - set(raw_labels.tolist()))
    if unknown:
        raise DataError(f"{path}: no case has label(s) {unknown}; check positive_labels")
    case_ids = np.concatenate(
        [[f"{flag}-{name}-{i:05d}" for i in range(len(p[1]))] for p in parts for name in [p[2]]]
    )
    return Dataset(
        name=flag,
        case_ids=case_ids,
        features=images,
        feature_names=(),
        labels=raw_labels
        if positive_labels is None
        else np.isin(raw_labels, positive_labels).astype(np.int64),
        official_split=np.concatenate([[p[2]] * len(p[1]) for p in parts]),
        source_paths=(path,),
    )
