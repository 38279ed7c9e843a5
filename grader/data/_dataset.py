"""What a dataset loader returns (:class:`Dataset`) and where it reads from.

The loaders themselves register in :mod:`grader.data._loaders`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

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


def resolve_data_dir(data_dir: Path | None) -> Path | None:
    """``--data-dir``, else ``$MEDGRADE_DATA``, else None (bundled datasets need none)."""
    if data_dir is not None:
        return Path(data_dir)
    from_environment = os.environ.get("MEDGRADE_DATA")
    return Path(from_environment) if from_environment else None


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
