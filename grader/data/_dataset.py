"""Dataset loaders: each turns a dataset's official layout into a :class:`Dataset`.

A loader is registered under the name a task spec uses (``dataset.loader``).  It receives
the spec's ``dataset.params`` as keyword arguments and the data directory the user chose
(``--data-dir`` or ``MEDGRADE_DATA``), which loaders of bundled datasets ignore.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from grader.data._fetch import register_no_download
from grader.errors import DataError


@dataclass(frozen=True, eq=False)
class Dataset:
    """Every case of a dataset, labels included; it never leaves the host.

    ``source_paths`` are the files the loader read: sandboxes hide them from submissions.

    ``features`` holds what the sandbox may see, ``labels`` what it must never see.  For
    image volumes (``volumetric``) both are object arrays of per-case arrays, since cases
    differ in shape, and ``spacings`` holds each case's voxel size in mm.
    ``attributes`` holds per-case attributes that never reach the sandbox either: subgroups
    to report metrics by (sex, age band) and grouping keys to split by (patient id).
    """

    name: str
    case_ids: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]
    labels: np.ndarray
    attributes: Mapping[str, np.ndarray] = field(default_factory=dict)
    official_split: np.ndarray | None = None
    source_paths: tuple[Path, ...] = ()
    spacings: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.case_ids)
        if len(set(self.case_ids.tolist())) != n:
            raise DataError(f"dataset {self.name!r} has duplicate case ids")
        columns = [("features", self.features), ("labels", self.labels)]
        if self.spacings is not None:
            columns.append(("spacings", self.spacings))
        columns += [(f"attribute {name!r}", values) for name, values in self.attributes.items()]
        for what, array in columns:
            if len(array) != n:
                raise DataError(f"dataset {self.name!r}: {what} has {len(array)} rows, {n} cases")

    @property
    def volumetric(self) -> bool:
        """Whether each case is an image volume of its own shape (object arrays)."""
        return self.features.dtype == object

    @property
    def sha256(self) -> str:
        """Checksum of the case ids, features and labels actually used (recorded per grade)."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.case_ids.astype(str)).tobytes())
        for array in (self.features, self.labels):
            if array.dtype != object:
                digest.update(np.ascontiguousarray(array).tobytes())
                continue
            for volume in array:  # its shape and dtype are part of what was used, too
                digest.update(f"{volume.dtype.str}{volume.shape}".encode())
                digest.update(np.ascontiguousarray(volume).tobytes())
        if self.spacings is not None:
            digest.update(np.ascontiguousarray(self.spacings, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def attribute(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self.attributes[name])
        except KeyError:
            known = ", ".join(sorted(self.attributes)) or "none"
            raise DataError(
                f"dataset {self.name!r} has no attribute {name!r}; it has: {known}"
            ) from None

    def subset(self, case_ids: list[str]) -> Dataset:
        """The dataset restricted to ``case_ids``, in this dataset's order."""
        rows = np.sort(self.rows(case_ids))
        return replace(
            self,
            case_ids=self.case_ids[rows],
            features=self.features[rows],
            labels=self.labels[rows],
            attributes={name: np.asarray(v)[rows] for name, v in self.attributes.items()},
            official_split=None if self.official_split is None else self.official_split[rows],
            spacings=None if self.spacings is None else self.spacings[rows],
        )

    def rows(self, case_ids: list[str]) -> np.ndarray:
        """Positions of ``case_ids`` in this dataset, in the given order."""
        position = {case_id: i for i, case_id in enumerate(self.case_ids.tolist())}
        missing = [c for c in case_ids if c not in position]
        if missing:
            raise DataError(
                f"dataset {self.name!r} lacks {len(missing)} case(s) the split records, "
                f"e.g. {missing[:3]}; the data on this machine differs from the task's"
            )
        return np.array([position[c] for c in case_ids], dtype=np.int64)


LoaderFunction = Callable[..., Dataset]
_LOADERS: dict[str, LoaderFunction] = {}


def register_loader(name: str) -> Callable[[LoaderFunction], LoaderFunction]:
    """Register a dataset loader under ``name`` (the value of ``dataset.loader``)."""

    def decorate(function: LoaderFunction) -> LoaderFunction:
        if name in _LOADERS:
            raise ValueError(f"a dataset loader named {name!r} is already registered")
        _LOADERS[name] = function
        return function

    return decorate


def loader_names() -> list[str]:
    """Names of every registered dataset loader."""
    return sorted(_LOADERS)


def loader_parameters(name: str) -> list[str]:
    """Names of the keyword parameters the loader ``name`` accepts from ``dataset.params``."""
    signature = inspect.signature(_LOADERS[name])
    return [p for p in signature.parameters if p != "data_dir"]


def resolve_data_dir(data_dir: Path | None) -> Path | None:
    """``--data-dir``, else ``$MEDGRADE_DATA``, else None (bundled datasets need none)."""
    if data_dir is not None:
        return Path(data_dir)
    from_environment = os.environ.get("MEDGRADE_DATA")
    return Path(from_environment) if from_environment else None


def load_dataset(name: str, params: Mapping[str, object], data_dir: Path | None) -> Dataset:
    """Load dataset ``name`` with the task's ``params`` from ``data_dir`` (default
    ``$MEDGRADE_DATA``)."""
    try:
        loader = _LOADERS[name]
    except KeyError:
        raise DataError(f"no dataset loader named {name!r}; known: {loader_names()}") from None
    return loader(data_dir=resolve_data_dir(data_dir), **params)


register_no_download(
    "sklearn_breast_cancer", "WDBC ships with scikit-learn: there is nothing to download"
)


@register_loader("sklearn_breast_cancer")
def load_sklearn_breast_cancer(*, data_dir: Path | None) -> Dataset:
    """Wisconsin Diagnostic Breast Cancer (WDBC), as bundled with scikit-learn.

    569 fine-needle-aspirate cases, 30 nuclear features; label 1 = malignant (212 cases).
    scikit-learn codes malignant as 0, so the target is flipped to make malignancy the
    positive class, as clinical papers report it.
    """
    del data_dir  # bundled with scikit-learn: nothing to download
    from sklearn import datasets
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    source = Path(datasets.__file__).parent / "data" / str(bunch.filename)
    n = len(bunch.target)
    return Dataset(
        name="wdbc",
        case_ids=np.array([f"wdbc-{i:04d}" for i in range(n)]),
        features=np.asarray(bunch.data, dtype=np.float64),
        feature_names=tuple(str(name) for name in bunch.feature_names),
        labels=(bunch.target == 0).astype(np.int64),
        source_paths=(source,) if source.is_file() else (),
    )


def save_volume_archive(
    path: Path,
    images: np.ndarray,
    spacings: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    case_ids: list[str] | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write volumes of different shapes as one ``.npz`` readable without pickle.

    Case ``i`` is ``image_{i:05d}`` (and ``label_{i:05d}``), its voxel size in mm row
    ``i`` of ``spacings_mm``; the sandbox harness reads the same layout.  ``extra`` arrays
    (one value per case) are stored under their own names.
    """
    arrays = {f"image_{i:05d}": image for i, image in enumerate(images)} | (extra or {})
    if labels is not None:
        arrays |= {f"label_{i:05d}": label for i, label in enumerate(labels)}
    if case_ids is not None:
        arrays["case_ids"] = np.asarray(case_ids)
    np.savez(path, spacings_mm=np.asarray(spacings, dtype=np.float64), **arrays)
