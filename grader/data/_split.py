"""Deterministic train/validation/test splits, recorded as a manifest of case ids.

The manifest in the task folder is the source of truth for grading: the grader reads the
held-out case ids from it, so a library upgrade that changes shuffling can never move a
case between splits silently.  ``medgrade task validate`` recomputes the split from the
spec and fails if it no longer matches the manifest.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from grader.errors import DataError

if TYPE_CHECKING:
    from grader.data._dataset import Dataset
    from grader.tasks.spec import SplitSpec

SPLIT_NAMES = ("train", "validation", "test")


def _ids_sha256(case_ids: list[str]) -> str:
    return hashlib.sha256("\n".join(case_ids).encode()).hexdigest()


@dataclass(frozen=True)
class SplitManifest:
    """The case ids of each split, in dataset order, with a sha256 of each list."""

    case_ids: dict[str, list[str]]

    def sha256(self, split: str) -> str:
        return _ids_sha256(self.case_ids[split])

    def to_json(self) -> str:
        document = {
            "format": 1,
            "splits": {
                name: {"n": len(ids), "sha256": self.sha256(name), "case_ids": ids}
                for name, ids in self.case_ids.items()
            },
        }
        return json.dumps(document, indent=1) + "\n"

    def write(self, path: Path) -> None:
        """Write the manifest; a ``.gz`` name compresses it (a split of 100k beats)."""
        data = self.to_json().encode()
        if path.suffix == ".gz":
            data = gzip.compress(data, mtime=0)  # no timestamp: the same split, the same bytes
        path.write_bytes(data)

    @classmethod
    def read(cls, path: Path) -> SplitManifest:
        try:
            data = path.read_bytes()
            document = json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)
            splits = document["splits"]
            case_ids = {name: list(splits[name]["case_ids"]) for name in SPLIT_NAMES}
        except FileNotFoundError:
            raise DataError(
                f"{path}: the split manifest is missing; record it with "
                "'medgrade task split TASK --write'"
            ) from None
        except (ValueError, KeyError, TypeError, gzip.BadGzipFile, EOFError) as error:
            raise DataError(f"{path}: not a valid split manifest ({error!r})") from None
        for name in SPLIT_NAMES:
            recorded = splits[name].get("sha256")
            if recorded != _ids_sha256(case_ids[name]):
                raise DataError(
                    f"{path}: the {name} case ids do not match their recorded sha256; "
                    "the manifest was edited by hand"
                )
        manifest = cls(case_ids)
        manifest.check_disjoint(path)
        return manifest

    def check_disjoint(self, where: Path | str) -> None:
        seen: dict[str, str] = {}
        for name in SPLIT_NAMES:
            for case_id in self.case_ids[name]:
                if case_id in seen:
                    raise DataError(
                        f"{where}: case {case_id!r} is in both {seen[case_id]} and {name}"
                    )
                seen[case_id] = name


def make_split(dataset: Dataset, spec: SplitSpec) -> SplitManifest:
    """Compute the split ``spec`` describes on ``dataset``; the same inputs give the same split."""
    n = len(dataset.case_ids)
    if spec.strategy == "official":
        if dataset.official_split is None:
            raise DataError(f"dataset {dataset.name!r} has no official split")
        assignment = np.asarray(dataset.official_split).astype(str)
    elif spec.strategy == "scaffold":
        assignment = _largest_groups_first(dataset, spec, n)
    else:
        assignment = _random_assignment(dataset, spec, n)
    manifest = SplitManifest(
        {name: dataset.case_ids[assignment == name].astype(str).tolist() for name in SPLIT_NAMES}
    )
    if spec.group_key is not None:
        _check_groups_not_shared(dataset, dataset.attribute(spec.group_key), assignment)
    for name in SPLIT_NAMES:
        if not manifest.case_ids[name]:
            raise DataError(f"the {name} split of dataset {dataset.name!r} is empty")
    return manifest


def _random_assignment(dataset: Dataset, spec: SplitSpec, n: int) -> np.ndarray:
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold, train_test_split

    fractions = spec.fractions
    indices = np.arange(n)
    assignment = np.full(n, "train", dtype=object)
    labels = dataset.labels if spec.stratify else None
    if spec.strategy == "stratified":
        rest, test = train_test_split(
            indices, test_size=fractions.test, stratify=labels, random_state=spec.seed
        )
        validation_share = fractions.validation / (fractions.train + fractions.validation)
        _, validation = train_test_split(
            rest,
            test_size=validation_share,
            stratify=None if labels is None else labels[rest],
            random_state=spec.seed,
        )
    else:  # grouped: no group (e.g. patient) spans two splits
        assert spec.group_key is not None
        groups = dataset.attribute(spec.group_key)
        if spec.stratify:
            # StratifiedGroupKFold with k = 1/test_fraction folds gives a test fold of the
            # right size that keeps label balance as well as whole groups allow.
            folds = max(2, round(1 / fractions.test))
            splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=spec.seed)
            rest, test = next(splitter.split(indices, dataset.labels, groups))
        else:
            splitter = GroupShuffleSplit(
                n_splits=1, test_size=fractions.test, random_state=spec.seed
            )
            rest, test = next(splitter.split(indices, groups=groups))
        validation_share = fractions.validation / (fractions.train + fractions.validation)
        inner = GroupShuffleSplit(n_splits=1, test_size=validation_share, random_state=spec.seed)
        _, validation_positions = next(inner.split(rest, groups=groups[rest]))
        validation = rest[validation_positions]
    assignment[test] = "test"
    assignment[validation] = "validation"
    return assignment.astype(str)


def _largest_groups_first(dataset: Dataset, spec: SplitSpec, n: int) -> np.ndarray:
    """The scaffold split of MoleculeNet (DeepChem's ScaffoldSplitter, as Hu et al. 2020 use
    it): the groups sorted by size, then by first case, both descending; each whole group goes
    to train while train stays within its share, else to validation while train and
    validation stay within theirs, else to test.  Deterministic: no seed, no shuffle."""
    assert spec.group_key is not None and spec.fractions is not None
    members: dict[object, list[int]] = {}
    for index, group in enumerate(dataset.attribute(spec.group_key).tolist()):
        members.setdefault(group, []).append(index)
    ordered = sorted(members.values(), key=lambda rows: (len(rows), rows[0]), reverse=True)
    train_cutoff = spec.fractions.train * n
    validation_cutoff = (spec.fractions.train + spec.fractions.validation) * n
    assignment = np.full(n, "test", dtype=object)
    n_train = n_validation = 0
    for rows in ordered:
        if n_train + len(rows) <= train_cutoff:
            assignment[rows], n_train = "train", n_train + len(rows)
        elif n_train + n_validation + len(rows) <= validation_cutoff:
            assignment[rows], n_validation = "validation", n_validation + len(rows)
    return assignment.astype(str)


def _check_groups_not_shared(dataset: Dataset, groups: np.ndarray, assignment: np.ndarray) -> None:
    owner: dict[object, str] = {}
    for group, split in zip(groups.tolist(), assignment.tolist(), strict=True):
        if owner.setdefault(group, split) != split:
            raise DataError(
                f"group {group!r} of dataset {dataset.name!r} appears in both "
                f"{owner[group]} and {split}"
            )
