"""Splits are deterministic, recorded, disjoint and stratified; drift is detected."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grader.data import Dataset, SplitManifest, load_dataset, make_split
from grader.errors import DataError
from grader.tasks.spec import SplitSpec


def test_the_recorded_manifest_equals_the_split_recomputed_from_the_spec(task):
    dataset = load_dataset(task.spec.dataset.loader, task.spec.dataset.params, None)
    recomputed = make_split(dataset, task.spec.split)
    recorded = task.split_manifest()
    assert recomputed.case_ids == recorded.case_ids
    assert {k: len(v) for k, v in recorded.case_ids.items()} == {
        "train": 341,
        "validation": 114,
        "test": 114,
    }


def test_splits_are_disjoint_cover_every_case_and_keep_the_prevalence(task):
    dataset = load_dataset(task.spec.dataset.loader, task.spec.dataset.params, None)
    manifest = task.split_manifest()
    all_ids = [case for ids in manifest.case_ids.values() for case in ids]
    assert len(all_ids) == len(set(all_ids)) == len(dataset.case_ids)
    overall = dataset.labels.mean()
    for ids in manifest.case_ids.values():
        assert abs(dataset.labels[dataset.rows(ids)].mean() - overall) < 0.02


def test_a_hand_edited_manifest_is_detected(task, tmp_path):
    document = json.loads(task.manifest_path.read_text())
    test_ids = document["splits"]["test"]["case_ids"]
    test_ids[0], document["splits"]["train"]["case_ids"][0] = (
        document["splits"]["train"]["case_ids"][0],
        test_ids[0],
    )
    edited = tmp_path / "split.json"
    edited.write_text(json.dumps(document))
    with pytest.raises(DataError, match="do not match their recorded sha256"):
        SplitManifest.read(edited)


def test_a_missing_manifest_says_how_to_record_it(tmp_path):
    with pytest.raises(DataError, match="medgrade task split TASK --write"):
        SplitManifest.read(tmp_path / "split.json")


def synthetic(n: int = 400, patients: int = 100) -> Dataset:
    rng = np.random.default_rng(1)
    groups = rng.integers(0, patients, size=n)
    return Dataset(
        name="synthetic",
        case_ids=np.array([f"c{i}" for i in range(n)]),
        features=rng.normal(size=(n, 3)),
        feature_names=("a", "b", "c"),
        labels=(rng.random(n) < 0.3).astype(np.int64),
        attributes={"patient": groups},
    )


@pytest.mark.parametrize("stratify", [True, False])
def test_a_grouped_split_never_puts_one_patient_in_two_splits(stratify):
    dataset = synthetic()
    spec = SplitSpec(
        strategy="grouped",
        seed=3,
        group_key="patient",
        stratify=stratify,
        fractions={"train": 0.6, "validation": 0.2, "test": 0.2},
    )
    manifest = make_split(dataset, spec)
    owner = {}
    for split, ids in manifest.case_ids.items():
        for group in dataset.attribute("patient")[dataset.rows(ids)]:
            assert owner.setdefault(group, split) == split
    assert make_split(dataset, spec).case_ids == manifest.case_ids


def test_a_different_seed_gives_a_different_split(task):
    dataset = load_dataset(task.spec.dataset.loader, task.spec.dataset.params, None)
    other = task.spec.split.model_copy(update={"seed": task.spec.split.seed + 1})
    assert make_split(dataset, other).case_ids["test"] != task.split_manifest().case_ids["test"]


def test_a_gz_manifest_is_compressed_reproducible_and_reads_back(task, tmp_path):
    manifest = task.split_manifest()
    first, second = tmp_path / "a.json.gz", tmp_path / "b.json.gz"
    manifest.write(first)
    manifest.write(second)
    assert first.read_bytes() == second.read_bytes()  # no timestamp inside
    assert first.stat().st_size < len(manifest.to_json()) / 3
    assert SplitManifest.read(first).case_ids == manifest.case_ids
    (tmp_path / "broken.json.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a valid split manifest"):
        SplitManifest.read(tmp_path / "broken.json.gz")
