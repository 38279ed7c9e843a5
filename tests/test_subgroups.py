"""Subgroup fairness through the whole pipeline, on a synthetic cohort with attributes."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from grader.data import Dataset, load_dataset, make_split
from grader.data._loaders import _LOADERS, register_loader
from grader.evaluation import evaluate, prepare_split
from grader.report import write_report
from grader.tasks import load_task

LOADER = "synthetic_cohort_for_tests"


def synthetic_cohort(*, data_dir: Path | None) -> Dataset:
    del data_dir
    rng = np.random.default_rng(7)
    n = 800
    features = rng.normal(size=(n, 3))
    labels = (features[:, 0] + rng.normal(scale=0.8, size=n) > 0.4).astype(np.int64)
    sex = rng.choice(np.array(["female", "male"]), size=n)
    site = np.where(
        np.arange(n) < 40, "tiny-clinic", rng.choice(np.array(["north", "south"]), size=n)
    )
    return Dataset(
        name="synthetic-cohort",
        case_ids=np.array([f"c{i:04d}" for i in range(n)]),
        features=features,
        feature_names=("a", "b", "c"),
        labels=labels,
        attributes={"sex": sex, "site": site},
    )


if LOADER not in _LOADERS:
    register_loader(LOADER)(synthetic_cohort)


@pytest.fixture(scope="module")
def cohort_task(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tasks") / "synthetic-cohort"
    reference = folder / "reference"
    reference.mkdir(parents=True)
    (reference / "predict.py").write_text(
        textwrap.dedent(
            """
            import numpy as np

            def load_model(artifacts_dir):
                return None

            def predict(model, inputs):
                return 1 / (1 + np.exp(-2 * inputs[:, 0]))
            """
        )
    )
    rubric = {
        "name": "cohort",
        "title": "Cohort",
        "criteria": [
            {
                "kind": "automatic",
                "id": "auc",
                "title": "AUC",
                "points": 10,
                "metric": "roc_auc",
                "scale": {"type": "linear", "floor": 0.5, "target": 0.8},
            },
        ],
    }
    (folder / "rubric.yaml").write_text(yaml.safe_dump(rubric))
    spec = {
        "id": "synthetic-cohort",
        "version": "1",
        "title": "Synthetic cohort",
        "description": "For tests.",
        "dataset": {"loader": LOADER, "licence": "none", "citation": "synthetic"},
        "split": {
            "strategy": "stratified",
            "seed": 1,
            "fractions": {"train": 0.5, "validation": 0.25, "test": 0.25},
        },
        "inputs": {"kind": "table", "description": "three features"},
        "output": {"kind": "binary_probability"},
        "metrics": [{"name": "roc_auc"}],
        "subgroups": ["sex", "site"],
        "subgroup_metrics": ["roc_auc", "sensitivity"],
        "limits": {"cpu_time_s": 30, "memory_mb": 1024},
        "rubric": "rubric.yaml",
        "reference": {"path": "reference", "train_command": "none"},
    }
    (folder / "task.yaml").write_text(yaml.safe_dump(spec))
    task = load_task(folder)
    make_split(load_dataset(LOADER, {}, None), task.spec.split).write(task.manifest_path)
    return task


def test_subgroup_metrics_reach_the_evaluation_and_the_report(cohort_task, backend, tmp_path):
    prepared = prepare_split(cohort_task, "test", data_dir=None, workdir=tmp_path / "inputs")
    assert set(prepared.attributes) == {"sex", "site"}
    assert not any(
        name in (prepared.input_dir / "manifest.json").read_text()
        for name in ("female", "tiny-clinic")
    )
    evaluation = evaluate(
        cohort_task.reference_dir(), student_id="ref", prepared=prepared, backend=backend
    )
    assert evaluation.status == "graded", evaluation.failure
    reports = {(r.attribute, r.metric): r for r in evaluation.subgroups}
    assert set(reports) == {
        ("sex", "roc_auc"),
        ("sex", "sensitivity"),
        ("site", "roc_auc"),
        ("site", "sensitivity"),
    }
    by_sex = reports[("sex", "roc_auc")]
    assert [g.label for g in by_sex.groups] == ["female", "male"]
    assert all(g.estimable for g in by_sex.groups)
    assert by_sex.max_minus_min.defined and by_sex.max_minus_min.ci_low is not None
    tiny = next(g for g in reports[("site", "roc_auc")].groups if g.label == "tiny-clinic")
    assert not tiny.estimable and np.isnan(tiny.result.value)
    assert "< min_group_size 20" in tiny.result.reason
    document = evaluation.to_dict()
    assert len(document["subgroups"]) == 4

    html = write_report(
        evaluation, cohort_task, tmp_path / "reports", n_cases=prepared.n_cases
    ).read_text()
    assert "ROC AUC by sex" in html and "Sensitivity by site" in html
    assert "not estimable" in html
    assert len(re.findall(r'class="chart chart-subgroup', html)) == 4
